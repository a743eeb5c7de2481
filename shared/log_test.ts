import assert from "node:assert/strict";
import { hashUid, Logger, redactUids } from "./log.ts";

Deno.test("redactUids: instance UIDs in text become their hashUid; standard UIDs, addresses, versions stay", () => {
  const study = "2.25.249627026967095873713545047601579855932";
  const series = "1.2.826.0.1.3680043.8.498.1";
  const sop = "1.3.6.1.4.1.5962.99.1.2.3.4";
  const path = `ENOENT: no such file or directory, open '/data/archive/${study}/${series}/${sop}.dcm'`;
  assert.equal(
    redactUids(path),
    `ENOENT: no such file or directory, open '/data/archive/${hashUid(study)}/${hashUid(series)}/${
      hashUid(sop)
    }.dcm'`,
  );
  for (
    const kept of [
      "cannot transcode 1.2.840.10008.1.2.4.50 to 1.2.840.10008.1.2.4.80",
      "connected to 127.0.0.1:4242 and 192.168.100.200",
      "version 0.1.0 of deno 2.9.6",
      "took 12.5 ms, 3.14159",
    ]
  ) assert.equal(redactUids(kept), kept);
});

Deno.test("Logger: UIDs in messages, string fields and errors are hashed", () => {
  const lines: string[] = [];
  const log = new Logger({}, "debug", { write: (l) => lines.push(l) });
  const uid = "2.25.123456789012345678901234567890";
  log.warn(`failed for ${uid}`, { reason: `open '/a/${uid}.dcm'`, err: new Error(`bad ${uid}`), n: 5 });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes(uid), lines[0]);
  const parsed = JSON.parse(lines[0]);
  assert.equal(parsed.msg, `failed for ${hashUid(uid)}`);
  assert.equal(parsed.reason, `open '/a/${hashUid(uid)}.dcm'`);
  assert.equal(parsed.err.message, `bad ${hashUid(uid)}`);
  assert.equal(parsed.n, 5);
});

Deno.test("Logger: a function field is called only when a line is written", () => {
  const lines: string[] = [];
  let calls = 0;
  const uid = "2.25.123456789012345678901234567890";
  const log = new Logger({}, "info", { write: (l) => lines.push(l) }).child({
    sop: () => {
      calls++;
      return hashUid(uid);
    },
  });
  log.debug("not written");
  assert.equal(calls, 0);
  log.warn("written");
  assert.equal(calls, 1);
  assert.equal(JSON.parse(lines[0]).sop, hashUid(uid));
});

Deno.test("Logger: a field named t, level or msg does not replace the line's own", () => {
  const lines: string[] = [];
  const log = new Logger({ msg: "from a child" }, "debug", { write: (l) => lines.push(l) });
  log.info("erased", { level: "study", t: "yesterday", n: 1 });
  const parsed = JSON.parse(lines[0]);
  assert.equal(parsed.level, "info");
  assert.equal(parsed.msg, "erased");
  assert.match(parsed.t, /^\d{4}-\d\d-\d\dT/);
  assert.equal(parsed.n, 1);
  assert.deepEqual(Object.keys(parsed).slice(0, 3), ["t", "level", "msg"]);
});

Deno.test("Logger: an error's failed query keeps its statement, not its parameters", () => {
  const lines: string[] = [];
  const log = new Logger({}, "debug", { write: (l) => lines.push(l) });
  const failed = new Error(
    'Failed query: insert into "audit" ("detail") values ($1)\nparams: DOE^JANE,PAT0001',
  );
  log.error("DICOMweb request failed", { err: failed });
  const err = JSON.parse(lines[0]).err;
  assert.equal(err.message, 'Failed query: insert into "audit" ("detail") values ($1)');
  assert.doesNotMatch(lines[0], /DOE|PAT0001/);
});

Deno.test("Logger: a failed query's parameters are dropped from a text field too (reason: err.message)", () => {
  const lines: string[] = [];
  const log = new Logger({}, "debug", { write: (l) => lines.push(l) });
  const failed = new Error(
    'Failed query: insert into "batch_rows" ("patient_id", "patient_name") values ($1, $2)\nparams: PAT0001,DOE^JANE',
  );
  log.error("unhandled rejection", { reason: failed.message });
  assert.equal(
    JSON.parse(lines[0]).reason,
    'Failed query: insert into "batch_rows" ("patient_id", "patient_name") values ($1, $2)',
  );
  assert.doesNotMatch(lines[0], /DOE|PAT0001/);
});

Deno.test("Logger.setLevel reaches the children made before and after, not a logger made withLevel", () => {
  const lines: string[] = [];
  const root = new Logger({}, "info", { write: (l) => lines.push(l) });
  const before = root.child({ part: "a" });
  const apart = root.withLevel("info");
  root.setLevel("debug");
  const after = root.child({ part: "b" });
  before.debug("one");
  after.debug("two");
  apart.debug("not written");
  assert.deepEqual(lines.map((l) => JSON.parse(l).msg), ["one", "two"]);
  after.setLevel("warn");
  root.info("not written either");
  assert.equal(lines.length, 2);
});

/**
 * `POST /erase` and `POST /conflicts/:id/resolve` through the agent's own HTTP app, over a real archive,
 * intake and libsql file: a body too large is refused before it is read and erases nothing, a bad UID is
 * quoted short, and requests for the same objects at once each get an answer that says what happened.
 */
import assert from "node:assert/strict";
import { generateInstance } from "@conduit/shared/testing";
import { cStoreOf, otherBytes, storeAsWire } from "../ingest/testing.ts";
import { ConflictResolver } from "../ingest/resolve.ts";
import { quiet, storedStudy } from "../erase/testing.ts";
import { conflictsRoutes } from "./conflicts.ts";
import { eraseRoutes } from "./erase.ts";
import { httpApp, MAX_BODY_BYTES } from "./server.ts";

async function agentApi(seed: string) {
  const s = await storedStudy(seed, "keepBoth");
  const resolver = new ConflictResolver({ db: s.db, archive: s.archive, ingest: s.ingest, log: quiet });
  const app = httpApp({
    version: "test",
    startedAt: Date.now(),
    archiveSize: () => Promise.resolve(0),
    databaseOk: () => Promise.resolve(true),
    metrics: () => Promise.resolve(""),
    contentType: "text/plain",
    conflicts: conflictsRoutes(s.db, resolver),
    erase: eraseRoutes(s.eraser),
  });
  const post = (path: string, body: string) =>
    app.request(path, { method: "POST", body, headers: { "content-type": "application/json" } });
  return { ...s, app, post };
}

Deno.test("POST /erase: a body over MAX_BODY_BYTES is 413 and erases nothing; a long bad UID is quoted short", async () => {
  const s = await agentApi("erase-http-big");
  try {
    const study = s.specs[0].studyInstanceUid;
    const padded = JSON.stringify({ study, pad: "x".repeat(MAX_BODY_BYTES) });
    const big = await s.post("/erase", padded);
    assert.equal(big.status, 413);
    assert.match((await big.json()).error, /larger than 4194304 bytes: nothing was done/);
    assert.equal(s.count("instances"), 5);
    assert.equal(s.files().length, 5);

    const long = await s.post("/erase", JSON.stringify({ study: "A".repeat(1_000_000) }));
    assert.equal(long.status, 400);
    const { error } = await long.json();
    assert.ok(error.length < 200, `${error.length} characters`);
    assert.match(error, /^study is a UID .*, not "AAAA.*… \(1000002 characters\)$/);
    assert.equal(s.count("instances"), 5);
  } finally {
    await s.tearDown();
  }
});

Deno.test("POST /erase twice at once for one study: one erases it, the other is 404, nothing stays", async () => {
  const s = await agentApi("erase-http-twice");
  try {
    const body = JSON.stringify({ study: s.specs[0].studyInstanceUid });
    const answers = await Promise.all([s.post("/erase", body), s.post("/erase", body)]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 404]);
    const erased = await answers.find((a) => a.status === 200)!.json();
    assert.equal(erased.instances, 5);
    assert.equal(s.count("instances"), 0);
    assert.equal(s.files().length, 0);
  } finally {
    await s.tearDown();
  }
});

Deno.test("POST /erase and /conflicts/:id/resolve at once for one instance: each answers, nothing of it stays", async () => {
  const s = await agentApi("erase-http-resolve");
  try {
    const spec = s.specs[0];
    const { dataset, ctx } = await cStoreOf(generateInstance(spec));
    assert.equal((await storeAsWire(s.ingest, ctx, otherBytes(dataset))).outcome.status, 0);
    const { id } = s.db.statement("SELECT id FROM conflicts").get() as { id: number };
    const [erase, resolve] = await Promise.all([
      s.post(
        "/erase",
        JSON.stringify({
          study: spec.studyInstanceUid,
          series: spec.seriesInstanceUid,
          instance: spec.sopInstanceUid,
        }),
      ),
      s.post(`/conflicts/${id}/resolve`, JSON.stringify({ keep: "received" })),
    ]);
    assert.equal(erase.status, 200, await erase.clone().text());
    // Resolved before the erasure (200), or found erased with its conflict (404): never a 500.
    assert.ok([200, 404].includes(resolve.status), `${resolve.status} ${await resolve.text()}`);
    assert.equal(s.count("instances WHERE sop_instance_uid = ?", spec.sopInstanceUid), 0);
    assert.equal(s.count("conflicts"), 0);
    assert.ok(!s.files().some((f) => f.includes(spec.sopInstanceUid)));
    assert.equal(s.files().length, 4);
  } finally {
    await s.tearDown();
  }
});

Deno.test("httpApp(): a web page's request (Origin, Sec-Fetch-Site, a rebound Host name) is 403 and erases nothing", async () => {
  const s = await agentApi("erase-http-browser");
  try {
    const body = JSON.stringify({ study: s.specs[0].studyInstanceUid });
    // What a page of another site can send without a CORS preflight: a text/plain POST.
    const simple = (headers: Record<string, string>, url = "http://127.0.0.1:8181/erase") =>
      s.app.request(url, { method: "POST", body, headers: { "content-type": "text/plain", ...headers } });
    const refused = [
      await simple({ origin: "https://evil.example" }),
      await simple({ origin: "null" }),
      await simple({ "sec-fetch-site": "cross-site" }),
      await simple({}, "http://rebound.evil.example:8181/erase"),
      await s.app.request("http://rebound.evil.example:8181/conflicts"),
    ];
    for (const r of refused) {
      assert.equal(r.status, 403);
      assert.match(
        (await r.json()).error,
        /agent's HTTP API (takes no requests from web pages|answers only under)/,
      );
    }
    assert.equal(s.count("instances"), 5);
    assert.equal(s.files().length, 5);
    // The CLI's and curl's calls (no Origin, an address or localhost) go on; a typed address (none) too.
    assert.equal((await s.app.request("http://localhost:8181/conflicts")).status, 200);
    assert.equal(
      (await s.app.request("http://[::1]:8181/healthz", { headers: { "sec-fetch-site": "none" } })).status,
      200,
    );
    const erased = await s.post("http://127.0.0.1:8181/erase", body);
    assert.equal(erased.status, 200, await erased.clone().text());
    assert.equal(s.count("instances"), 0);
  } finally {
    await s.tearDown();
  }
});

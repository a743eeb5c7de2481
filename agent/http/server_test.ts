import assert from "node:assert/strict";
import { hashUid, Logger } from "@conduit/shared/log";
import { httpApp } from "./server.ts";

Deno.test("httpApp(): a request that fails is a JSON 500 and a log line, its UIDs hashed", async () => {
  const lines: string[] = [];
  const uid = "2.25.123456789012345678901234567890";
  const app = httpApp({
    version: "test",
    startedAt: Date.now(),
    archiveSize: () => Promise.resolve(0),
    databaseOk: () => Promise.resolve(true),
    metrics: () => Promise.reject(new Error(`cannot open /data/archive/${uid}.dcm`)),
    contentType: "text/plain",
    log: new Logger({ part: "http" }, "info", { write: (l) => lines.push(l) }),
  });
  const res = await app.request("/metrics");
  assert.equal(res.status, 500);
  const body = await res.json();
  assert.equal(body.error, "internal error");
  // The answer is as careful as the log: the UID hashed, the rest of the sentence kept, the log line named.
  assert.ok(!JSON.stringify(body).includes(uid), body.message);
  assert.equal(
    body.message,
    `cannot open /data/archive/${hashUid(uid)}.dcm (UIDs hashed; the agent's log has the line ` +
      `'HTTP API request failed' for GET /metrics)`,
  );
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]);
  assert.equal(line.level, "error");
  assert.equal(line.msg, "HTTP API request failed");
  assert.equal(line.path, "/metrics");
  assert.equal(line.err.message, `cannot open /data/archive/${hashUid(uid)}.dcm`);
  assert.ok(!lines[0].includes(uid));
});

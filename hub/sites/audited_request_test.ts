import assert from "node:assert/strict";
import { Logger } from "@conduit/shared/log";
import { SessionClosedError } from "@conduit/shared/tunnel";
import { openHubDb } from "../db/db.ts";
import { recent } from "../auth/audit.ts";
import { SiteRequestError, SiteUnavailableError } from "../tunnel/errors.ts";
import { auditedRequest, RequestNotAuditedError } from "./audited_request.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";

const request = { actor: "user:alice", action: "study.erase", target: "north", detail: { study: "abc123" } };

Deno.test("auditedRequest() audits the request before sending it, then its outcome naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-audited-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  const logged: string[] = [];
  const log = new Logger({}, "info", { write: (l) => void logged.push(l) });
  try {
    // Whatever the site does, the request's entry is there before it is asked.
    let seenWhenSent: unknown;
    const result = await auditedRequest(db, log, request, async () => {
      seenWhenSent = (await recent(db)).map((e) => e.detail);
      return { instances: 3 };
    }, (removed) => ({ removed }));
    assert.deepEqual(result, { instances: 3 });
    assert.deepEqual(seenWhenSent, [{ study: "abc123", requested: true }]);
    const [outcome, asked] = await recent(db);
    assert.equal(asked.action, "study.erase");
    assert.equal(outcome.action, "study.erase");
    assert.equal(outcome.target, "north");
    assert.deepEqual(outcome.detail, { study: "abc123", request: asked.id, removed: { instances: 3 } });

    // The site refused (its answer), was not connected (never sent), or the answer was lost (unknown).
    const failures: [Error, Record<string, string>][] = [
      [new SiteRequestError("not-found", "no study with that UID at this site"), {
        failed: "no study with that UID at this site",
      }],
      [new SiteUnavailableError("site north is not connected"), { failed: "site north is not connected" }],
      [new SessionClosedError(1, "the connection was lost"), { unknown: "the connection was lost" }],
    ];
    for (const [err, words] of failures) {
      await assert.rejects(auditedRequest(db, log, request, () => Promise.reject(err), () => ({})), err);
      const [o, a] = await recent(db, 2);
      assert.deepEqual(a.detail, { study: "abc123", requested: true });
      assert.deepEqual(o.detail, { study: "abc123", request: a.id, ...words }, err.name);
    }
  } finally {
    await db.close();
  }

  // A request whose entry cannot be written is not sent.
  let sent = false;
  await assert.rejects(
    auditedRequest(db, log, request, () => Promise.resolve(sent = true), () => ({})),
    RequestNotAuditedError,
  );
  assert.equal(sent, false);
  assert.ok(logged.some((l) => l.includes("not sent")), logged.join("\n"));
});

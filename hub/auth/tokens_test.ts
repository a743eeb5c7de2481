import assert from "node:assert/strict";
import { openHubDb } from "../db/db.ts";
import { audit } from "../db/schema.ts";
import { ApiTokens } from "./tokens.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";

/**
 * Two revokes of one token at once (two admins, a script retried): until 2026-12-07 each read the token
 * unrevoked, then both wrote, so both succeeded and the audit log had two `token.revoke` entries for one.
 */
Deno.test("ApiTokens.revoke() twice at once: one revokes and is audited, the other is refused", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-tokens-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    const tokens = new ApiTokens(db);
    const { id, token } = await tokens.create("script", "viewer");
    const results = await Promise.allSettled([tokens.revoke(id, "alice"), tokens.revoke(id, "bob")]);
    assert.deepEqual(results.map((r) => r.status).sort(), ["fulfilled", "rejected"]);
    const refused = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert.match(String(refused.reason), /revoked already/);
    const revokes = (await db.select().from(audit)).filter((e) => e.action === "token.revoke");
    assert.equal(revokes.length, 1, "one audit entry");
    assert.equal(await tokens.authenticate(token), undefined, "the token no longer works");
    await assert.rejects(() => tokens.revoke("000000000000"), /no token 000000000000/);
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

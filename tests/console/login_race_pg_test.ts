/**
 * The login throttle on a hub whose database is PostgreSQL, where a login's queries truly wait on the network:
 * 30 wrong passwords sent at once must not all be checked before the first failure is counted.
 */
import assert from "node:assert/strict";
import { startTestHub } from "../support/hub.ts";
import { checkedAtMostFive, loginsAtOnce } from "../support/logins.ts";
import { postgresTest } from "../support/postgres.ts";

postgresTest("on PostgreSQL, failed logins sent all at once check at most 5 passwords", async (db) => {
  const hub = await startTestHub({ db });
  try {
    await hub.users.add("carol", "operator", "carol password 1");
    checkedAtMostFive(await loginsAtOnce(hub, "carol"));
    const entries = await (await import("../../hub/auth/audit.ts")).recent(hub.db, 1000);
    const failed = entries.filter((e) => e.action === "login.failed").length;
    assert.ok(failed <= 5, `${failed} failed logins audited`);
  } finally {
    await hub.stop();
  }
});

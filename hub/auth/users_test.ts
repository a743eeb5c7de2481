import assert from "node:assert/strict";
import { openHubDb } from "../db/db.ts";
import { Users } from "./users.ts";
import { recent } from "./audit.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";

const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * A failed login takes as long whether the user exists, is disabled or does not exist: until 2026-12-04
 * only an existing, enabled user's password was hashed (some 45 ms), and a name nobody has was refused in
 * 2 ms, so anyone could tell the console's user names (and which are disabled) from the time of a refusal.
 */
Deno.test("Users.login() refuses an unknown or disabled user as slowly as a wrong password", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-users-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    const users = new Users(db);
    await users.add("alice", "viewer", "alice password 1");
    await users.add("bob", "viewer", "bob password 12");
    await users.setDisabled("bob", true);
    const time = async (name: string, i: number) => {
      const t0 = performance.now();
      await assert.rejects(users.login(name, "wrong password", `10.0.${i}.1`), /wrong user name or password/);
      return performance.now() - t0;
    };
    const known: number[] = [], disabled: number[] = [], unknown: number[] = [];
    for (let i = 0; i < 5; i++) {
      known.push(await time("alice", i));
      disabled.push(await time("bob", i));
      unknown.push(await time(`nobody${i}`, i));
    }
    for (const [what, times] of [["an unknown user", unknown], ["a disabled user", disabled]] as const) {
      assert.ok(
        median(times) > median(known) / 3,
        `${what} refused in ${median(times).toFixed(1)} ms, a wrong password in ${
          median(known).toFixed(1)
        } ms`,
      );
    }
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Two admins taking each other's role at once (two consoles, or a console and the CLI): until 2026-12-05
 * the check that another admin is left was a read before the write, so both reads saw two admins, both
 * changes went through and no one was left to manage users. Now exactly one goes through, each round.
 */
Deno.test("Users: two admins demoting or disabling each other at once leave one enabled admin", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-users-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    const users = new Users(db);
    const moves = [
      (u: string, by: string) => users.setRole(u, "operator", `user:${by}`),
      (u: string, by: string) => users.setDisabled(u, true, `user:${by}`),
    ];
    for (let round = 0; round < 6; round++) {
      const [a, b] = [`a${round}`, `b${round}`];
      await users.add(a, "admin", "admin password 1");
      await users.add(b, "admin", "admin password 2");
      for (const u of (await users.list()).filter((u) => u.name !== a && u.name !== b)) {
        if (u.role === "admin" && !u.disabled) await users.setRole(u.name, "viewer");
      }
      const before = (await recent(db, 1000)).length;
      const outcomes = await Promise.allSettled([moves[round % 2](b, a), moves[(round >> 1) % 2](a, b)]);
      const refused = outcomes.filter((o) => o.status === "rejected");
      assert.equal(refused.length, 1, `round ${round}: ${JSON.stringify(outcomes.map((o) => o.status))}`);
      assert.match(String((refused[0] as PromiseRejectedResult).reason), /is the last enabled admin/);
      const admins = (await users.list()).filter((u) => u.role === "admin" && !u.disabled);
      assert.equal(admins.length, 1, `round ${round}: one enabled admin left`);
      assert.equal((await recent(db, 1000)).length - before, 1, "only the change made is audited");
    }
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

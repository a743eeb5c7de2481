import assert from "node:assert/strict";
import { openHubDb } from "../db/db.ts";
import { Users } from "./users.ts";
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

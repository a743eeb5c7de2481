/**
 * A user changes their own password (`account.changePassword`) over the console's session, against a real
 * hub: the current password is checked first (wrong: refused, audited, and 5 wrong within a minute lock
 * the change from that session), the new one follows the password rule, the change keeps the session it
 * came from and ends the user's others, the old password then fails to log in, and it is audited without
 * a password. An API token has no password to change. Until 2026-12-05 only an admin could set one.
 */
import assert from "node:assert/strict";
import { startTestHub } from "../support/hub.ts";
import { recent } from "../../hub/auth/audit.ts";

Deno.test({
  name: "account.changePassword: the current password, then a new one; keeps this session, ends the others",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const base = `http://127.0.0.1:${hub.port}`;
      await hub.users.add("olga", "viewer", "olga password 1");
      const login = async (password: string) => {
        const res = await fetch(`${base}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ user: "olga", password }),
        });
        if (res.status !== 200) {
          return (await res.body?.cancel(), { status: res.status, cookie: "", csrf: "" });
        }
        const { csrf } = await res.json();
        return { status: 200, cookie: res.headers.get("set-cookie")!.split(";")[0], csrf };
      };
      const change = async (
        who: { cookie?: string; csrf?: string; token?: string },
        input: { current: string; password: string },
      ) => {
        const res = await fetch(`${base}/trpc/account.changePassword`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(who.cookie ? { cookie: who.cookie, "x-csrf-token": who.csrf! } : {}),
            ...(who.token ? { authorization: `Bearer ${who.token}` } : {}),
          },
          body: JSON.stringify(input),
        });
        const body = await res.json();
        return { status: res.status, data: body.result?.data, message: body.error?.message as string };
      };
      const me = async (cookie: string) => {
        const res = await fetch(`${base}/auth/me`, { headers: { cookie } });
        await res.body?.cancel();
        return res.status;
      };
      const here = await login("olga password 1");
      const elsewhere = await login("olga password 1");
      assert.equal(elsewhere.status, 200);

      const wrong = await change(here, { current: "not it", password: "a new password 1" });
      assert.deepEqual([wrong.status, wrong.message], [
        400,
        "the current password is wrong: nothing was changed",
      ]);
      const short = await change(here, { current: "olga password 1", password: "short" });
      assert.deepEqual([short.status, short.message], [400, "use a password of at least 10 characters"]);
      const same = await change(here, { current: "olga password 1", password: "olga password 1" });
      assert.equal(same.message, "choose a new password other than the current one");
      assert.equal(await me(elsewhere.cookie), 200, "nothing changed yet");

      const done = await change(here, { current: "olga password 1", password: "a new password 1" });
      assert.equal(done.status, 200, done.message);
      assert.deepEqual(done.data, { user: "olga", sessionsEnded: 1 });
      assert.equal(await me(here.cookie), 200, "the session it came from goes on");
      assert.equal(await me(elsewhere.cookie), 401, "the user's other session is over");
      assert.equal((await login("olga password 1")).status, 401, "the old password is refused");
      assert.equal((await login("a new password 1")).status, 200);

      // Audited, the change with how many sessions it ended, the wrong current password too; no password.
      const entries = (await recent(hub.db, 100)).filter((e) => e.action.startsWith("user.password"));
      assert.deepEqual(entries.map((e) => [e.actor, e.action, e.target, e.detail]).reverse(), [
        ["user:olga", "user.password.change.failed", "olga", null],
        ["user:olga", "user.password.change", "olga", { sessionsEnded: 1 }],
      ]);
      assert.doesNotMatch(JSON.stringify(await recent(hub.db, 100)), /password 1|not it/);

      // A session cannot be used to guess the password: 5 wrong within a minute lock the change there.
      for (let i = 0; i < 5; i++) {
        await change(here, { current: `guess ${i}`, password: "another password 2" });
      }
      const locked = await change(here, { current: "a new password 1", password: "another password 2" });
      assert.equal(locked.status, 400);
      assert.match(locked.message, /^too many wrong current passwords; try again in \d+ s$/);

      // An API token has no password.
      const { token } = await hub.tokens.create("scripts", "admin");
      const byToken = await change({ token }, { current: "x", password: "another password 2" });
      assert.equal(byToken.status, 400);
      assert.match(byToken.message, /an API token has no password/);
      // Without the CSRF token a session's change is refused before anything is checked.
      const noCsrf = await change({ cookie: here.cookie, csrf: "" }, {
        current: "x",
        password: "y".repeat(10),
      });
      assert.equal(noCsrf.status, 403);
    } finally {
      await hub.stop();
    }
  },
});

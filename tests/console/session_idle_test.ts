/**
 * The console's idle timeout, in Chromium (Playwright) against a real hub with a short
 * `console.sessionIdleMinutes`: a dashboard left open, refreshing by itself every 5 s, does not keep its
 * session (the console tells the hub how long ago its user last did something); once the idle time has
 * passed the console shows its login saying the session expired, a reload says so too, and logging in
 * again goes back to the same screen. The sliding itself, by time, is hub/auth/users_test.ts's.
 */
import assert from "node:assert/strict";
import { hasChromium, logIn } from "../support/browser.ts";
import { withConsole } from "../support/console_rig.ts";
import { recent } from "../../hub/auth/audit.ts";

const skip = hasChromium() ? undefined : "chromium not installed";
if (skip) console.warn(`session_idle_test: skipped: ${skip}`);

/** 9 s: longer than the dashboard's 5 s refresh, which kept the session for good before the console said. */
const IDLE_MINUTES = 0.15;

Deno.test({
  name: "console: a session left unused ends after the idle time, and the login says it expired",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({ hub: { sessionIdleMinutes: IDLE_MINUTES } }, async ({ hub, browser }) => {
      const base = `http://127.0.0.1:${hub.port}`;
      await hub.users.add("olga", "operator", "olga password 1");
      const page = await browser.newPage();
      await page.goto(`${base}/sites`);
      await logIn(page, "olga", "olga password 1");
      // Nothing more is done: the screen refreshes by itself until the hub refuses it.
      const notice = page.getByRole("status").filter({ hasText: /expired/ });
      await notice.waitFor({ timeout: 60_000 });
      assert.equal(
        await notice.innerText(),
        "Your session expired: it went unused for too long. Log in again to go on.",
      );
      assert.equal(await page.getByRole("button", { name: "Log out" }).count(), 0, "the login shows");
      // A reload (or a console opened later) says so too.
      await page.reload();
      await notice.waitFor();
      // The hub ended it by disuse, not a logout: no logout entry; the login again goes back to the screen.
      assert.equal((await recent(hub.db, 100)).filter((e) => e.action === "logout").length, 0);
      await logIn(page, "olga", "olga password 1");
      assert.equal(new URL(page.url()).pathname, "/sites");
      assert.equal(await notice.count(), 0);
    });
  },
});

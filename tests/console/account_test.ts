/**
 * The console's Account dialog, in Chromium (Playwright) against a real hub: a user changes their own
 * password (the current one, then the new one twice); a wrong current password or two differing new ones
 * say so and change nothing; a change keeps this console's session and ends the user's other one, and the
 * new password is the one that logs in. The API's own checks are tests/console/account_api_test.ts's.
 */
import assert from "node:assert/strict";
import { assertTiedToError, hasChromium, logIn, shoot } from "../support/browser.ts";
import { withConsole } from "../support/console_rig.ts";

const skip = hasChromium() ? undefined : "chromium not installed";
if (skip) console.warn(`account_test: skipped: ${skip}`);

Deno.test({
  name: "console: a user changes their own password in the Account dialog; their other session ends",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser }) => {
      const base = `http://127.0.0.1:${hub.port}`;
      await hub.users.add("victor", "viewer", "victor password 1");
      // Another session of victor's, elsewhere (a session the change must end).
      const other = await hub.users.login("victor", "victor password 1", "192.0.2.7");
      const page = await browser.newPage();
      await page.goto(`${base}/sites`);
      await logIn(page, "victor", "victor password 1");
      await page.getByRole("button", { name: "Account" }).click();
      const dialog = page.getByRole("dialog", { name: "Account: victor" });
      const form = dialog.getByRole("form", { name: "Change your password" });
      const fill = async (current: string, next: string, again: string) => {
        await form.getByLabel("Current password").fill(current);
        await form.getByLabel("New password (at least 10 characters)").fill(next);
        await form.getByLabel("New password again").fill(again);
        await form.getByRole("button", { name: "Change password" }).click();
      };
      // Each error is tied to its field: marked invalid, described by the alert, and given the focus.
      await fill("victor password 1", "a new password 1", "a new password 2");
      await assertTiedToError(
        form.getByLabel("New password again"),
        /^The two new passwords differ/,
        "again",
      );
      await fill("not my password", "a new password 1", "a new password 1");
      await assertTiedToError(
        form.getByLabel("Current password"),
        /the current password is wrong/,
        "current",
      );
      assert.equal(await form.getByLabel("New password again").getAttribute("aria-invalid"), null);
      assert.ok(await hub.users.session(other.id), "nothing changed yet");

      await fill("victor password 1", "a new password 1", "a new password 1");
      const status = form.getByRole("status");
      await status.waitFor();
      assert.equal(
        await status.innerText(),
        "Password changed; 1 other session of yours ended (this one goes on).",
      );
      assert.equal(await form.getByRole("alert").innerText(), "");
      await shoot(page, "account");
      assert.equal(await hub.users.session(other.id), undefined, "the other session is over");
      await dialog.getByRole("button", { name: "Close" }).click();
      // This console's session goes on: a screen change still reads from the hub.
      await page.getByRole("link", { name: "Transfers" }).click();
      await page.getByRole("heading", { name: "Transfers" }).first().waitFor();
      assert.equal(await page.getByRole("button", { name: "Log in" }).count(), 0);
      // The new password is the one that logs in.
      await page.getByRole("button", { name: "Log out" }).click();
      await page.getByLabel("User", { exact: true }).fill("victor");
      await page.getByLabel("Password", { exact: true }).fill("victor password 1");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("alert").filter({ hasText: "wrong user name or password" }).waitFor();
      await logIn(page, "victor", "a new password 1");
    });
  },
});

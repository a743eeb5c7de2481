/**
 * Every dialog of the console gives the keyboard's focus back to the control that opened it when it closes
 * (Escape, its Close or safe button, or its yes when the opener stays): Account, a new API token, a new
 * site's enrollment token, and the confirmations (a user's role, password and disabling, a token's revoke,
 * a site's revoke and credential rotation, a transfer's cancel, a study's erase). When the answer removes the opener (a token
 * or a site revoked), the focus stays on its row. Chromium (Playwright) against a real hub.
 */
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { hasChromium, logIn } from "../support/browser.ts";
import { withConsole } from "../support/console_rig.ts";
import { eventually } from "../support/hub.ts";
import { skipReason } from "../support/peers.ts";
import { sendGenerated } from "../support/send.ts";

const skip = hasChromium() ? skipReason("storescu") : "chromium not installed";
if (skip) console.warn(`dialog_focus_test: skipped: ${skip}`);

/** What the keyboard's focus is on, to say so in a failure. */
const focusedHtml = (page: Page) =>
  // deno-lint-ignore no-explicit-any
  page.evaluate(() => (globalThis as any).document.activeElement?.outerHTML.slice(0, 120) ?? "nothing");

/**
 * Opens a dialog from `opener` with the keyboard, closes it with `close` (a key, or a button of the dialog
 * by its name), and checks that the focus went into it and came back to `opener`.
 */
async function comesBack(page: Page, opener: Locator, close: { key: string } | { button: string }) {
  const what = `${await opener.getAttribute("aria-label") ?? await opener.innerText()}`;
  await opener.focus();
  await page.keyboard.press("Enter");
  const dialog = page.locator("dialog[open]");
  await dialog.waitFor();
  assert.ok(
    await dialog.evaluate((d) => d.contains(d.ownerDocument.activeElement)),
    `${what}: the focus is in the dialog`,
  );
  if ("key" in close) await page.keyboard.press(close.key);
  else await dialog.getByRole("button", { name: close.button, exact: true }).click();
  await dialog.waitFor({ state: "detached" });
  assert.ok(
    await opener.evaluate((el) => el === el.ownerDocument.activeElement),
    `${what} (closed with ${JSON.stringify(close)}): the focus is back on it, not on ${await focusedHtml(
      page,
    )}`,
  );
}

Deno.test({
  name: "console: every dialog gives the focus back to its opener when it closes",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser, startAgent }) => {
      const north = await startAgent("north", { aet: "NORTH" });
      await eventually("north online", () => hub.sessions.get("north"));
      await sendGenerated(north, "dialogs", "CT", 1);
      const base = `http://127.0.0.1:${hub.port}`;
      await hub.users.add("boss", "admin", "admin password");
      await hub.users.add("olga", "viewer", "olga password 1");
      await hub.registry.enroll((await hub.registry.add("west")).enrollmentToken); // enrolled, offline
      await hub.registry.enroll((await hub.registry.add("south")).enrollmentToken);
      // A job from an offline site waits to start: Cancel stays on its page.
      const { id: job } = await hub.transfers.create(
        { source: { site: "west" }, destination: { site: "south" }, studies: ["1.2.826.0.1.3680043.9.7"] },
        "user:boss",
      );
      const page = await browser.newPage();
      await page.goto(`${base}/admin`);
      await logIn(page, "boss", "admin password");
      await page.locator("table[aria-label=Users] tr[data-user=olga]").waitFor();

      await comesBack(page, page.getByRole("button", { name: "Account" }), { key: "Escape" });
      await comesBack(page, page.getByRole("button", { name: "Account" }), { button: "Close" });
      await comesBack(page, page.getByRole("button", { name: "Change role of olga" }), { key: "Escape" });
      await comesBack(page, page.getByRole("button", { name: "Change role of olga" }), {
        button: "Keep viewer",
      });
      await comesBack(page, page.getByRole("button", { name: "Reset password of olga" }), {
        button: "Keep it",
      });
      await comesBack(page, page.getByRole("button", { name: "Disable the user olga" }), {
        button: "Keep it",
      });

      // Answered yes, the opener still there: the role changed, the password reset.
      const answer = async (opener: Locator, fill: (dialog: Locator) => Promise<void>, yes: string) => {
        await opener.focus();
        await page.keyboard.press("Enter");
        const dialog = page.locator("dialog[open]");
        await fill(dialog);
        await dialog.getByRole("button", { name: yes }).click();
        await dialog.waitFor({ state: "detached" });
        await page.locator("main p[role=status]").filter({ hasText: /olga/ }).first().waitFor();
        assert.ok(
          await opener.evaluate((el) => el === el.ownerDocument.activeElement),
          `${yes}: the focus is back on its opener, not on ${await focusedHtml(page)}`,
        );
      };
      await answer(
        page.getByRole("button", { name: "Change role of olga" }),
        (d) => d.getByLabel("New role").selectOption("operator").then(() => {}),
        "Change the role",
      );
      await page.locator("table[aria-label=Users] tr[data-user=olga]").getByText("operator").waitFor();
      await answer(
        page.getByRole("button", { name: "Reset password of olga" }),
        (d) => d.getByLabel("New password").fill("olga password 2"),
        "Reset the password",
      );

      // A new API token's dialog: back to Create token.
      const tokenForm = page.locator("form", { has: page.getByRole("button", { name: "Create token" }) });
      await tokenForm.getByLabel("Name").fill("focus");
      await comesBack(page, tokenForm.getByRole("button", { name: "Create token" }), { button: "Close" });
      const revoke = page.getByRole("button", { name: /^Revoke the token focus/ });
      await comesBack(page, revoke, { key: "Escape" });
      // Revoked, its button goes with the hub's answer: the focus stays on its row, not the page's top.
      await revoke.focus();
      await page.keyboard.press("Enter");
      await page.locator("dialog[open]").getByRole("button", { name: "Revoke the token" }).click();
      const tokenRow = page.locator("table[aria-label=Tokens] tr", { hasText: "focus" });
      await tokenRow.getByText("revoked").waitFor();
      await eventually(
        "the focus on the revoked token's row",
        () => tokenRow.evaluate((tr) => tr.contains(tr.ownerDocument.activeElement) || undefined),
      );

      // Sites: a new site's enrollment token; a site's revoke and rotation asked and kept.
      await page.goto(`${base}/sites`);
      await page.locator('table[aria-label=Sites] tr[data-site="west"]').waitFor();
      const add = page.locator("form", { has: page.getByRole("button", { name: "Add site" }) });
      await add.getByLabel("New site").fill("harbour");
      await comesBack(page, add.getByRole("button", { name: "Add site" }), { key: "Escape" });
      await comesBack(page, page.getByRole("button", { name: "Revoke the site west" }), {
        button: "Keep it",
      });
      await comesBack(page, page.getByRole("button", { name: "Rotate credential of west" }), {
        key: "Escape",
      });

      // A transfer's cancel, asked on its page and kept.
      await page.goto(`${base}/transfers/${job}`);
      const cancel = page.getByRole("main").getByRole("button", { name: "Cancel", exact: true });
      await cancel.waitFor();
      await comesBack(page, cancel, { button: "Keep it running" });

      // A study's erase, asked on its page and kept.
      await page.goto(`${base}/explorer?site=north`);
      await page.locator("table[aria-label=Studies] tbody tr[data-study]").first().getByRole("link", {
        name: /^Open /,
      }).click();
      const erase = page.getByRole("button", { name: "Erase…" });
      await erase.waitFor();
      await comesBack(page, erase, { button: "Keep it" });
    });
  },
});

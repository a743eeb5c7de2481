/**
 * What the console asks before it does something that cannot be undone, and the Admin screen's user
 * management, in Chromium (Playwright) against a real hub: Cancel on a transfer asks in a dialog that
 * names the job, with the safe answer focused; Escape or that answer leaves the job running, the
 * keyboard alone confirms it. An admin changes a user's role and resets a password from the user's row
 * (each asked first, dismissing changes nothing), the password reset ending the user's session; the last
 * admin cannot demote themselves; users, tokens and batches are listed newest first; the changes are in the
 * audit.
 */
import assert from "node:assert/strict";
import { focused, hasChromium, logIn, shoot } from "../support/browser.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { recent } from "../../hub/auth/audit.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

const skip = hasChromium() ? undefined : "chromium not installed";
if (skip) console.warn(`admin_test: skipped: ${skip}`);

/**
 * Resolves once the clock has moved past this millisecond: lists order by creation time, so two things made
 * within one millisecond have no order of their own to check (their tie is broken by their random ids).
 */
async function nextMillisecond(): Promise<void> {
  const t = Date.now();
  await eventually("the next millisecond", () => Date.now() > t);
}

Deno.test({
  name:
    "console: destructive actions ask first (Escape dismisses); an admin changes roles and resets passwords",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser }) => {
      const base = `http://127.0.0.1:${hub.port}`;
      await hub.users.add("boss", "admin", "admin password");
      await hub.users.add("olga", "operator", "olga password 1");
      await hub.tokens.create("older", "viewer");
      await nextMillisecond();
      await hub.tokens.create("newer", "viewer");
      // Enrolled, offline: the job waits, so it can be cancelled whenever the test is ready.
      await hub.registry.enroll((await hub.registry.add("north")).enrollmentToken);
      await hub.registry.enroll((await hub.registry.add("south")).enrollmentToken);
      const { id: job } = await hub.transfers.create(
        { source: { site: "north" }, destination: { site: "south" }, studies: ["1.2.3.1", "1.2.3.2"] },
        "user:boss",
      );
      const status = async () => (await hub.transfers.get(job))!.status;
      const cancels = async () =>
        (await recent(hub.db, 1000)).filter((a) => a.action === "transfer.cancel").length;

      const page = await browser.newPage();
      await page.goto(`${base}/transfers/${job}`);
      await logIn(page, "boss", "admin password");
      const detail = page.locator('section[aria-label="Transfer detail"]');
      const cancel = detail.getByRole("button", { name: "Cancel", exact: true });
      const question = page.getByRole("alertdialog", {
        name: "Cancel the transfer of 2 studies from north to south?",
      });

      // Escape dismisses: nothing is cancelled.
      await cancel.click();
      await question.waitFor();
      assert.equal(await focused(page), "Keep it running", "the safe answer has the focus");
      await shoot(page, "confirm");
      await page.keyboard.press("Escape");
      await question.waitFor({ state: "detached" });
      // So does the safe answer, and Enter on it.
      await cancel.click();
      await question.getByRole("button", { name: "Keep it running" }).click();
      await question.waitFor({ state: "detached" });
      await cancel.click();
      await question.waitFor();
      await page.keyboard.press("Enter");
      await question.waitFor({ state: "detached" });
      assert.notEqual(await status(), "canceled");
      assert.equal(await cancels(), 0);
      assert.ok(await cancel.isEnabled());
      // The keyboard alone confirms: Tab to the action, Enter.
      await cancel.click();
      await question.waitFor();
      await page.keyboard.press("Tab");
      assert.equal(await focused(page), "Cancel the transfer");
      await page.keyboard.press("Enter");
      await page.locator('section[aria-label="Transfer detail"][data-status="canceled"]').waitFor();
      assert.equal(await status(), "canceled");
      assert.equal(await cancels(), 1);

      // Admin: users and tokens, the newest first.
      await page.goto(`${base}/admin`);
      const users = page.locator("table[aria-label=Users] tbody tr");
      await page.locator("table[aria-label=Users] tr[data-user=boss]").waitFor();
      assert.deepEqual(await users.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-user"))), [
        "olga",
        "boss",
      ]);
      const tokenNames = await page.locator("table[aria-label=Tokens] tbody tr td:nth-child(2)")
        .allInnerTexts();
      assert.deepEqual(tokenNames, ["newer", "older"]);

      // The last admin cannot demote themselves: asked, confirmed, refused with the reason.
      const roleOf = (user: string) => page.locator(`tr[data-user=${user}] td`).nth(1).innerText();
      const changeRole = async (user: string) => {
        await page.getByRole("button", { name: `Change role of ${user}` }).click();
        const dialog = page.getByRole("alertdialog", { name: `Change the role of ${user}?` });
        await dialog.waitFor();
        return dialog;
      };
      const demote = await changeRole("boss");
      assert.equal(await demote.getByLabel("New role").inputValue(), "admin", "the role the user has");
      await demote.getByLabel("New role").selectOption("operator");
      await demote.getByRole("button", { name: "Change the role" }).click();
      await page.getByRole("alert").getByText("boss is the last enabled admin").waitFor();
      assert.equal(await roleOf("boss"), "admin");

      // A role change dismissed changes nothing: with Escape, or the keyboard on the safe answer.
      let promote = await changeRole("olga");
      assert.match(
        await promote.innerText(),
        /olga is an operator\. A new role holds at once, in their open/,
      );
      await promote.getByLabel("New role").selectOption("admin");
      await page.keyboard.press("Escape");
      await promote.waitFor({ state: "detached" });
      promote = await changeRole("olga");
      await promote.getByLabel("New role").selectOption("admin");
      await promote.getByRole("button", { name: "Keep operator" }).focus();
      await page.keyboard.press("Enter");
      await promote.waitFor({ state: "detached" });
      assert.equal(await roleOf("olga"), "operator");
      assert.equal((await hub.users.list()).find((u) => u.name === "olga")?.role, "operator");
      // Confirmed, it holds.
      promote = await changeRole("olga");
      await promote.getByLabel("New role").selectOption("admin");
      await promote.getByRole("button", { name: "Change the role" }).click();
      await page.getByRole("status").getByText("olga is now admin").waitFor();
      assert.equal((await hub.users.list()).find((u) => u.name === "olga")?.role, "admin");
      await page.locator("tr[data-user=olga] td", { hasText: /^admin$/ }).waitFor();

      // A password reset: dismissed, nothing; confirmed with a new password, olga's session ends.
      const olga = await fetch(`${base}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: "olga", password: "olga password 1" }),
      });
      assert.equal(olga.status, 200);
      await olga.body?.cancel();
      const olgaCookie = olga.headers.get("set-cookie")!.split(";")[0];
      const olgaMe = async () =>
        await fetch(`${base}/auth/me`, { headers: { cookie: olgaCookie } }).then(async (r) => (
          await r.body?.cancel(), r.status
        ));
      const reset = page.getByRole("alertdialog", { name: "Reset the password of olga?" });
      await page.getByRole("button", { name: "Reset password of olga" }).click();
      await reset.waitFor();
      await page.keyboard.press("Escape");
      await reset.waitFor({ state: "detached" });
      assert.equal(await olgaMe(), 200, "dismissed: olga's session goes on");
      await page.getByRole("button", { name: "Reset password of olga" }).click();
      // Without a password the dialog stays (the field is required); with one, the reset is done.
      await reset.getByRole("button", { name: "Reset the password" }).click();
      assert.ok(await reset.isVisible());
      await reset.getByLabel("New password").fill("olga's new password");
      await reset.getByRole("button", { name: "Reset the password" }).click();
      await page.getByRole("status").getByText("password of olga reset; 1 session(s) ended").waitFor();
      assert.equal(await olgaMe(), 401, "the reset ended olga's session");
      await eventually("olga logs in with the new password", async () => {
        const r = await fetch(`${base}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ user: "olga", password: "olga's new password" }),
        });
        await r.body?.cancel();
        return r.status === 200;
      });

      // Disable, dismissed: olga stays active.
      await page.locator("tr[data-user=olga]").getByRole("button", { name: "Disable" }).click();
      const disable = page.getByRole("alertdialog", { name: "Disable the user olga?" });
      await disable.waitFor();
      await page.keyboard.press("Escape");
      await disable.waitFor({ state: "detached" });
      assert.equal((await hub.users.list()).find((u) => u.name === "olga")?.disabled, false);

      // A name longer than the hub takes (64 characters) cannot be typed, so it is never refused in the hub's
      // terms ("the input was refused: name: String must contain at most 64 character(s)").
      const userForm = page.locator("section.card", { has: page.getByRole("heading", { name: "Users" }) });
      await userForm.getByLabel("Name", { exact: true }).fill("u".repeat(80));
      await userForm.getByLabel("Password", { exact: true }).fill("long name password");
      await userForm.getByRole("button", { name: "Add user" }).click();
      await page.getByRole("status").getByText(`user ${"u".repeat(64)} added`).waitFor();
      const tokenForm = page.locator("section.card", {
        has: page.getByRole("heading", { name: "API tokens" }),
      });
      await tokenForm.getByLabel("Name", { exact: true }).fill("t".repeat(80));
      assert.equal(await tokenForm.getByLabel("Name", { exact: true }).inputValue(), "t".repeat(64));

      // The batches started before, the newest first, each opening as it was started.
      const api = createConduitClient({ url: base, token: (await hub.tokens.create("b", "operator")).token });
      const started: string[] = [];
      for (const name of ["first.csv", "second.csv"]) {
        await nextMillisecond();
        started.push(
          (await api.batch.upload.mutate({
            kind: "query",
            filename: name,
            contentBase64: btoa("PatientID\nP1\n"),
            sites: ["north"],
          })).id,
        );
      }
      await page.goto(`${base}/batch`);
      const batches = page.locator("table[aria-label=Batches] tbody tr");
      await batches.nth(1).waitFor();
      assert.deepEqual(
        await batches.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-batch"))),
        started.toReversed(),
      );
      await batches.first().getByRole("link", { name: /^Open the batch second\.csv/ }).click();
      await page.waitForURL((u) => u.searchParams.get("id") === started[1]);

      await page.goto(`${base}/admin`);
      const audit = page.locator("table[aria-label=Audit]");
      await audit.getByText("Reset the password of the user").waitFor();
      assert.match(await audit.innerText(), /boss\s+Reset the password of the user\s+olga/);
      assert.match(await audit.innerText(), /boss\s+Changed the role of the user\s+olga/);
      assert.doesNotMatch(await audit.innerText(), /Disabled the user/);

      // With olga an admin, boss may step down: the console starts again as an operator, without Admin.
      const stepDown = await changeRole("boss");
      await stepDown.getByLabel("New role").selectOption("operator");
      await stepDown.getByRole("button", { name: "Change the role" }).click();
      await page.waitForURL((u) => u.pathname === "/");
      await page.getByText("boss (operator)").waitFor();
      assert.equal(await page.getByRole("link", { name: "Admin", exact: true }).count(), 0);
    });
  },
});

/**
 * A value the Admin, Sites or Batch screen (or the audit filter) refuses is tied to its field, as in the
 * transfer and Account dialogs: the field marked aria-invalid, described by the error's alert and given the
 * focus; changing the value takes the mark off. Chromium (Playwright) against a real hub.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Locator } from "playwright-core";
import { assertTiedToError, hasChromium, logIn } from "../support/browser.ts";
import { withConsole } from "../support/console_rig.ts";

const skip = hasChromium() ? undefined : "chromium not installed";
if (skip) console.warn(`field_errors_test: skipped: ${skip}`);

/** Types into `field` and checks the mark went with the change. */
async function changedUnmarks(field: Locator, value: string, what: string) {
  await field.fill(value);
  assert.equal(await field.getAttribute("aria-invalid"), null, `${what}: changed, no longer marked`);
  assert.equal(await field.getAttribute("aria-describedby"), null, `${what}: no longer described`);
}

Deno.test({
  name: "console: Admin, Sites, Batch and the audit filter tie a refused value's error to its field",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser }) => {
      const base = `http://127.0.0.1:${hub.port}`;
      await hub.users.add("boss", "admin", "admin password");
      await hub.users.add("olga", "viewer", "olga password 1");
      await hub.registry.enroll((await hub.registry.add("west")).enrollmentToken); // enrolled, offline
      const page = await browser.newPage();
      await page.goto(`${base}/admin`);
      await logIn(page, "boss", "admin password");

      // Admin, users: a name taken.
      const users = page.locator("form", { has: page.getByRole("button", { name: "Add user" }) });
      await users.getByLabel("Name").fill("olga");
      await users.getByLabel("Password").fill("another password");
      await users.getByRole("button", { name: "Add user" }).click();
      await assertTiedToError(users.getByLabel("Name"), /olga/, "Add user: Name");
      assert.equal(await users.getByLabel("Password").getAttribute("aria-invalid"), null);
      await changedUnmarks(users.getByLabel("Name"), "olga2", "Add user: Name");

      // Admin, tokens: a name of spaces only.
      const tokens = page.locator("form", { has: page.getByRole("button", { name: "Create token" }) });
      await tokens.getByLabel("Name").fill("   ");
      await tokens.getByRole("button", { name: "Create token" }).click();
      await assertTiedToError(tokens.getByLabel("Name"), /give the token a name/, "Create token: Name");
      await changedUnmarks(tokens.getByLabel("Name"), "ci", "Create token: Name");

      // The audit filter: a link with a time the hub refuses marks From.
      await page.goto(`${base}/admin?from=yesterday`);
      const audit = page.getByRole("form", { name: "Filter the audit log" });
      await assertTiedToError(audit.getByLabel("From"), /not an ISO 8601 instant/, "audit filter: From");
      assert.equal(await audit.getByLabel("Before").getAttribute("aria-invalid"), null);
      await changedUnmarks(audit.getByLabel("From"), "2026-01-02T03:04:05", "audit filter: From");

      // Sites: the name of an enrolled site; a site's uplink cap out of range.
      await page.goto(`${base}/sites`);
      const add = page.locator("form", { has: page.getByRole("button", { name: "Add site" }) });
      await add.getByLabel("New site").fill("west");
      await add.getByRole("button", { name: "Add site" }).click();
      await assertTiedToError(add.getByLabel("New site"), /west/, "Add site: New site");
      await changedUnmarks(add.getByLabel("New site"), "harbour", "Add site: New site");
      await page.goto(`${base}/sites/west`);
      const uplink = page.getByRole("form", { name: "Uplink cap" });
      await uplink.getByLabel("Uplink cap (Mbit/s)").fill("0");
      await uplink.getByRole("button", { name: "Set the uplink cap" }).click();
      await assertTiedToError(
        uplink.getByLabel("Uplink cap (Mbit/s)"),
        /^The uplink cap is in Mbit\/s/,
        "uplink cap",
      );
      await changedUnmarks(uplink.getByLabel("Uplink cap (Mbit/s)"), "5", "uplink cap");

      // Batch: a file the hub cannot read marks File; another file takes the mark off.
      await page.goto(`${base}/batch`);
      const file = page.getByLabel("File");
      await file.setInputFiles({
        name: "rows.csv",
        mimeType: "text/csv",
        buffer: Buffer.from("Colour,Shape\nred,round\n"),
      });
      await assertTiedToError(file, /^unknown column "Colour", "Shape"/, "Batch: File");
      await file.setInputFiles({
        name: "rows.csv",
        mimeType: "text/csv",
        buffer: Buffer.from("Patient ID\nPAT0001\n"),
      });
      await page.locator('table[aria-label=Rows] tr[data-row="2"]').waitFor();
      assert.equal(await file.getAttribute("aria-invalid"), null, "Batch: File: another file, unmarked");
    });
  },
});

/**
 * The transfer dialog's custom profile and Clinical Trial attributes, in Chromium (Playwright) against a
 * real hub and agents: a pasted profile with a bad entry is refused by the hub with the entry named (before
 * anything is created), a profile uploaded as a file is confirmed by the hub, the trial attributes are
 * given (every control named), and the job's page says what was used.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { hasChromium, nav, unnamedControls } from "../support/browser.ts";
import { storescu } from "../support/send.ts";
import { skipReason } from "../support/peers.ts";
import { withConsole } from "../support/console_rig.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = hasChromium() ? skipReason("storescu") : "chromium not installed";
if (skip) console.warn(`console/deid_custom_test: skipped: ${skip}`);

const PROFILE = {
  name: "acme-042",
  actions: { InstitutionName: { action: "D", value: "TRIAL SITE 3" }, "(0008,10xx)": "K" },
};

Deno.test({
  name: "the transfer dialog: a custom profile checked by the hub, trial attributes, and the job says so",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, northAndSouth, pageAs }) => {
      const keyFile = await Deno.makeTempFile({ prefix: "north-", suffix: ".key" });
      await Deno.writeFile(keyFile, crypto.getRandomValues(new Uint8Array(32)));
      const { north } = await northAndSouth({ config: { deid: { keyFile } } });
      const dir = await Deno.makeTempDir({ prefix: "ui-custom-" });
      const s = await writeGeneratedSeries(dir, { count: 2, rows: 32, columns: 32, seed: "ui-custom" });
      const sent = await storescu(s.paths, north);
      assert.equal(sent.code, 0, sent.stderr);
      const page = await pageAs("/");
      await nav(page, "Explorer").click();
      await page.getByLabel("Site").selectOption("north");
      await page.getByRole("button", { name: "Search" }).click();
      const rows = page.locator("table[aria-label=Studies] tbody tr[data-study]");
      await rows.first().waitFor();
      await rows.first().getByRole("checkbox").check();
      await page.getByLabel("Destination").selectOption("south");
      await page.getByLabel("Pseudonymize at the source").check();

      // A pasted profile with a bad entry: the hub's check names it, and no job is created.
      await page.getByText("Custom profile", { exact: true }).click();
      const text = page.getByLabel(/^Profile file \(JSON/);
      await text.fill(JSON.stringify({ actions: { "(0009,1004)": "K" } }));
      await text.press("Tab");
      const verdict = page.getByLabel("Custom profile check");
      await verdict.filter({ hasText: /private \(odd\) group/ }).waitFor();
      assert.match(await verdict.innerText(), /custom profile: actions: "\(0009,1004\)": 0009 is a private/);
      assert.equal(await verdict.getAttribute("role"), "alert");
      await page.getByRole("button", { name: "Transfer", exact: true }).click();
      await page.locator(".transfer-dialog [role=alert]").filter({ hasText: /0009 is a private/ }).last()
        .waitFor();
      assert.equal(await hub.transfers.list(10).then((l) => l.length), 0, "no job for a refused profile");
      // Not JSON at all: said at once.
      await text.fill("{ actions: ");
      await text.press("Tab");
      await verdict.filter({ hasText: /not JSON/ }).waitFor();

      // A profile file uploaded: the hub confirms what it holds.
      const file = path.join(dir, "acme.json");
      await Deno.writeTextFile(file, JSON.stringify(PROFILE));
      await page.getByLabel("Or load a file").setInputFiles(file);
      await verdict.filter({ hasText: /Custom profile "acme-042": 2 entries\. Checked by the hub\./ })
        .waitFor();
      assert.equal(await verdict.getAttribute("role"), "status");

      // The trial attributes.
      await page.getByText("Clinical trial attributes", { exact: true }).click();
      await page.getByLabel("Sponsor Name *").fill("ACME");
      await page.getByLabel("Protocol ID *").fill("ACME-042");
      await page.getByLabel("Site ID *").fill("S03");
      await page.getByLabel("Time Point ID").fill("BASELINE");
      assert.deepEqual(await unnamedControls(page), [], "the dialog's controls without a name");
      await page.getByRole("button", { name: "Transfer", exact: true }).click();

      await page.locator('section[aria-label="Transfer detail"][data-status="success"]').waitFor({
        timeout: 60_000,
      });
      assert.match(
        await page.getByLabel("De-identification", { exact: true }).innerText(),
        /PS3\.15 Basic Profile, no option; custom profile "acme-042"; burned-in text held back; clinical trial ACME-042, site S03, time point BASELINE\./,
      );
      await page.getByText("Custom profile and trial attributes used").click();
      const used = JSON.parse(await page.getByLabel("Profile and trial attributes used").innerText());
      assert.deepEqual(used, {
        custom: PROFILE,
        clinicalTrial: {
          sponsorName: "ACME",
          protocolId: "ACME-042",
          siteId: "S03",
          timePointId: "BASELINE",
        },
      });
    });
  },
});

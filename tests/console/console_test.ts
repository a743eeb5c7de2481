/**
 * The console in Debian's Chromium (Playwright): log in, see both sites online, query north, select
 * two studies, transfer them to south pseudonymized at the source, watch the job reach success, find
 * them at south under their pseudonyms; a batch transfer applies its Pseudonym column (and, the study being at
 * south already under the keyed pseudonym, with the same UIDs, fails saying south keeps those bytes); a viewer is
 * not offered a transfer; the console runs under its Content-Security-Policy and cannot be framed.
 * Screenshots of each screen go to tests/.out/console (git-ignored).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { Buffer } from "node:buffer";
import { hasTool, skipReason } from "../support/peers.ts";
import { brokenWords, logIn, nav, SHOTS, watchCsp } from "../support/browser.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { pseudonymizeUid } from "@conduit/shared/deid/pseudonyms";
import { BUILD_TEXT as AGENT_BUILD_TEXT } from "../../agent/version.ts";

const skip = hasTool("/usr/bin/chromium") ? skipReason("storescu") : "chromium not installed";
if (skip) console.warn(`console_test: skipped: ${skip}`);

Deno.test({
  name: "the console: log in, query north, transfer two studies to south, watch it succeed; a viewer cannot",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser, northAndSouth }) => {
      // North de-identifies with its own key; the hub and the console never see it.
      const key = crypto.getRandomValues(new Uint8Array(32));
      const keyFile = await Deno.makeTempFile({ prefix: "north-", suffix: ".key" });
      await Deno.writeFile(keyFile, key);
      const { north } = await northAndSouth({ config: { deid: { keyFile } } });
      const originals: string[] = [];
      for (const [seed, modality] of [["ui-a", "CT"], ["ui-b", "MR"]] as const) {
        const dir = await Deno.makeTempDir({ prefix: "ui-src-" });
        const s = await writeGeneratedSeries(dir, { count: 3, rows: 64, columns: 64, seed, modality });
        const sent = await storescu(s.paths, north);
        assert.equal(sent.code, 0, sent.stderr);
        originals.push(s.studyUid);
      }
      await hub.users.add("ops", "operator", "operator password");
      await hub.users.add("view", "viewer", "viewer password");
      await hub.users.add("boss", "admin", "admin password");
      const url = `http://127.0.0.1:${hub.port}/`;
      const page = await browser.newPage();
      // The console runs under its Content-Security-Policy: nothing it does may be refused.
      const violations = watchCsp(page);

      const first = await page.goto(url);
      assert.match(first!.headers()["content-security-policy"] ?? "", /frame-ancestors 'none'/);
      assert.equal(first!.headers()["x-frame-options"], "DENY");
      await page.getByLabel("User").fill("ops");
      await page.getByLabel("Password").fill("wrong password");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("alert").filter({ hasText: "wrong user name or password" }).waitFor();
      await page.getByLabel("Password").fill("operator password");
      await page.getByRole("button", { name: "Log in" }).click();
      await page.getByRole("button", { name: "Log out" }).waitFor();

      // Dashboard: both sites online.
      await page.locator('tr[data-site="north"] .state-online').waitFor({ timeout: 15_000 });
      await page.locator('tr[data-site="south"] .state-online').waitFor();
      // Each site's agent build, as its hello named it (docs/console.md, column Agent).
      const northRow = await page.locator('tr[data-site="north"]').innerText();
      assert.ok(northRow.includes(AGENT_BUILD_TEXT), `${AGENT_BUILD_TEXT} in ${northRow}`);
      await page.screenshot({ path: path.join(SHOTS, "flow-dashboard.png") });

      // Explorer: query north, select both studies, transfer to south.
      await nav(page, "Explorer").click();
      await page.getByLabel("Site").selectOption("north");
      await page.getByRole("button", { name: "Search" }).click();
      const rows = page.locator("table[aria-label=Studies] tbody tr[data-study]");
      await rows.first().waitFor();
      assert.equal(await rows.count(), 2);
      assert.match(page.url(), /\/explorer\?site=north$/, "the search is in the URL");
      // Series drill-down: the CT study has one CT series of 3 objects.
      await rows.filter({ hasText: "CT" }).getByRole("button", { name: "Series" }).click();
      await page.locator("table[aria-label=Series] tbody tr[data-series]").first().waitFor();
      assert.match(await page.locator("table[aria-label=Series]").innerText(), /CT\s+[^\n]*\s3/);
      // Transfer waits for a destination; the source is not offered as one.
      await page.getByLabel(/^Select all 2 studies/).check();
      for (const box of await rows.getByRole("checkbox").all()) assert.ok(await box.isChecked());
      assert.ok(await page.getByRole("button", { name: "Transfer", exact: true }).isDisabled());
      assert.equal(await page.getByLabel("Destination").locator("option[value=north]").count(), 0);
      await page.getByLabel("Destination").selectOption("south");
      assert.ok(await page.getByRole("button", { name: "Transfer", exact: true }).isEnabled());
      await page.getByLabel("Priority").fill("3");
      await page.getByText("Schedule and limits").click();
      await page.getByLabel("Bandwidth cap (Mbit/s)").fill("200");
      // A window of whole days, today and yesterday in the hub's zone (still open should midnight pass).
      const week = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
      const days = [week[(new Date().getDay() + 6) % 7], week[new Date().getDay()]];
      for (const d of days) await page.getByLabel(d, { exact: true }).check();
      await page.getByRole("button", { name: "Transfer", exact: true }).click();
      await page.getByRole("alert").filter({
        hasText: "Give the window a start and an end for the days ticked.",
      })
        .waitFor();
      await page.getByLabel("Window from").fill("00:00");
      await page.getByLabel("to", { exact: true }).fill("00:00");
      const shown = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].filter((d) => days.includes(d));
      const northStudies = await page.locator("table[aria-label=Studies]").innerText();
      const studyRows = (table: string) =>
        page.locator(`table[aria-label=${table}] tbody tr[data-study]`)
          .evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-study")));
      const explorerOrder = await studyRows("Studies");
      const mrPatient = /PAT\d+/.exec(await rows.filter({ hasText: "MR" }).innerText())![0];
      // Pseudonymize at the source: the basic profile with one option.
      await page.getByLabel("Pseudonymize at the source").check();
      await page.getByLabel("Retain Longitudinal Temporal Information with Modified Dates Option").check();
      await page.screenshot({ path: path.join(SHOTS, "flow-explorer.png") });
      await page.getByRole("button", { name: "Transfer", exact: true }).click();

      // Transfers: the job's detail updates live until success.
      await page.locator('section[aria-label="Transfer detail"][data-status="success"]').waitFor({
        timeout: 60_000,
      });
      assert.match(await page.locator('section[aria-label="Transfer detail"]').innerText(), /6 of 6 objects/);
      assert.match(page.url(), /\/transfers\/[^/]+$/, "the job has its own URL");
      assert.match(await page.locator('section[aria-label="Transfer detail"] h2').innerText(), /: Done$/);
      assert.equal(
        await page.getByLabel("Schedule").innerText(),
        `Priority 3 · window all day ${shown.join(", ")} · cap 200 Mbit/s`,
      );
      // The detail says how it was de-identified, and each study's pseudonyms as north reported them.
      assert.match(
        await page.getByLabel("De-identification").innerText(),
        /De-identified at the source: PS3\.15 Basic Profile with Retain Longitudinal Temporal Information with Modified Dates Option; burned-in text held back/,
      );
      // On a phone the pseudonyms and the UID button keep their words whole: the table scrolls in its box.
      await page.setViewportSize({ width: 390, height: 844 });
      assert.deepEqual(await brokenWords(page), [], "the job's page on a phone: words broken across lines");
      await page.setViewportSize({ width: 1366, height: 800 });
      // New study UIDs on demand.
      const showUid = page.getByRole("button", { name: "Show New study UID" });
      assert.equal(await showUid.count(), 2);
      while (await showUid.count()) await showUid.first().click();
      const tasks = await page.locator("table[aria-label=Tasks]").innerText();
      assert.deepEqual(
        await studyRows("Tasks"),
        explorerOrder,
        "the job lists the studies as the explorer did",
      );
      for (const uid of originals) assert.ok(tasks.includes(pseudonymizeUid(key, uid)), tasks);
      assert.match(tasks, /ANON, [A-Z0-9]{10}/);
      // Each row's actions name their study, so that a screen reader tells them apart.
      assert.equal(await page.getByRole("button", { name: /^Objects of .+ · / }).count(), 2);
      assert.equal(await page.getByRole("button", { name: "Objects", exact: true }).count(), 0);
      // Per-object progress of the first study: three objects, all done at the source.
      await page.locator("table[aria-label=Tasks]").getByRole("button", { name: "Objects" }).first().click();
      await page.locator("table[aria-label=Objects] tbody tr").first().waitFor();
      assert.equal(await page.locator("table[aria-label=Objects] tbody tr").count(), 3);
      assert.match(await page.locator("table[aria-label=Objects]").innerText(), /Delivered/);
      // The dashboard's traffic column draws the tunnel's recent throughput.
      await page.screenshot({ path: path.join(SHOTS, "flow-transfers.png") });

      // At south: the explorer finds both studies, pseudonymized: new UIDs, new patient IDs and names.
      await nav(page, "Explorer").click();
      await page.getByLabel("Site").selectOption("south");
      await page.getByRole("button", { name: "Search" }).click();
      await eventually("two studies at south", async () => (await rows.count()) === 2 || undefined, 15_000);
      const southStudies = await page.locator("table[aria-label=Studies]").innerText();
      for (const uid of originals) {
        const at = (study: string) =>
          page.locator(`table[aria-label=Studies] tr[data-study="${study}"]`).count();
        assert.equal(await at(pseudonymizeUid(key, uid)), 1, "the study under its pseudonymous UID");
        assert.equal(await at(uid), 0, "no original study UID at south");
      }
      for (const id of northStudies.match(/PAT\d+/g) ?? []) assert.ok(!southStudies.includes(id), id);
      assert.match(southStudies, /ANON, [A-Z0-9]{10}/);
      await page.getByRole("button", { name: "Log out" }).click();

      // A viewer is not offered a transfer (and the server refuses one anyway: tests/console/auth_test.ts).
      await logIn(page, "view", "viewer password");
      await nav(page, "Explorer").click();
      await page.getByRole("button", { name: "Search" }).click();
      await rows.first().waitFor();
      await page.getByText("Your role cannot move studies.").waitFor();
      assert.equal(await page.getByRole("button", { name: "Transfer", exact: true }).count(), 0);
      assert.equal(
        await nav(page, "Admin").count(),
        0,
        "no admin screen for a viewer",
      );
      await page.getByRole("button", { name: "Log out" }).click();

      // An admin: sites (details, add a site and get its token), batch, and the audit log.
      await logIn(page, "boss", "admin password");
      await nav(page, "Sites").click();
      // Each site's actions name the site (a screen reader heard "Details, Revoke, Rotate credential" per row).
      await page.getByRole("button", { name: "Revoke the site north" }).waitFor();
      assert.equal(await page.getByRole("button", { name: "Rotate credential of south" }).count(), 1);
      for (const name of ["Revoke", "Rotate credential"]) {
        assert.equal(await page.getByRole("button", { name, exact: true }).count(), 0, name);
      }
      assert.equal(await page.getByRole("link", { name: "Details", exact: true }).count(), 0);
      await page.getByRole("link", { name: "Details of north" }).click();
      await page.getByText("Nothing in the dead letter.").waitFor();
      assert.match(page.url(), /\/sites\/north$/);
      await page.getByLabel("New site").fill("east");
      await page.getByRole("button", { name: "Add site" }).click();
      // The enrollment token in a dialog with a copy button; the form is cleared.
      const enroll = page.getByRole("dialog", { name: "Enrollment token for east" });
      await enroll.waitFor();
      assert.equal(await enroll.getByRole("button", { name: "Copy the token" }).count(), 1);
      // The agent's command as the hub names it (/auth/me; a built hub names its agent's launcher).
      assert.match(
        await enroll.locator(".hint").innerText(),
        /^deno task agent --site east --hub \S+ --enroll \S+$/,
      );
      assert.equal(await page.getByLabel("New site").inputValue(), "");
      await enroll.getByRole("button", { name: "Close" }).click();
      await page.screenshot({ path: path.join(SHOTS, "flow-sites.png") });
      // Batch: the file's rows are previewed with their errors before anything runs.
      await nav(page, "Batch").click();
      // A query has no destination; a transfer does, and only among enrolled sites (not east, pending).
      assert.equal(await page.getByLabel("Destination").count(), 0);
      await page.getByLabel("File").setInputFiles({
        name: "rows.csv",
        mimeType: "text/csv",
        buffer: Buffer.from("Patient ID,Study Date,Modality\nPAT0001,,CT\nX1,yesterday,\n"),
      });
      const preview = page.locator("table[aria-label=Rows]");
      await preview.locator("tbody tr").nth(1).waitFor();
      assert.match(await page.getByLabel("Preview").innerText(), /2 rows, 1 with an error/);
      assert.match(
        await preview.locator('tr[data-row="3"]').innerText(),
        /Study date \(StudyDate\) "yesterday" is not a date/,
      );
      await page.getByRole("button", { name: "Start" }).click();
      await page.getByLabel("Batch result").getByText("done").waitFor({ timeout: 30_000 });
      // Only north has PAT0001: south holds that patient's study under its pseudonym.
      assert.match(
        await page.getByLabel("Batch result").innerText(),
        /2 rows, 1 study found, 1 row with an error/,
      );
      // Its results as CSV, streamed by the hub (/api/batches/{id}/results.csv) with the session's cookie.
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("button", { name: "Download CSV" }).click(),
      ]);
      assert.match(download.suggestedFilename(), /^batch-[0-9a-f]{16}\.csv$/);
      const saved = await Deno.readFile((await download.path())!);
      assert.deepEqual([...saved.slice(0, 3)], [0xef, 0xbb, 0xbf], "UTF-8's byte order mark, for Excel");
      const lines = new TextDecoder().decode(saved).split("\r\n");
      assert.equal(lines.length, 3, lines.join("\n"));
      assert.match(lines[0], /^row,site,error,PatientID,/);
      assert.match(lines[1], /^2,north,,PAT0001,/);
      assert.match(lines[2], /^3,,"Study date \(StudyDate\) ""yesterday"" is not a date: /);
      // A batch transfer pseudonymized at the source: the Pseudonym column becomes the patient's identity.
      await page.getByLabel("File").setInputFiles({
        name: "pseudonyms.csv",
        mimeType: "text/csv",
        buffer: Buffer.from(`Patient ID,Modality,Pseudonym\n${mrPatient},MR,TRIAL-7\n`),
      });
      await preview.locator('tr[data-row="2"]').waitFor();
      assert.match(await preview.locator('tr[data-row="2"]').innerText(), /TRIAL-7/);
      await page.getByLabel("Kind").selectOption("transfer");
      await page.getByLabel("Site (source)").selectOption("north");
      assert.equal(await page.getByLabel("Destination").locator("option[value=east]").count(), 0);
      await page.getByLabel("Destination").selectOption("south");
      await page.getByLabel("Pseudonymize at the source").check();
      await page.screenshot({ path: path.join(SHOTS, "flow-batch.png") });
      await page.getByRole("button", { name: "Start" }).click();
      await page.getByRole("button", { name: "Open the transfer" }).click({ timeout: 30_000 });
      // The MR study is at south already, under its keyed pseudonym: the same UIDs (from the same key) with
      // other bytes, which south keeps the first of. The job says so instead of a success south does not hold.
      await page.locator('section[aria-label="Transfer detail"][data-status="failure"]').waitFor({
        timeout: 60_000,
      });
      const batchTasks = await page.locator("table[aria-label=Tasks]").innerText();
      assert.match(batchTasks, /TRIAL-7 · TRIAL-7/);
      assert.match(batchTasks, /already holds other bytes under this SOP Instance UID/);
      assert.match(await page.getByLabel("De-identification").innerText(), /pseudonyms for 1 patient/);

      // Admin: revoke a token (its next request is 401), disable a user (who can no longer log in).
      const script = await hub.tokens.create("nightly script", "viewer", undefined, "test");
      const asScript = () =>
        fetch(`${url}dicomweb/sites/north/studies`, { headers: { authorization: `Bearer ${script.token}` } });
      assert.equal(await asScript().then(async (r) => (await r.body?.cancel(), r.status)), 200);
      await nav(page, "Admin").click();
      await page.getByRole("button", { name: `Revoke the token nightly script (${script.id})` }).click();
      await page.getByRole("alertdialog", { name: `Revoke the API token nightly script (${script.id})?` })
        .getByRole("button", { name: "Revoke the token" }).click();
      await page.locator(`tr[data-token="${script.id}"]`).getByText("revoked").waitFor();
      assert.equal(await asScript().then(async (r) => (await r.body?.cancel(), r.status)), 401);
      assert.equal(await page.getByRole("button", { name: "Disable", exact: true }).count(), 0);
      await page.getByRole("button", { name: "Disable the user view" }).click();
      await page.getByRole("alertdialog", { name: "Disable the user view?" })
        .getByRole("button", { name: "Disable the user" }).click();
      await page.locator('tr[data-user="view"]').getByText("disabled").waitFor();
      assert.equal(
        await page.locator('tr[data-user="boss"]').getByRole("button", { name: "Disable" }).count(),
        0,
        "no self-disable",
      );
      const denied = await fetch(`${url}auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: "view", password: "viewer password" }),
      });
      assert.equal(denied.status, 401);
      await denied.body?.cancel();
      const audit = page.locator("table[aria-label=Audit]");
      await audit.getByText("Disabled the user").first().waitFor();
      assert.match(await audit.innerText(), /boss\s+Revoked the API token\s+/);
      await audit.getByText("Started the transfer").first().waitFor();
      assert.match(await audit.innerText(), /ops\s+Started the transfer/);
      assert.match(await audit.innerText(), /boss\s+Added the site\s+east/);
      await page.screenshot({ path: path.join(SHOTS, "flow-admin.png") });
      // The dark theme follows the system setting.
      await page.emulateMedia({ colorScheme: "dark" });
      await nav(page, "Dashboard").click();
      const background = await page.locator("body").evaluate((b) =>
        (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } })
          .getComputedStyle(b).backgroundColor
      );
      assert.notEqual(background, "rgb(250, 250, 250)");
      await page.screenshot({ path: path.join(SHOTS, "flow-dashboard-dark.png") });
      assert.deepEqual(violations, [], "no Content-Security-Policy violation in the whole session");

      // Another page cannot frame the console (clickjacking): the browser refuses to render it.
      const framer = await browser.newPage();
      const refused = framer.waitForEvent("console", {
        predicate: (m) => /frame-ancestors|X-Frame-Options/i.test(m.text()),
        timeout: 10_000,
      });
      await framer.setContent(`<iframe src="${url}" width="800" height="600"></iframe>`);
      await refused;
      assert.equal(await framer.frameLocator("iframe").getByLabel("User").count(), 0, "no login form inside");
    });
  },
});

/**
 * Every screen of the console has its URL, in Chromium (Playwright) against a real hub and two agents:
 * a logged-out visit returns to its URL after login; each screen opens from its URL and survives a
 * reload; Back returns to a search; names, dates, ages and sexes read as words in the explorer, on the
 * study page and in a transfer; the explorer opens a study's series under it, and its transfer dialog
 * never offers the selection's own site; the study page shows its series with their thumbnails, its UID
 * on demand, a working zip download and a viewer link; a new API token shows once in a dialog with a
 * copy button; narrow screens do not scroll sideways nor break words; no Content-Security-Policy
 * violation; series that cannot be listed say why; no screen names an issue of the tracker. Screenshots
 * of every screen, light and dark, go to tests/.out/console (docs/images/console holds copies): the site's
 * page with three rows in its dead letter (north's MR routed to a node that is not there, one attempt), and
 * the page of a job of 130 studies (./_big_job.ts) with its pager and filter.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { Buffer } from "node:buffer";
import { freePort, PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { sendGenerated, storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { viewerDirFor, withConsole } from "../support/console_rig.ts";
import {
  brokenWords,
  hasChromium,
  LOCALE,
  logIn,
  shoot,
  waitForOnPage,
  watchCsp,
  watchRequests,
} from "../support/browser.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { bigJob } from "./_big_job.ts";
import { ageAt, dicomDate, dicomDateTime, personName, sex, studyTitle } from "../../ui/src/format.ts";

const skip = hasChromium() ? skipReason("storescu") : "chromium not installed";
if (skip) console.warn(`screens_test: skipped: ${skip}`);

const CT_SMALL_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
type Json = Record<string, { Value?: unknown[] }>;
const first = (ds: Json, tag: string) => ds[tag]?.Value?.[0] as string | undefined;

Deno.test({
  name: "every console screen has a URL that survives reload and login, and reads DICOM as words",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // The study pages' viewer links need a viewer installed (a stand-in: ui/viewer may not be built here).
    const viewerDir = await viewerDirFor(true);
    // South and north start together, with the hub, while Chromium launches. North's MR goes to a PACS that
    // is not there, at one attempt: its dead letter holds rows.
    const sites = {
      south: { aet: "SOUTH" },
      north: {
        aet: "NORTH",
        config: {
          nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: freePort() } },
          routes: [{ name: "mr-to-pacs", match: { modality: ["MR"] }, to: [{ node: "pacs" }] }],
          queue: { maxAttempts: 1 },
        },
      },
    };
    await withConsole({ hub: { viewerDir }, sites }, async ({ hub, browser, sites: { south, north } }) => {
      await hub.registry.add("east"); // pending: never offered as a destination
      const dir = await Deno.makeTempDir({ prefix: "screens-" });
      const ct = await writeGeneratedSeries(dir, {
        count: 2,
        rows: 64,
        columns: 64,
        seed: "screens",
        modality: "CT",
      });
      // The generated study is checked; pydicom's CT shows a real image in the study page's screenshot.
      assert.equal(
        (await storescu([...ct.paths, path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm")], north)).code,
        0,
      );
      await eventually("both online", () => hub.sessions.get("north") && hub.sessions.get("south"));
      await sendGenerated(north, "screens-dead", "MR", 3);
      await eventually("three rows in north's dead letter", async () => {
        const rows = await (await north.http("/queue?limit=100")).json() as { state: string }[];
        return rows.filter((r) => r.state === "dead").length === 3 || undefined;
      });
      await hub.users.add("boss", "admin", "admin password");
      const token = (await hub.tokens.create("screens", "viewer")).token;
      const base = `http://127.0.0.1:${hub.port}`;
      const fields = "PatientBirthDate,PatientSex,StudyTime";
      const [raw] = await (await fetch(
        `${base}/dicomweb/sites/north/studies?StudyInstanceUID=${ct.studyUid}&includefield=${fields}`,
        { headers: { authorization: `Bearer ${token}` } },
      )).json() as Json[];
      const name = personName(raw["00100010"].Value![0] as { Alphabetic: string });
      assert.match(name, /^[A-Z]+, [A-Z]+$/, "a generated name, formatted");
      const date = first(raw, "00080020")!;
      const { id: job } = await hub.transfers.create(
        { source: { site: "north" }, destination: { site: "south" }, studies: [ct.studyUid] },
        "user:boss",
      );

      const page = await browser.newPage();
      const violations = watchCsp(page);
      // Logged out, a deep link shows the login, then the screen it named.
      await page.goto(`${base}/sites/north`);
      await shoot(page, "login");
      await logIn(page, "boss", "admin password");
      assert.equal(new URL(page.url()).pathname, "/sites/north");
      await page.locator('section[aria-label="Site north"]').waitFor();

      const study = `/studies/north/${ct.studyUid}`;
      // A shared search: its fields in the query string (CT_small.dcm, also a CT at north, is left out).
      const patientId = first(raw, "00100020")!;
      const search = `/explorer?site=north&patient=${patientId}&modality=CT`;
      // So does a shared search, query string and all.
      await page.getByRole("button", { name: "Log out" }).click();
      await page.goto(`${base}${search}`);
      await logIn(page, "boss", "admin password");
      assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, search);
      await waitForOnPage(page, `table[aria-label=Studies] tr[data-study="${ct.studyUid}"]`);
      const screens: [string, string, string][] = [
        ["dashboard", "/", 'table[aria-label=Sites] tr[data-site="north"]'],
        ["explorer", search, `table[aria-label=Studies] tr[data-study="${ct.studyUid}"]`],
        ["study", study, "section[aria-label=Study] h1"],
        ["transfers", "/transfers", `table[aria-label=Transfers] tr[data-transfer="${job}"]`],
        ["transfer", `/transfers/${job}`, `table[aria-label=Tasks] tr[data-study="${ct.studyUid}"] a`],
        ["sites", "/sites", 'table[aria-label=Sites] tr[data-site="east"]'],
        ["site", "/sites/north", 'section[aria-label="Site north"] table[aria-label="Dead letter"] tbody tr'],
        ["batch", "/batch", "input[type=file]"],
        ["admin", "/admin", "table[aria-label=Users] tr[data-user=boss]"],
      ];
      for (const [shot, path, ready] of screens) {
        await page.goto(`${base}${path}`);
        await waitForOnPage(page, ready);
        await page.reload();
        await waitForOnPage(page, ready);
        assert.equal(
          new URL(page.url()).pathname + new URL(page.url()).search,
          path,
          `${shot} keeps its URL`,
        );
        assert.doesNotMatch(
          await page.locator("body").innerText(),
          /\bissues? #?\d+/i,
          `${shot} names no issue`,
        );
        if (shot === "explorer") {
          // The form shows the search the URL holds, and the results are that search's.
          const form = page.getByRole("form", { name: "Find studies" });
          assert.equal(await form.getByLabel("Patient ID or name").inputValue(), patientId);
          assert.equal(await form.getByLabel("Modality").inputValue(), "CT");
          assert.equal(await form.getByLabel("Site").inputValue(), "north");
          await page.getByText("Page 1 of 1 (1 study)").waitFor();
          assert.equal(await page.locator("table[aria-label=Studies] tbody tr[data-study]").count(), 1);
        }
        if (shot === "transfer") {
          await page.locator('section[aria-label="Transfer detail"][data-status="success"]').waitFor({
            timeout: 60_000,
          });
        }
        if (shot === "site") {
          // The dead letter is the picture's subject: scrolled to, its Discard confirmation not asked.
          await page.getByRole("table", { name: "Dead letter" }).scrollIntoViewIfNeeded();
          assert.equal(await page.locator('table[aria-label="Dead letter"] tbody tr').count(), 3);
        }
        await shoot(page, shot);
      }
      // A site that never connected has no traffic chart, a dash like its other empty cells.
      await page.goto(`${base}/`);
      const east = page.locator('table[aria-label=Sites] tr[data-site="east"]');
      await east.waitFor();
      assert.equal(await east.locator("svg").count(), 0);
      await page.locator('table[aria-label=Sites] tr[data-site="north"] svg').waitFor();
      await page.goto(`${base}/no/such/screen`);
      await page.getByText("The console has no page at /no/such/screen").waitFor();

      // The explorer: readable names and dates; the study opens by its link, and Back returns to the search.
      await page.goto(`${base}/explorer?site=north`);
      const row = page.locator(`table[aria-label=Studies] tr[data-study="${ct.studyUid}"]`);
      await row.waitFor();
      const cells = await row.locator("td").allInnerTexts();
      assert.equal(cells[1], name);
      assert.equal(cells[3], dicomDate(date, LOCALE));
      assert.doesNotMatch(cells.join(" "), /\^|\b\d{8}\b/, "no raw PN or DA value");
      assert.equal(
        await row.getByRole("link", { name: /in the viewer$/ }).getAttribute("href"),
        `/viewer/viewer/north?StudyInstanceUIDs=${ct.studyUid}`,
      );
      await row.getByRole("link", { name: /^Open .* · / }).first().click();
      await page.locator("section[aria-label=Study] h1").waitFor();
      assert.equal(new URL(page.url()).pathname, study);
      await page.goBack();
      await row.waitFor();
      assert.equal(new URL(page.url()).search, "?site=north");
      // Its series open in a row right under it.
      await row.getByRole("button", { name: "Series" }).click();
      const under = row.locator("xpath=following-sibling::tr[1]");
      await under.locator(`table[aria-label=Series] tr[data-series="${ct.seriesUid}"]`).waitFor();
      assert.equal(await under.getAttribute("class"), "under");

      // The study page: header, series with thumbnails, UID on demand, download, viewer.
      await page.goto(`${base}${study}`);
      const header = page.locator("section[aria-label=Study]");
      assert.equal(await header.locator("h1").innerText(), name);
      assert.ok(
        (await header.locator(".subtitle").innerText()).startsWith(
          dicomDateTime(date, first(raw, "00080030"), LOCALE),
        ),
      );
      const patient = await header.getByLabel("Patient").innerText();
      assert.ok(patient.includes(dicomDate(first(raw, "00100030"), LOCALE)), patient);
      assert.ok(patient.includes(`${ageAt(first(raw, "00100030"), date)} at the study`), patient);
      assert.ok(patient.includes(sex(first(raw, "00100040"))), patient);
      assert.match(
        await header.getByLabel("Location").innerText(),
        /Site\s+north\s+Node\s+the site's archive/,
      );
      await header.getByRole("button", { name: "Show Study UID" }).click();
      assert.equal(await header.locator(".uid code").innerText(), ct.studyUid);
      const card = page.locator(`li[data-series="${ct.seriesUid}"]`);
      assert.match(await card.innerText(), /#\d+ CT[\s\S]*2 objects/);
      // Every series shows its thumbnail, made at the site (the hub's DICOMweb thumbnail).
      await card.locator("img[data-loaded=yes]").waitFor();
      const width = await card.locator("img").evaluate((i) =>
        (i as unknown as { naturalWidth: number }).naturalWidth
      );
      assert.ok(width > 0);
      assert.equal(await page.getByLabel("No thumbnail").count(), 0);
      // An image the site cannot decode (an RLE header pointing past its data): the placeholder says why, as the
      // hub's answer does (until 2026-12-07 a bare placeholder, QA 35b).
      const broken = await brokenRle(dir);
      assert.equal((await storescu([broken.file], north)).code, 0);
      await page.goto(`${base}/studies/north/${broken.studyUid}`);
      assert.match(
        await page.locator("li.series-card .thumb-reason").innerText({ timeout: 20_000 }),
        /^No thumbnail: the site answered: .*the frame does not decode: RleDecoder/,
      );
      await page.goto(`${base}${study}`);
      const viewer = await header.getByRole("link", { name: "Open in viewer" }).getAttribute("href");
      assert.equal(viewer, `/viewer/viewer/north?StudyInstanceUIDs=${ct.studyUid}`);
      const download = header.getByRole("link", { name: "Download (zip)" });
      assert.match((await download.getAttribute("download"))!, /\.zip$/);
      const zip = await page.request.get(`${base}${await download.getAttribute("href")}`);
      assert.equal(zip.status(), 200);
      assert.equal(zip.headers()["content-type"], "application/zip");
      assert.equal(new TextDecoder().decode((await zip.body()).subarray(0, 4)), "PK\x03\x04");
      // Transfer from the study page: the source and pending sites are not destinations.
      await header.getByRole("button", { name: "Transfer…" }).click();
      const options = await header.getByLabel("Destination").locator("option").allInnerTexts();
      assert.deepEqual(options, ["Choose a site", "south"]);

      // Both copies of the study (north's, and south's from the transfer): whichever site the selection
      // comes from is not a destination, even when it was chosen as one before the selection changed.
      await page.goto(`${base}/explorer?site=all`);
      const copy = (site: string) =>
        page.locator(`table[aria-label=Studies] tr[data-study="${ct.studyUid}"][data-site="${site}"]`);
      await copy("south").waitFor();
      const dialog = page.getByRole("form", { name: "Transfer" });
      const transfer = dialog.getByRole("button", { name: "Transfer", exact: true });
      const selection = dialog.getByLabel("Selection");
      assert.equal(await selection.innerText(), "Select studies above to transfer them.");
      await copy("north").getByRole("checkbox").check();
      assert.equal(await selection.innerText(), "1 study selected");
      await dialog.getByLabel("Destination").selectOption("south");
      assert.ok(await transfer.isEnabled());
      await copy("north").getByRole("checkbox").uncheck();
      await copy("south").getByRole("checkbox").check();
      assert.deepEqual(await dialog.getByLabel("Destination").locator("option").allInnerTexts(), [
        "Choose a site",
        "north",
      ]);
      assert.equal(await dialog.getByLabel("Destination").inputValue(), "");
      assert.ok(await transfer.isDisabled(), "south, now the source, is no longer the destination");

      // Admin: a new API token's secret in a dialog with a copy button; the form is cleared.
      await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
      await page.goto(`${base}/admin`);
      const tokenForm = page.locator("form", { has: page.getByRole("button", { name: "Create token" }) });
      await tokenForm.getByLabel("Name").fill("nightly export");
      await tokenForm.getByLabel("Role").selectOption("operator");
      await tokenForm.getByRole("button", { name: "Create token" }).click();
      const secret = page.getByRole("dialog", { name: "API token nightly export" });
      await secret.waitFor();
      const shown = await secret.locator(".secret code").innerText();
      await secret.getByRole("button", { name: "Copy the token" }).click();
      await secret.getByText("Copied").waitFor();
      const clipboard = await page.evaluate(() =>
        (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator
          .clipboard.readText()
      );
      assert.equal(clipboard, shown);
      const byToken = await fetch(`${base}/dicomweb/sites/north/studies`, {
        headers: { authorization: `Bearer ${shown}` },
      });
      assert.equal(byToken.status, 200, "the token shown is the token made");
      await byToken.body?.cancel();
      await secret.getByRole("button", { name: "Close" }).click();
      assert.equal(await secret.count(), 0);
      assert.equal(await tokenForm.getByLabel("Name").inputValue(), "");
      assert.equal(await tokenForm.getByLabel("Role").inputValue(), "viewer");
      await page.locator("table[aria-label=Tokens] tr", { hasText: "nightly export" }).getByText("operator")
        .waitFor();
      // The audit log in words: who (a user by name), what, a link to what it was done to, and the detail.
      const started = page.locator("table[aria-label=Audit] tr", { hasText: "Started the transfer" });
      const entry = await started.locator("td").allInnerTexts();
      assert.deepEqual(entry.slice(1, 4), ["boss", "Started the transfer", job]);
      assert.match(entry[4], /^source \S+, destination \S+, studies 1/, "its detail in words");
      assert.equal(await started.getByRole("link").getAttribute("href"), `/transfers/${job}`);
      await page.locator("table[aria-label=Audit] tr", { hasText: "Created the API token" })
        .filter({ hasText: "boss" }).waitFor();

      // The transfer names its study as the source knows it.
      await page.goto(`${base}/transfers/${job}`);
      const task = page.locator(`table[aria-label=Tasks] tr[data-study="${ct.studyUid}"]`);
      await task.getByRole("link").waitFor();
      assert.equal(
        await task.getByRole("link").innerText(),
        studyTitle({
          patientName: raw["00100010"].Value![0] as string,
          date,
          description: first(raw, "00081030"),
        }, LOCALE),
      );
      assert.match(await page.locator('section[aria-label="Transfer detail"] h2').innerText(), /Done$/);

      // A narrow screen does not scroll sideways, and its tables scroll in their box rather than breaking
      // their words a letter a line.
      await page.setViewportSize({ width: 390, height: 844 });
      // Each screen checked once all it asked the hub for has come and been drawn, not only its first part.
      const requests = watchRequests(page);
      const fitsNarrow = async (what: string) => {
        await requests.settled(what);
        assert.deepEqual(await brokenWords(page), [], `${what}: words broken across lines`);
        const [scroll, inner] = await page.evaluate(() => {
          const d = globalThis as unknown as {
            document: { documentElement: { scrollWidth: number } };
            innerWidth: number;
          };
          return [d.document.documentElement.scrollWidth, d.innerWidth];
        });
        assert.ok(scroll <= inner + 1, `${what} is ${scroll}px wide in a ${inner}px window`);
      };
      for (const [, path, ready] of screens) {
        await page.goto(`${base}${path}`);
        await waitForOnPage(page, ready);
        await fitsNarrow(path);
      }
      // The batch preview's table too (a row with an error is its widest).
      await page.goto(`${base}/batch`);
      await page.getByLabel("File").setInputFiles({
        name: "rows.csv",
        mimeType: "text/csv",
        buffer: Buffer.from("Patient ID,Study Date,Modality\nPAT0001,yesterday,CT\n"),
      });
      await page.locator('table[aria-label=Rows] tr[data-row="2"]').waitFor();
      await fitsNarrow("/batch with a preview");
      // The transfer dialog pseudonymizing, its custom profile open: a label beside a wide control (Profile, Or
      // load a file) goes above it rather than one letter a line, and the control fits the width.
      await page.goto(`${base}/explorer?site=north`);
      await page.locator("table[aria-label=Studies] tbody tr[data-study] input[type=checkbox]").first()
        .check();
      const transferForm = page.getByRole("form", { name: "Transfer" });
      await transferForm.getByLabel("Pseudonymize at the source").check();
      await transferForm.getByText("Custom profile", { exact: true }).click();
      await transferForm.getByLabel("Or load a file").waitFor();
      await fitsNarrow("/explorer's transfer dialog, pseudonymizing");
      await page.goto(`${base}/studies/north/${CT_SMALL_STUDY}`);
      await page.locator("section[aria-label=Study] h1").waitFor();
      // The thumbnail below the fold loads lazily: let it, for the picture.
      await page.locator("li[data-series] img").scrollIntoViewIfNeeded();
      await page.locator("li[data-series] img[data-loaded=yes]").waitFor();
      await page.mouse.wheel(0, -10_000);
      await shoot(page, "study-narrow");
      await page.setViewportSize({ width: 1366, height: 800 });
      await page.goto(`${base}/studies/north/${CT_SMALL_STUDY}`);
      await page.locator("li[data-series] .thumb > *").first().waitFor();
      await requests.settled("the study page"); // its thumbnail fetched and drawn
      await shoot(page, "study");

      // A big job's page: its studies a page at a time, named by the source, with the pager and its filter.
      const big = await bigJob(hub, { site: "north", port: north.port, aet: north.aet }, "south", {
        id: "job-big",
        seed: "screens-big",
        studies: 130,
        failEvery: 6,
      });
      await page.goto(`${base}/transfers/${big.id}`);
      const pager = page.getByRole("navigation", { name: "Pages of studies" });
      await pager.getByText("Studies 1–100 of 130 studies").waitFor();
      assert.deepEqual(await pager.getByLabel("Show").locator("option").allInnerTexts(), [
        "All studies",
        `Failed (${big.failed})`,
        `Done (${130 - big.failed})`,
      ]);
      await page.locator("table[aria-label=Tasks] tbody tr").first().getByRole("link").waitFor();
      await page.setViewportSize({ width: 390, height: 844 });
      await fitsNarrow(`/transfers/${big.id}`);
      await page.setViewportSize({ width: 1366, height: 800 });
      await pager.scrollIntoViewIfNeeded();
      await shoot(page, "job");
      assert.deepEqual(violations, [], "no Content-Security-Policy violation");

      // A study's series that cannot be listed (its site went offline after the search) say why, instead
      // of loading for ever.
      await page.goto(`${base}/explorer?site=south`);
      const atSouth = page.locator(`table[aria-label=Studies] tr[data-study="${ct.studyUid}"]`);
      await atSouth.waitFor();
      await page.getByText("Page 1 of 1 (1 study)").waitFor();
      await south.stop();
      await eventually("south offline", () => !hub.sessions.get("south") || undefined);
      await atSouth.getByRole("button", { name: "Series" }).click();
      const failed = atSouth.locator("xpath=following-sibling::tr[1]").getByRole("alert");
      await failed.waitFor({ timeout: 15_000 });
      assert.match(await failed.innerText(), /^Cannot list the series: /);
    });
  },
});

/**
 * pydicom's RGB RLE object with its frame's segments made of literal runs (0x7F: copy the next 128 bytes) to
 * the fragment's end: the last run reads past its input, so the site stores the object and cannot decode it.
 */
async function brokenRle(dir: string): Promise<{ file: string; studyUid: string }> {
  const bytes = await Deno.readFile(path.join(PYDICOM_TEST_FILES_DIR, "SC_rgb_rle.dcm"));
  // (7FE0,0010) OB of undefined length, then the Basic Offset Table's item, then the first fragment's.
  const pixel = Buffer.from(bytes).indexOf(
    Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]),
  );
  assert.ok(pixel > 0, "pixel data found");
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const bot = pixel + 12;
  const item = bot + 8 + view.getUint32(bot + 4, true);
  const fragment = item + 8;
  bytes.fill(0x7f, fragment + 64, fragment + view.getUint32(item + 4, true));
  const file = path.join(dir, "broken-rle.dcm");
  await Deno.writeFile(file, bytes);
  return { file, studyUid: "1.2.826.0.1.3680043.8.498.12406831542731051035295345080039845114" };
}

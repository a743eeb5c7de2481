/**
 * The central team's everyday tasks in the console, in Chromium (Playwright) against a real hub and real
 * agents, where a careless click, a long day or an offline site goes wrong.
 *
 * First test (north and south, Orthanc as north's node): DICOM values carrying HTML are shown as text, never
 * run; a name is found by its start and as the console writes it; a double click on Transfer, Cancel or Start
 * (batch) acts once; a session that ends while the console is open shows the login, then the same screen; a
 * failed search leaves no stale results; jobs past the newest 50 are on the next pages; a job whose source is
 * offline says so; Objects says when there are none; a batch transfer's destination is chosen, never its
 * source; a batch has its URL and counts a study found twice once; a study of an offline site and links to
 * unknown batches and jobs say why.
 *
 * Second test (Orthanc as north's PACS; the first test's rig): the explorer finds a study on that node (not
 * in north's archive), and the study is transferred from that node.
 *
 * Third test (north, 27 studies; a rig of its own): sorting both ways, a page past the last, a source going
 * offline mid-transfer, the audit log's pages, a double click on Create token and Add site, a new login in
 * another tab, and a name for every control.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Page, Request } from "playwright-core";
import { hasChromium, LOCALE, logIn, unnamedControls, watchRequests } from "../support/browser.ts";
import { storescu } from "../support/send.ts";
import { eventually, startTestHub } from "../support/hub.ts";
import { type ConsoleRig, type ConsoleUser, startConsole, withConsole } from "../support/console_rig.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { writeInstances } from "../tools/generate.ts";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { createConduitClient } from "../../hub/client/mod.ts";
import { dicomDate } from "../../ui/src/format.ts";
import { hasTool, ORTHANC_BIN, type OrthancPeer, skipReason, startOrthanc } from "../support/peers.ts";

const skip = hasChromium() ? skipReason("storescu") : "chromium not installed";
if (skip) console.warn(`tasks_test: skipped: ${skip}`);

/** A Patient's Name and a Study Description that are HTML: the console must show them as text. */
const EVIL_NAME = `<i>EVE</i>^<u>X</u>`;
const EVIL_DESCRIPTION = `<img src=x onerror="globalThis.xss=1"><script>xss=2</script>`;
/** Elements an HTML-reading console would have made of them. */
const MADE = "main i, main u, main img[src=x], main script";

/**
 * Counts the changes `page` asks the hub for (tRPC mutations: POST /trpc) from now on. `answered` resolves once
 * one was asked and every one asked has its answer, and the page has run what it does with them: after a
 * double click, what the second click sent (if anything) has reached the hub and come back.
 */
function changesAsked(page: Page): { answered(): Promise<void> } {
  let asked = 0;
  let ended = 0;
  const isChange = (r: Request) => r.method() === "POST" && new URL(r.url()).pathname.startsWith("/trpc");
  const onAsked = (r: Request) => void (isChange(r) && asked++);
  const onEnded = (r: Request) => void (isChange(r) && ended++);
  page.on("request", onAsked);
  page.on("requestfinished", onEnded);
  page.on("requestfailed", onEnded);
  return {
    async answered() {
      await eventually("the page's changes answered", () => (asked > 0 && ended === asked) || undefined);
      page.off("request", onAsked);
      page.off("requestfinished", onEnded);
      page.off("requestfailed", onEnded);
      // A frame of the page's own: its script has handled the answers and drawn what they made.
      await page.evaluate(() =>
        new Promise((r) =>
          (globalThis as unknown as { requestAnimationFrame(f: () => void): void }).requestAnimationFrame(
            () => setTimeout(r),
          )
        )
      );
    },
  };
}

/** Waits for the explorer's search to end (its Search button is disabled while it runs). */
async function searched(page: Page): Promise<void> {
  await page.locator('form[aria-label="Find studies"] button[type=submit]:enabled').waitFor();
}

/** The first and the second test's rig (one for both): what the tests get. */
interface NodeRig {
  rig: ConsoleRig;
  stop(): Promise<unknown[]>;
  /** North's node `pacs`, where Orthanc is installed (the second test needs it). */
  orthanc?: OrthancPeer;
}

/** The operator of the second test: the first added "ops" to the same hub. */
const NODE_OPS: ConsoleUser = { name: "ops-node", role: "operator", password: "operator password" };

/**
 * One console rig for the first and the second test (they need no fresh hub: the second names its own study
 * and user): Orthanc as north's node `pacs` (where installed), started while the rig starts, south and north
 * started with the hub (north's reconnect backoff capped at 1 s: the second test waits for it to come back to
 * a restarted hub), both online, and Playwright's clock in the browser (time flows as it does), which the
 * tests move on to a screen's next refresh (every 5 s) instead of waiting for it.
 */
const nodeRig = sharedRig<NodeRig>({
  skip,
  async setUp() {
    const orthancStarting = hasTool(ORTHANC_BIN)
      ? Deno.makeTempDir({ prefix: "tasks-orthanc-" }).then((storageDir) => startOrthanc({ storageDir }))
      : Promise.resolve(undefined);
    orthancStarting.catch(() => {}); // its failure is the set-up's, when awaited below
    const north = orthancStarting.then((orthanc) => ({
      aet: "NORTH",
      config: {
        ...(orthanc
          ? { nodes: { pacs: { aet: orthanc.aet, host: "127.0.0.1", port: orthanc.port, retrieve: "get" } } }
          : {}),
        hub: { reconnectCapSeconds: 1 },
      },
    }));
    try {
      const started = await startConsole({ sites: { south: { aet: "SOUTH" }, north } });
      try {
        await started.rig.northAndSouth();
        await started.rig.browser.clock.install();
      } catch (e) {
        await started.stop();
        throw e;
      }
      return { ...started, orthanc: await orthancStarting };
    } catch (e) {
      await (await orthancStarting.catch(() => undefined))?.stop();
      throw e;
    }
  },
  async stop({ stop, orthanc }) {
    const failures = await stop();
    await orthanc?.stop(); // the second test stops it once already
    if (failures.length) throw failures[0];
  },
});

nodeRig.test(
  "console tasks: one job per double click, an ended session logs in again in place, HTML as text",
  async ({ rig: { hub, browser, sites: { north } } }) => {
    const dir = await Deno.makeTempDir({ prefix: "tasks-" });
    const specs = [...generateStudies({
      seed: "tasks",
      patients: 1,
      studiesPerPatient: 1,
      series: [{ modality: "CT", instances: 1 }],
      rows: 32,
      columns: 32,
    })].map((s) => ({ ...s, patientName: EVIL_NAME, studyDescription: EVIL_DESCRIPTION }));
    const study = await writeInstances(dir, specs);
    assert.equal((await storescu(study.paths, north)).code, 0);
    await hub.users.add("ops", "operator", "operator password");
    const base = `http://127.0.0.1:${hub.port}`;
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on("dialog", (d) => (dialogs.push(d.message()), d.dismiss()));

    await page.goto(`${base}/explorer?site=north`);
    await logIn(page, "ops", "operator password");
    const row = page.locator(`table[aria-label=Studies] tr[data-study="${study.studyUid}"]`);
    await row.waitFor();

    // HTML in DICOM values is text: shown as written, no element made of it, nothing run.
    assert.match(await row.innerText(), /<i>EVE<\/i>, <u>X<\/u>/);
    assert.match(await row.innerText(), /<img src=x onerror="globalThis.xss=1"><script>xss=2<\/script>/);
    assert.equal(await page.locator(MADE).count(), 0);
    await page.goto(`${base}/studies/north/${study.studyUid}`);
    await page.locator("section[aria-label=Study] h1").waitFor();
    assert.match(
      await page.locator("section[aria-label=Study] h1").innerText(),
      /^<i>EVE<\/i>, <u>X<\/u>$/,
    );
    assert.equal(await page.locator(MADE).count(), 0);
    assert.equal(await page.evaluate(() => (globalThis as { xss?: number }).xss), undefined);
    await page.goBack();
    await row.waitFor();

    // A name is found by its start, and as the console writes it (copied from a page), in any case.
    for (const typed of ["<i>eve</i>", "<i>EVE</i>, <u>X</u>"]) {
      await page.getByLabel("Patient ID or name").fill(typed);
      await page.getByRole("button", { name: "Search" }).click();
      await page.waitForURL((u) => u.searchParams.get("patient") === typed);
      await searched(page);
      assert.equal(await row.count(), 1, `${typed} finds the study`);
    }

    // Modalities as people write a list of them: any of them matches.
    for (const typed of ["ct, mr", "MR CT", "MR/CT"]) {
      await page.goto(`${base}/explorer?site=north&modality=${encodeURIComponent(typed)}`);
      await page.locator("table[aria-label=Studies], p.empty").first().waitFor();
      await searched(page);
      assert.equal(await row.count(), 1, `modality "${typed}" finds the CT study`);
    }
    await page.goto(`${base}/explorer?site=north`);
    await row.waitFor();

    // A study selected, its page opened to look at it, Back: still selected.
    await row.getByRole("checkbox").check();
    await row.getByRole("link", { name: /^Open / }).first().click();
    await page.locator("section[aria-label=Study] h1").waitFor();
    await page.goBack();
    await row.waitFor();
    await searched(page);
    assert.ok(await row.getByRole("checkbox").isChecked(), "the selection survives a look at the study");
    assert.match(await page.getByLabel("Selection").innerText(), /^1 study selected/);

    // A double click on Transfer (an impatient user, a bouncy mouse) starts one job.
    await page.getByLabel(/^Select all 1 study/).check();
    await page.getByLabel("Destination").selectOption("south");
    const transferAsked = changesAsked(page);
    await page.getByRole("button", { name: "Transfer", exact: true }).dblclick();
    await page.locator('section[aria-label="Transfer detail"]').waitFor();
    await transferAsked.answered(); // a second job, if any, is made by now
    const jobs = await hub.transfers.list();
    assert.equal(jobs.length, 1, `one job per double click, not ${jobs.length}`);
    await page.locator('section[aria-label="Transfer detail"][data-status="success"]').waitFor({
      timeout: 60_000,
    });
    // The job's page names the study as the source lists it, as text (once the page's lookup of its studies,
    // made after the tasks show, has answered: until then the task shows the study's UID).
    const named = /<i>EVE<\/i>, <u>X<\/u> · .* · <img src=x/;
    await page.locator("table[aria-label=Tasks]", { hasText: named }).waitFor({ timeout: 15_000 });
    assert.match(await page.locator("table[aria-label=Tasks]").innerText(), named);
    assert.equal(await page.locator(MADE).count(), 0);

    // The session ends while the console is open: the next call shows the login, not the hub's refusal.
    const search = `/explorer?site=north&modality=CT`;
    await page.goto(`${base}${search}`);
    await row.waitFor();
    await hub.users.setDisabled("ops", true);
    await hub.users.setDisabled("ops", false);
    await page.getByRole("button", { name: "Search" }).click();
    await page.getByRole("button", { name: "Log in" }).waitFor({ timeout: 10_000 });
    assert.match(await page.locator("body").innerText(), /Your session has ended/);
    assert.doesNotMatch(await page.locator("body").innerText(), /Bearer|API token/);
    await logIn(page, "ops", "operator password");
    assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, search, "the same screen");
    await row.waitFor();
    assert.equal(await page.getByRole("alert").filter({ hasText: /\w/ }).count(), 0, "no error left");

    // A long list: past the newest 50 jobs, older ones are a page away (`?page=2`), not out of reach.
    const [first] = jobs;
    await hub.registry.enroll((await hub.registry.add("west")).enrollmentToken); // enrolled, offline
    const fromWest: string[] = [];
    for (let i = 0; i < 55; i++) {
      const { id } = await hub.transfers.create(
        {
          source: { site: "west" },
          destination: { site: "south" },
          studies: [`1.2.826.0.1.3680043.9.${i}`],
        },
        "user:ops",
      );
      fromWest.push(id);
    }
    await page.goto(`${base}/transfers`);
    const listed = page.locator("table[aria-label=Transfers] tbody tr");
    await listed.first().waitFor();
    assert.equal(await listed.count(), 50);
    assert.equal(
      await page.locator(`tr[data-transfer="${first.id}"]`).count(),
      0,
      "the oldest is not on page 1",
    );
    const pages = page.getByRole("navigation", { name: "Pages of transfers" });
    assert.ok(await pages.getByRole("button", { name: "Newer" }).isDisabled());
    await pages.getByRole("button", { name: "Older" }).click();
    await page.locator(`tr[data-transfer="${first.id}"]`).waitFor();
    assert.equal(await listed.count(), 6);
    assert.equal(new URL(page.url()).search, "?page=2");
    assert.match(await pages.innerText(), /Page 2: transfers 51–56/);
    assert.ok(await pages.getByRole("button", { name: "Older" }).isDisabled());
    await page.reload();
    await page.locator(`tr[data-transfer="${first.id}"]`).waitFor();
    await page.goBack();
    await listed.nth(49).waitFor();
    assert.equal(await page.locator(`tr[data-transfer="${first.id}"]`).count(), 0, "Back: page 1 again");
    // The list follows its jobs while it is open: one canceled elsewhere reads Canceled without a reload.
    const newest = page.locator(`tr[data-transfer="${fromWest.at(-1)}"]`);
    assert.match(await newest.innerText(), /Waiting to start/);
    await hub.transfers.cancel(fromWest.at(-1)!, "user:ops");
    await page.clock.fastForward(5_000); // the list's next refresh, now
    await newest.getByText("Canceled").waitFor({ timeout: 15_000 });

    // The batch template downloads as a CSV of the columns alone (after UTF-8's byte order mark, so that Excel
    // reads it as UTF-8), which the screen takes once filled in, names in other scripts and all.
    await page.goto(`${base}/batch`);
    const [template] = await Promise.all([
      page.waitForEvent("download"),
      page.getByRole("button", { name: "Download a template (CSV)" }).click(),
    ]);
    assert.equal(template.suggestedFilename(), "batch-template.csv");
    const columns = await Deno.readFile((await template.path())!);
    assert.deepEqual([...columns.slice(0, 3)], [0xef, 0xbb, 0xbf]);
    assert.match(new TextDecoder().decode(columns), /^Patient ID,Patient Name,.*,Pseudonym\r\n$/);
    await page.getByLabel("File").setInputFiles({
      name: "filled.csv",
      mimeType: "text/csv",
      buffer: Buffer.concat([columns, Buffer.from("PAT0001,Müller^山田,,,,,,,\r\n")]),
    });
    await page.locator('table[aria-label=Rows] tr[data-row="2"]').waitFor();
    assert.match(await page.locator("table[aria-label=Rows]").innerText(), /PAT0001[^]*Müller\^山田/);

    // Batch transfer: the destination is chosen, never the source; a double click on Start starts one
    // batch; the batch has its URL (a reload shows it); the same study found by two rows is one study.
    await page.goto(`${base}/batch`);
    await page.getByLabel("File").setInputFiles({
      name: "twice.csv",
      mimeType: "text/csv",
      buffer: Buffer.from("Patient ID\nPAT0001\nPAT0001\n"),
    });
    await page.locator('table[aria-label=Rows] tr[data-row="3"]').waitFor();
    await page.getByLabel("Kind").selectOption("transfer");
    const start = page.getByRole("button", { name: "Start" });
    assert.ok(await start.isDisabled(), "a transfer waits for its source");
    await page.getByLabel("Site (source)").selectOption("north");
    const destination = page.getByLabel("Destination");
    assert.equal(await destination.inputValue(), "", "no destination chosen for the user");
    assert.equal(await destination.locator("option[value=north]").count(), 0, "never the source");
    assert.ok(await start.isDisabled(), "a transfer waits for its destination");
    await destination.selectOption("south");
    await start.dblclick();
    const result = page.getByLabel("Batch result");
    await result.getByText("done").waitFor({ timeout: 30_000 });
    assert.match(new URL(page.url()).search, /^\?id=\w+$/, "the batch has its URL");
    assert.match(await result.innerText(), /2 rows, 1 study found, 0 rows with an error/);
    await page.reload();
    await result.getByText("done").waitFor({ timeout: 30_000 });
    await result.getByRole("button", { name: "Open the transfer" }).waitFor();
    // The results download as a file, one line per row that found the study.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      result.getByRole("button", { name: "Download CSV" }).click(),
    ]);
    const csvText = await Deno.readTextFile((await download.path())!);
    assert.equal(csvText.split(/\r?\n/).filter((l) => l.includes(study.studyUid)).length, 2, csvText);
    assert.match(download.suggestedFilename(), /^batch-\w+\.csv$/);
    // A long batch is canceled after a confirmation: it says so, keeps its results, and the list too.
    await page.goto(`${base}/batch`);
    await page.getByLabel("File").setInputFiles({
      name: "long.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(
        ["Patient ID", ...Array.from({ length: 20_000 }, (_, i) => `NOBODY${i}`)].join("\n"),
      ),
    });
    await page.locator('table[aria-label=Rows] tr[data-row="2"]').waitFor();
    await page.getByLabel("Kind").selectOption("query");
    await page.getByLabel("Site (source)").selectOption("north");
    await page.getByRole("button", { name: "Start" }).click();
    const long = page.locator('[aria-label="Batch result"][data-status="running"]');
    await long.getByRole("button", { name: "Cancel" }).click();
    const ask = page.getByRole("alertdialog", { name: "Cancel the batch of 20000 rows from long.csv?" });
    await ask.getByRole("button", { name: "Keep it running" }).click();
    assert.equal(await long.count(), 1, "dismissed: still running");
    await long.getByRole("button", { name: "Cancel" }).click();
    await ask.getByRole("button", { name: "Cancel the batch" }).click();
    const canceled = page.locator('[aria-label="Batch result"][data-status="canceled"]');
    await canceled.waitFor({ timeout: 15_000 });
    assert.match(await canceled.innerText(), /long\.csv: canceled, 20000 rows/);
    await canceled.getByRole("button", { name: "Download CSV" }).waitFor();
    await page.locator("table[aria-label=Batches] tr", { hasText: "long.csv" }).getByText("Canceled")
      .waitFor({ timeout: 15_000 });

    // A study of an offline site: its page says the site cannot be asked, and the rest of it works.
    await page.goto(`${base}/studies/west/1.2.826.0.1.3680043.9.1`);
    await page.getByRole("alert").filter({ hasText: /^Cannot read the study at west: .*offline/ })
      .waitFor();
    assert.equal(await page.getByText("This screen failed").count(), 0);
    await page.getByRole("link", { name: "Explorer" }).first().waitFor();

    // A link to a batch the hub does not know says so, and the screen still works.
    await page.goto(`${base}/batch?id=0000`);
    await page.getByRole("alert").filter({ hasText: "no batch 0000" }).waitFor({ timeout: 10_000 });
    await page.getByLabel("File").waitFor();
    await page.goto(`${base}/transfers/0000`);
    await page.getByRole("alert").filter({ hasText: "no transfer 0000" }).waitFor({ timeout: 10_000 });
    await page.locator("table[aria-label=Transfers]").waitFor();
    const fromNorth = (await hub.transfers.list(1000)).filter((j) => j.source.site === "north");
    assert.equal(fromNorth.length, 2, `one batch per double click: ${fromNorth.length - 1} transfers made`);

    // A search that fails (a site offline) leaves no results of the search before it on the screen.
    await page.goto(`${base}/explorer?site=north`);
    await row.waitFor();
    await page.locator("select[name=site]").selectOption("west");
    await page.getByRole("button", { name: "Search" }).click();
    await searched(page);
    await page.getByRole("alert").filter({ hasText: /west/ }).waitFor();
    assert.equal(await row.count(), 0, "no stale results under the error");

    // A job whose source is offline says so, and does not claim its studies are gone from the source.
    await page.goto(`${base}/transfers/${fromWest[0]}`);
    const detail = page.locator('section[aria-label="Transfer detail"]');
    await detail.getByText("west, the source, is offline").waitFor();
    assert.match(await detail.innerText(), /nothing leaves it until its agent connects again/);
    await detail.getByText(/Not named: west cannot be asked now \(.+\)/).waitFor();
    assert.doesNotMatch(await detail.innerText(), /does not list/);
    // A double click on the confirmation's Cancel the transfer cancels once (one audit entry).
    await detail.getByRole("button", { name: "Cancel" }).click();
    const cancelAsked = changesAsked(page);
    await page.getByRole("alertdialog").getByRole("button", { name: "Cancel the transfer" }).dblclick();
    await page.locator('section[aria-label="Transfer detail"][data-status="canceled"]').waitFor();
    await cancelAsked.answered();
    const admin = createConduitClient({ url: base, token: (await hub.tokens.create("qa", "admin")).token });
    const cancels = (await admin.audit.list.query({ limit: 1000 }))
      .filter((a) => a.action === "transfer.cancel" && a.target === fromWest[0]);
    assert.equal(cancels.length, 1, `one cancel per double click, not ${cancels.length}`);

    // Objects of a study the source has none of for the job say so, and the button closes them again.
    const { id: nothing } = await hub.transfers.create(
      { source: { site: "north" }, destination: { site: "south" }, studies: ["1.2.826.0.1.3680043.9.999"] },
      "user:ops",
    );
    await page.goto(`${base}/transfers/${nothing}`);
    const objectsButton = page.locator("table[aria-label=Tasks]").getByRole("button", { name: "Objects" });
    await objectsButton.click();
    await detail.getByText("None in north's queue for this job").waitFor();
    assert.equal(await objectsButton.getAttribute("aria-expanded"), "true");
    await objectsButton.click();
    await detail.getByText("None in north's queue for this job").waitFor({ state: "detached" });
    assert.equal(await objectsButton.getAttribute("aria-expanded"), "false");
    assert.deepEqual(dialogs, [], "no alert() made of a DICOM value");
    await page.close(); // the rig's next test opens pages of its own
  },
);

nodeRig.test(
  "console: a study on a site's node (its PACS) is transferred from that node, and named from it",
  async ({ rig, orthanc }) => {
    assert.ok(orthanc, "Orthanc, north's node");
    const { browser } = rig;
    let hub = rig.hub;
    // Logged out after the rig's earlier test: this one logs in as a user of its own.
    await browser.clearCookies();
    // The study is on north's PACS only, not in north's own archive.
    const specs = [...generateStudies({
      seed: "tasks-node",
      patients: 1,
      studiesPerPatient: 1,
      series: [{ modality: "MR", instances: 3 }],
      rows: 16,
      columns: 16,
    })].map((s) => ({ ...s, patientId: "NODE0001" })); // not the patient of the rig's earlier test
    const [spec] = specs;
    for (const s of specs) {
      const put = await orthanc.rest("/instances", {
        method: "POST",
        body: generateInstance(s) as Uint8Array<ArrayBuffer>,
      });
      assert.equal(put.status, 200, await put.text());
    }
    const base = `http://127.0.0.1:${hub.port}`;
    // The explorer searches north's PACS when asked to (the study is not in north's archive).
    const page = await rig.pageAs("/explorer", NODE_OPS);
    // Before any search, the explorer says how to list everything instead of showing a blank page.
    await page.getByText("Search with every field empty to list all the studies there").waitFor();
    const form = page.getByRole("form", { name: "Find studies" });
    await form.getByLabel("Site").selectOption("north");
    await form.getByLabel("Where").locator("option", { hasText: "node pacs" }).waitFor({
      state: "attached",
    });
    await form.getByLabel("Patient ID or name").fill(spec.patientId);
    await form.getByRole("button", { name: "Search" }).click();
    await page.getByText("No study matches; widen the search.").waitFor();
    await form.getByLabel("Where").selectOption("pacs");
    await form.getByRole("button", { name: "Search" }).click();
    const found = page.locator(`table[aria-label=Studies] tr[data-study="${spec.studyInstanceUid}"]`);
    await found.waitFor();
    assert.equal(new URL(page.url()).searchParams.get("node"), "pacs", "the node is in the search's URL");
    assert.equal(await found.locator("td").nth(7).innerText(), "north / pacs");
    assert.equal(
      await found.getByRole("link").getAttribute("href"),
      `/studies/north/${spec.studyInstanceUid}?node=pacs`,
    );
    assert.equal(
      await found.getByRole("link", { name: /in the viewer$/ }).count(),
      0,
      "no viewer on a node",
    );
    await found.getByRole("button", { name: "Series" }).click();
    const seriesRow = page.locator(
      `table[aria-label=Series] tr[data-series="${spec.seriesInstanceUid}"]`,
    );
    await seriesRow.waitFor();
    assert.equal(
      await seriesRow.locator("td").nth(1).innerText(),
      "MR",
      "the series as the node lists it",
    );

    await page.goto(`${base}/studies/north/${spec.studyInstanceUid}?node=pacs`);
    await page.locator("section[aria-label=Study] h1").waitFor();
    await page.getByRole("button", { name: "Transfer…" }).click();
    await page.getByLabel("Destination").selectOption("south");
    await page.getByRole("button", { name: "Transfer", exact: true }).click();
    const detail = page.locator('section[aria-label="Transfer detail"]');
    await detail.waitFor();
    assert.match(await detail.locator("h2").innerText(), /^north \/ pacs → south/);
    await page.locator('section[aria-label="Transfer detail"][data-status="success"]').waitFor({
      timeout: 60_000,
    });
    const [job] = await hub.transfers.list();
    assert.deepEqual(job.source, { site: "north", node: "pacs" });
    assert.deepEqual([job.totals.objects, job.totals.done], [3, 3], "the whole study, from the PACS");
    // The study is named as the node lists it, and links to its page there.
    const link = page.locator(`table[aria-label=Tasks] tr[data-study="${spec.studyInstanceUid}"] a`);
    await link.waitFor();
    assert.equal(
      await link.getAttribute("href"),
      `/studies/north/${spec.studyInstanceUid}?node=pacs`,
    );

    // A file with nothing to search says so (Start stays disabled, and why is written).
    await page.goto(`${base}/batch`);
    const preview = page.getByLabel("Preview");
    for (
      const [content, says] of [
        ["Patient ID\n", /^The file has no rows below its header: nothing to search\.$/],
        ["Patient ID,Study Date\nP1,yesterday\n", /^1 row, every one with an error: nothing to search\./],
      ] as const
    ) {
      await page.getByLabel("File").setInputFiles({
        name: "empty.csv",
        mimeType: "text/csv",
        buffer: Buffer.from(content),
      });
      await preview.locator("p", { hasText: says }).waitFor();
      assert.ok(await page.getByRole("button", { name: "Start" }).isDisabled());
    }

    // A batch file too big for the hub is refused in words, before it is sent.
    await page.goto(`${base}/batch`);
    // Given to Chromium as a file on disk, which it reads itself: 38 MB as a buffer went through
    // Playwright's protocol in base64 (over 30 s on a loaded CI machine).
    const bigFile = `${await Deno.makeTempDir({ prefix: "tasks-big-" })}/big.csv`;
    await Deno.writeFile(bigFile, Buffer.alloc(38_000_000, "P\n"));
    await page.getByLabel("File").setInputFiles(bigFile, { timeout: 120_000 });
    const refusal = page.getByRole("alert").filter({ hasText: /\w/ });
    await refusal.waitFor({ timeout: 30_000 });
    assert.match(await refusal.innerText(), /^big\.csv is 38\.0 MB: a batch file may be up to 37\.5 MB/);

    // The hub restarts under a dashboard and a transfer list left open: each says so, keeps what it
    // showed, and comes back.
    await page.goto(`${base}/`);
    await page.locator('table[aria-label=Sites] tr[data-site="north"]').waitFor();
    const list = await browser.newPage(); // same browser: same session
    await list.goto(`${base}/transfers`);
    const jobRow = list.locator(`table[aria-label=Transfers] tr[data-transfer="${job.id}"]`);
    await jobRow.waitFor();
    const { dataDir, port } = hub;
    await hub.stop();
    await page.clock.fastForward(5_000); // both screens' next refresh (every 5 s), now
    const banner = page.getByRole("alert").filter({ hasText: /^Cannot reach the hub/ });
    await banner.waitFor({ timeout: 15_000 });
    assert.equal(await page.locator('table[aria-label=Sites] tr[data-site="north"]').count(), 1, "kept");
    assert.equal(await page.getByText("This screen failed").count(), 0);
    const listBanner = list.getByRole("alert").filter({ hasText: /^Cannot list transfers \(/ });
    await listBanner.waitFor({ timeout: 15_000 });
    assert.match(
      await listBanner.innerText(),
      /: the list as it was is shown; asked again every 5 seconds\.$/,
    );
    assert.equal(await jobRow.count(), 1, "the list is kept");
    assert.equal(await list.getByText("This screen failed").count(), 0);
    hub = rig.hub = await startTestHub({ dataDir, port });
    await page.clock.fastForward(5_000); // both screens' next refresh, now
    // Back: the banners go (the session may have ended with the old hub: then the login shows).
    await banner.waitFor({ state: "detached", timeout: 15_000 });
    await listBanner.waitFor({ state: "detached", timeout: 15_000 });
    await list.close();

    // C-ECHO of north's PACS: an answer is a status; no answer is an error, announced as one. North's
    // agent must be back on the restarted hub first (its nodes come from it), within its reconnect backoff
    // (capped at 1 s above, 30 s by default).
    const restarted = hub;
    await eventually("north back on the restarted hub", () => restarted.sessions.get("north"), 60_000);
    await page.goto(`${base}/sites/north`);
    if (await page.getByRole("button", { name: "Log in" }).isVisible()) {
      await logIn(page, NODE_OPS.name, NODE_OPS.password);
    }
    const nodeRow = page.locator("table[aria-label=Nodes] tr", { hasText: "pacs" });
    await nodeRow.getByRole("button", { name: "Echo" }).click({ timeout: 20_000 });
    await page.getByRole("status").filter({ hasText: /^pacs answered C-ECHO \(\d+ ms\)$/ }).waitFor();
    await orthanc.stop();
    await nodeRow.getByRole("button", { name: "Echo" }).click();
    await page.getByRole("alert").filter({ hasText: /^pacs did not answer C-ECHO: / }).waitFor({
      timeout: 30_000,
    });
  },
  { ignore: !hasTool(ORTHANC_BIN) },
);

nodeRig.tearDown("console tasks: the rig of the two tests above stops");

Deno.test({
  name:
    "console explorer: a column sorts down on a second click, an unknown sort is the default, a bad date is refused; a page past the last shows the last",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // North starts with the hub, while Chromium launches.
    await withConsole({ sites: { north: { aet: "NORTH" } } }, async ({ hub, browser, sites, pageAs }) => {
      const { north } = sites;
      // 27 studies, one a day from 1 January 2020: two pages of 25.
      const specs = [...generateStudies({
        seed: "pages",
        patients: 27,
        studiesPerPatient: 1,
        series: [{ modality: "CT", instances: 1 }],
        rows: 16,
        columns: 16,
      })].map((s, i) => ({ ...s, studyDate: `202001${String(i + 1).padStart(2, "0")}` }));
      const files = await writeInstances(await Deno.makeTempDir({ prefix: "pages-" }), specs);
      assert.equal((await storescu(files.paths, north)).code, 0);
      await eventually("north online", () => hub.sessions.get("north"));
      const base = `http://127.0.0.1:${hub.port}`;
      // Playwright's clock (time flows as it does): the test moves it on to the screens' next refresh.
      await browser.clock.install();
      const page = await pageAs("/explorer?site=north");
      const rows = page.locator("table[aria-label=Studies] tbody tr[data-study]");
      await rows.nth(24).waitFor();
      const firstDate = async () => (await rows.first().locator("td").nth(3).innerText()).trim();
      assert.equal(await firstDate(), dicomDate("20200127", LOCALE), "newest first, unless asked otherwise");
      const dateHeader = page.locator("table[aria-label=Studies] th", { hasText: "Date" });
      assert.equal(await dateHeader.getAttribute("aria-sort"), "descending");
      // Each row's Series button names its study, as its View does: to a screen reader 25 buttons do not all
      // read "Series".
      assert.equal(await page.getByRole("button", { name: "Series", exact: true }).count(), 0);
      assert.equal(
        await rows.first().getByRole("button", { name: /^Series of .+ · .+ · / }).getAttribute(
          "aria-expanded",
        ),
        "false",
      );

      await page.getByRole("button", { name: "Sort by Date", exact: true }).click();
      await page.waitForURL((u) => u.searchParams.get("sort") === "date");
      assert.equal(await firstDate(), dicomDate("20200101", LOCALE), "oldest first");
      assert.equal(await dateHeader.getAttribute("aria-sort"), "ascending");
      await page.reload();
      await rows.nth(24).waitFor();
      assert.equal(await firstDate(), dicomDate("20200101", LOCALE), "the order survives a reload");
      await page.getByRole("button", { name: "Sort by Date, descending" }).click();
      await page.waitForURL((u) => u.searchParams.get("sort") === "-date");
      assert.equal(await firstDate(), dicomDate("20200127", LOCALE));
      // A sort that names no column (a link typed by hand, or cut) is the default, not a failed screen.
      for (const sort of ["bogus", "-bogus", "toString"]) {
        await page.goto(`${base}/explorer?site=north&sort=${sort}`);
        await rows.nth(24).waitFor();
        assert.equal(await firstDate(), dicomDate("20200127", LOCALE), `sort=${sort}: newest first`);
        assert.equal(await dateHeader.getAttribute("aria-sort"), "descending");
      }

      // A date in a link that is no date is refused in words: it was searched by string order (2020-13-45 to
      // x found the studies from 2021 on, under empty date fields).
      for (
        const [query, said] of [["from=2020-13-45", 'The From date "2020-13-45"'], [
          "to=x",
          'The To date "x"',
        ]]
      ) {
        await page.goto(`${base}/explorer?site=north&${query}`);
        await page.getByRole("alert").filter({
          hasText: `${said} is not a date: give one as YYYY-MM-DD, or none.`,
        })
          .waitFor();
        assert.equal(await rows.count(), 0, `${query}: nothing searched`);
      }
      await page.goto(`${base}/explorer?site=north&from=2020-01-26&to=2020-01-27`);
      await rows.nth(1).waitFor();
      assert.equal(await rows.count(), 2, "a date range in a link searches");

      // A link to a page the search no longer has (shared before studies went) shows the last page.
      await page.goto(`${base}/explorer?site=north&page=9`);
      await rows.first().waitFor();
      assert.equal(await rows.count(), 2);
      assert.match(await page.locator("main").innerText(), /Page 2 of 2 \(27 studies\)/);

      // A source that goes offline while its job's page is open: the page says so without a reload.
      await hub.registry.enroll((await hub.registry.add("west")).enrollmentToken); // enrolled, offline

      // A job of more studies than a page shows (100): each page's studies are looked up as it shows, none
      // left unnamed, and those the source does not have are said to be gone from it.
      const hour = (new Date().getUTCHours() + 2) % 24;
      const closed = {
        start: `${String(hour).padStart(2, "0")}:00`,
        end: `${String(hour).padStart(2, "0")}:30`,
      };
      const { id: big } = await hub.transfers.create({
        source: { site: "north" },
        destination: { site: "west" },
        studies: [...Array.from({ length: 500 }, (_, i) => `1.2.826.0.1.3680043.9.7.${i}`), files.studyUid],
        window: { ...closed, timeZone: "UTC" }, // nothing moves: the job only shows
      }, "user:ops");
      await page.goto(`${base}/transfers/${big}`);
      await page.getByText("Studies 1–100 of 501 studies").waitFor();
      const unlisted = page.locator("table[aria-label=Tasks] tbody tr", {
        hasText: "A study the source does not list now",
      });
      await eventually("the page's studies looked up", async () => (await unlisted.count()) >= 99);
      assert.doesNotMatch(await page.locator("main").innerText(), /Not named/);
      await hub.transfers.cancel(big, "user:ops");

      const { id } = await hub.transfers.create(
        { source: { site: "north" }, destination: { site: "west" }, studies: [files.studyUid] },
        "user:ops",
      );
      await page.goto(`${base}/transfers/${id}`);
      const detail = page.locator('section[aria-label="Transfer detail"]');
      await detail.getByText("west, the destination, is offline").waitFor();
      assert.doesNotMatch(await detail.innerText(), /north, the source/);
      const sitesTab = await browser.newPage(); // same browser: same session
      await sitesTab.goto(`${base}/sites`);
      await sitesTab.locator('tr[data-site="north"] .state-online').waitFor();
      await north.stop();
      // Once the hub has seen north go, the open screens' next refresh (every 5 s), now.
      await eventually("north offline at the hub", () => !hub.sessions.get("north") || undefined);
      await page.clock.fastForward(5_000);
      await detail.getByText("north, the source, is offline").waitFor({ timeout: 20_000 });
      // The Sites screen left open follows too.
      await sitesTab.locator('tr[data-site="north"] .state-offline').waitFor({ timeout: 15_000 });
      await sitesTab.close();

      // The audit log pages too: past its newest 100 entries, the oldest ones are on page 2.
      for (let i = 0; i < 100; i++) await hub.tokens.create(`script ${i}`, "viewer");
      await hub.users.add("boss", "admin", "admin password");
      await page.getByRole("button", { name: "Log out" }).click();
      await page.goto(`${base}/admin`);
      await logIn(page, "boss", "admin password");
      const entries = page.locator("table[aria-label=Audit] tbody tr");
      await entries.nth(99).waitFor();
      assert.equal(await entries.count(), 100);
      assert.doesNotMatch(await page.locator("table[aria-label=Audit]").innerText(), /Added the user\s+ops/);
      const auditPages = page.getByRole("navigation", { name: "Pages of the audit log" });
      await auditPages.getByRole("button", { name: "Older" }).click();
      await page.waitForURL((u) => u.searchParams.get("audit") === "2");
      const opsAdded = page.locator("table[aria-label=Audit] tr", {
        hasText: /admin CLI\s*Added the user\s*ops\s*role operator$/,
      });
      await opsAdded.waitFor();
      await auditPages.getByText(/Page 2: entries 101–/).waitFor();
      await page.reload();
      await opsAdded.waitFor();

      // A double click on Create token makes one token (not one shown and one nobody saw).
      const tokenForm = page.locator("form", { has: page.getByRole("button", { name: "Create token" }) });
      await tokenForm.getByLabel("Name").fill("nightly");
      const tokenAsked = changesAsked(page);
      await tokenForm.getByRole("button", { name: "Create token" }).dblclick();
      await page.getByRole("dialog", { name: "API token nightly" }).getByRole("button", { name: "Close" })
        .click();
      await tokenAsked.answered();
      const nightly = (await hub.tokens.list()).filter((t) => t.name === "nightly");
      assert.equal(nightly.length, 1, `one token per double click, not ${nightly.length}`);
      // A double click on Add site adds it, and says so without an error after it.
      await page.goto(`${base}/sites`);
      await page.getByLabel("New site").fill("east");
      const siteAsked = changesAsked(page);
      await page.getByRole("button", { name: "Add site" }).dblclick();
      await page.getByRole("dialog", { name: "Enrollment token for east" }).getByRole("button", {
        name: "Close",
      })
        .click();
      await page.getByRole("status").filter({ hasText: "east added" }).waitFor();
      await siteAsked.answered();
      assert.equal(
        await page.getByRole("alert").filter({ hasText: /\w/ }).count(),
        0,
        'no "exists" after it',
      );

      // Every control of every screen has a name a screen reader can say (each screen checked once all it
      // asked the hub for has come and been drawn).
      const requests = watchRequests(page);
      for (
        const [where, ready] of [
          ["/", "table[aria-label=Sites]"],
          ["/explorer?site=all", "form[aria-label='Find studies']"],
          [`/transfers/${id}`, "table[aria-label=Tasks]"],
          ["/sites/west", "section[aria-label='Site west']"],
          ["/batch", "input[type=file]"],
          ["/admin", "table[aria-label=Users]"],
        ]
      ) {
        await page.goto(`${base}${where}`);
        await page.locator(ready).first().waitFor();
        await requests.settled(where);
        assert.deepEqual(await unnamedControls(page), [], `${where}: controls without a name`);
      }

      // Logged out and in again in another tab: this tab's next change goes through, not "send its CSRF token".
      const other = await browser.newPage();
      await other.goto(`${base}/admin`);
      await other.getByRole("button", { name: "Log out" }).click();
      await logIn(other, "boss", "admin password");
      await other.close();
      const addUser = page.locator("form", { has: page.getByRole("button", { name: "Add user" }) });
      await addUser.getByLabel("Name").fill("carol");
      await addUser.getByLabel("Password").fill("carol's password");
      await addUser.getByRole("button", { name: "Add user" }).click();
      await page.getByRole("status").filter({ hasText: "user carol added" }).waitFor({ timeout: 10_000 });
      assert.equal(await page.getByRole("alert").filter({ hasText: /\w/ }).count(), 0);

      // A batch query over "All online sites" when none is online says so in words.
      await page.goto(`${base}/batch`);
      await page.getByLabel("File").setInputFiles({
        name: "one.csv",
        mimeType: "text/csv",
        buffer: Buffer.from("Patient ID\nPAT0001\n"),
      });
      await page.locator('table[aria-label=Rows] tr[data-row="2"]').waitFor();
      await page.getByRole("button", { name: "Start" }).click();
      await page.getByRole("alert").filter({ hasText: /\w/ }).waitFor();
      assert.equal(
        await page.getByRole("alert").filter({ hasText: /\w/ }).innerText(),
        "No site is online to search: choose one, or wait until one connects.",
      );
    });
  },
});

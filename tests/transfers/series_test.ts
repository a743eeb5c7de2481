/**
 * Transfers of some series of a study, through the typed client: north's archive to south's PACS, only
 * the series named reach it (and, de-identified at the source, only theirs); a source agent from before
 * series transfers is not asked (the task fails saying why, nothing is sent), and a retry once it is
 * upgraded sends the series; a series the source does not hold fails the task; bad input; a batch file's
 * Series Instance UID column. From a PACS behind the source (Orthanc, C-GET and C-MOVE) only the series is
 * retrieved. In the console (Chromium), the explorer's and the study page's transfer dialog list the series
 * to pick.
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import { FEATURE_SERIES_TRANSFER } from "@conduit/shared/tunnel";
import { generateStudies } from "@conduit/shared/testing";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { writeInstances } from "../tools/generate.ts";
import { freePort, type OrthancPeer, skipReason, startOrthanc } from "../support/peers.ts";
import { hasChromium, logIn, shoot } from "../support/browser.ts";
import { withConsoleBrowser } from "../support/console_rig.ts";
import { atPacs, atPacsSince, finished, type Rig, rig, seed, skip, stopRig } from "./_rig.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { toBase64 } from "@conduit/shared/base64";

if (skip) console.warn(`series_test: skipped: ${skip}`);

/** One study of two series (CT of `a` instances, MR of `b`) written as files; the SOP Instance UIDs of each. */
async function twoSeriesFiles(seed: string, a: number, b: number) {
  const specs = [
    ...generateStudies({
      seed,
      patients: 1,
      studiesPerPatient: 1,
      series: [{ modality: "CT", instances: a }, { modality: "MR", instances: b }],
      rows: 32,
      columns: 32,
    }),
  ];
  const dir = await Deno.makeTempDir({ prefix: "transfer-series-" });
  const written = await writeInstances(dir, specs);
  const [first, second] = [...new Set(specs.map((s) => s.seriesInstanceUid))];
  const sops = (series: string) =>
    new Set(specs.filter((s) => s.seriesInstanceUid === series).map((s) => s.sopInstanceUid));
  assert.ok(first && second && first !== second);
  return {
    paths: written.paths,
    study: specs[0].studyInstanceUid,
    ct: { uid: first, sops: sops(first) },
    mr: { uid: second, sops: sops(second) },
  };
}

/** {@link twoSeriesFiles} stored to north's archive. */
async function twoSeries(r: Rig, seed: string, a: number, b: number) {
  const s = await twoSeriesFiles(seed, a, b);
  const sent = await storescu(s.paths, r.north, [], 120_000);
  assert.equal(sent.code, 0, sent.stderr);
  return s;
}

const orthanc = skipReason("/usr/sbin/Orthanc");

/** The rig, and where Orthanc is installed one behind north: its node `pacs-get` retrieves by C-GET, `pacs-move` by C-MOVE. */
interface SeriesRig {
  r: Rig;
  pacs?: OrthancPeer;
}

// One rig (hub, two agents, south's PACS, an Orthanc behind north) for the file's tests: each stores studies of
// its own (fresh seeds, so fresh UIDs) and counts what reached south's PACS since it began.
const shared = sharedRig<SeriesRig>({
  skip,
  async setUp() {
    if (orthanc) return { r: await rig() };
    // For C-MOVE the PACS must know north (its AE title, host and port) before north starts.
    const northPort = freePort();
    const pacs = await startOrthanc({
      aet: "NPACS",
      storageDir: await Deno.makeTempDir({ prefix: "orthanc-" }),
      modalities: { north: { aet: "NORTH", host: "127.0.0.1", port: northPort } },
    });
    const node = (retrieve: "get" | "move") => ({
      aet: "NPACS",
      host: "127.0.0.1",
      port: pacs.port,
      retrieve,
    });
    try {
      return {
        r: await rig({ northPort, northNodes: { "pacs-get": node("get"), "pacs-move": node("move") } }),
        pacs,
      };
    } catch (e) {
      await pacs.stop();
      throw e;
    }
  },
  async stop({ r, pacs }) {
    await stopRig(r);
    await pacs?.stop();
  },
});
const rigTest = (name: string, fn: (r: Rig) => Promise<void>, options?: { ignore?: boolean }) =>
  shared.test(name, ({ r }) => fn(r), options);

/** What reached the PACS since `before`, once that is at least `count` objects. */
async function pacsHoldingSince(r: Rig, before: Map<string, number>, count: number) {
  return await eventually(`${count} objects at the PACS`, async () => {
    const pacs = await atPacsSince(r, before);
    return pacs.size >= count ? pacs : undefined;
  });
}

/** The SOP Instance UIDs of a study in a site's archive, through the hub's DICOMweb (QIDO-RS). */
async function archived(r: Rig, site: string, study: string): Promise<Set<string>> {
  const token = (await r.hub.tokens.create(`viewer-${crypto.randomUUID()}`, "viewer")).token;
  const res = await fetch(`${r.url}/dicomweb/sites/${site}/studies/${study}/instances`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.status === 204) return new Set();
  assert.equal(res.status, 200, await res.clone().text());
  const found = await res.json() as Record<string, { Value?: string[] }>[];
  return new Set(found.map((i) => i["00080018"].Value![0]));
}

rigTest(
  "a transfer of one series of a study moves that series only; de-identified, its copies only",
  async (r) => {
    const earlier = await atPacs(r);
    const s = await twoSeries(r, "series-one", 3, 2);
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      series: [{ study: s.study, series: [s.ct.uid] }],
    });
    const done = await finished(r, id);
    assert.equal(done.status, "success", JSON.stringify(done));
    assert.deepEqual(done.totals, { studies: 1, objects: 3, done: 3, failed: 0, missing: 0, held: 0 });
    assert.deepEqual(done.tasks.map((k) => [k.studyInstanceUid, k.series]), [[s.study, [s.ct.uid]]]);
    const objects = await r.client.transfers.objects.query({ id, study: s.study });
    assert.deepEqual(new Set(objects.map((o) => o.sopInstanceUid)), s.ct.sops);
    // The delivery check to the node counted those 3: they are at the PACS, and nothing of the MR series.
    assert.deepEqual(new Set((await atPacsSince(r, earlier)).keys()), s.ct.sops);
    assert.equal((await r.client.transfers.list.query())[0].tasks[0].series?.[0], s.ct.uid);

    // The other series, de-identified at the source, to a second node of the same PACS: its 2 copies only.
    const deid = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "copy" },
      series: [{ study: s.study, series: [s.mr.uid] }],
      deid: { profile: "basic" },
    });
    const anonymized = await finished(r, deid.id);
    assert.equal(anonymized.status, "success", JSON.stringify(anonymized));
    assert.equal(anonymized.totals.objects, 2);
    assert.equal(anonymized.totals.done, 2);
    assert.ok(anonymized.tasks[0].pseudonymized, "the source reported the pseudonymous identifiers");
    assert.notEqual(anonymized.tasks[0].pseudonymized?.studyInstanceUid, s.study);
    const pacs = await pacsHoldingSince(r, earlier, 5);
    assert.equal(pacs.size, 5);
    const copies = [...pacs.keys()].filter((uid) => !s.ct.sops.has(uid));
    assert.equal(copies.length, 2);
    assert.ok(copies.every((uid) => !s.mr.sops.has(uid)), "the MR series went de-identified (new UIDs)");
  },
);

rigTest(
  "a series transfer is refused clearly: by a source from before it (retried once upgraded), for a series it lacks, bad input",
  async (r) => {
    const earlier = await atPacs(r);
    const s = await twoSeries(r, "series-refused", 2, 2);
    // As the hub sees an agent from before series transfers: its hello names no such feature. Asked for
    // the study it would send both series; the hub does not ask it, and the task fails saying why.
    const sessions = r.hub.sessions as unknown as {
      featuresOf(site: string): Promise<ReadonlySet<string> | undefined>;
      ask(site: string, request: { op: string }, signal?: AbortSignal): Promise<unknown>;
    };
    const featuresOf = sessions.featuresOf.bind(sessions);
    const ask = sessions.ask.bind(sessions);
    const sends: unknown[] = [];
    // Its hello, as the hub knows it, without the feature.
    sessions.featuresOf = async (site) => {
      const features = await featuresOf(site);
      return site === "north" && features
        ? new Set([...features].filter((f) => f !== FEATURE_SERIES_TRANSFER))
        : features;
    };
    sessions.ask = (site, request, signal) => {
      if (request.op === "send") sends.push(request);
      return ask(site, request, signal);
    };
    let id: string;
    try {
      ({ id } = await r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "pacs" },
        series: [{ study: s.study, series: [s.ct.uid] }],
      }));
      const failed = await finished(r, id, 60_000);
      assert.equal(failed.status, "failure");
      assert.match(
        failed.tasks[0].lastError ?? "",
        /^site north runs an agent \(.+\) that cannot send some series of a study only; upgrade it/,
      );
      assert.deepEqual(sends, [], "the source was not asked");
      assert.deepEqual(await r.client.transfers.objects.query({ id, study: s.study }), []);
      // A whole study from the same agent still goes (to the PACS's second name: each object once).
      const whole = await r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "copy" },
        studies: [s.study],
      });
      assert.equal((await finished(r, whole.id)).status, "success");
      assert.equal((await pacsHoldingSince(r, earlier, 4)).size, 4);
    } finally {
      Object.assign(sessions, { featuresOf, ask });
    }
    // The agent upgraded (its hello names the feature): a retry sends the series asked, and only it.
    await r.client.transfers.retry.mutate({ id });
    const retried = await finished(r, id, 60_000);
    assert.equal(retried.status, "success", JSON.stringify(retried));
    assert.deepEqual(retried.totals, { studies: 1, objects: 2, done: 2, failed: 0, missing: 0, held: 0 });
    const twice = await eventually("the CT series at the PACS a second time", async () => {
      const pacs = await atPacsSince(r, earlier);
      return [...s.ct.sops].every((uid) => pacs.get(uid) === 2) ? pacs : undefined;
    });
    assert.ok([...s.mr.sops].every((uid) => twice.get(uid) === 1), "the MR series went once, whole");

    // A series the source does not hold: nothing of the study is sent, and the task says which one.
    const before = (await atPacs(r)).size;
    const lack = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "copy" },
      series: [{ study: s.study, series: [s.ct.uid, "1.2.3.999"] }],
    });
    const lacking = await finished(r, lack.id, 60_000);
    assert.equal(lacking.status, "failure");
    assert.match(
      lacking.tasks[0].lastError ?? "",
      /no object of series 2 of the 2 named \(in the order asked\) at this site; nothing was sent/,
    );
    assert.deepEqual(await r.client.transfers.objects.query({ id: lack.id, study: s.study }), []);
    assert.equal((await atPacs(r)).size, before);

    // Bad input: nothing named, a study named whole and by series, a UID twice, an empty series list.
    const bad = async (input: Record<string, unknown>, message: RegExp) =>
      await assert.rejects(
        r.client.transfers.create.mutate(
          {
            source: { site: "north" },
            destination: { site: "south" },
            ...input,
          } as Parameters<typeof r.client.transfers.create.mutate>[0],
        ),
        (e: unknown) =>
          e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST" && message.test(e.message),
      );
    await bad({}, /name studies, or series of studies, to transfer/);
    await bad(
      { studies: [s.study], series: [{ study: s.study, series: [s.ct.uid] }] },
      /is named whole and by some of its series: name it once/,
    );
    // A UID named twice is named back, not merged away.
    await bad({ studies: [s.study, s.study] }, new RegExp(`study ${s.study} is named twice in studies`));
    await bad(
      { series: [{ study: s.study, series: [s.ct.uid] }, { study: s.study, series: [s.mr.uid] }] },
      new RegExp(`study ${s.study} is named twice in series: name all its series in one entry`),
    );
    await bad(
      { series: [{ study: s.study, series: [s.ct.uid, s.ct.uid] }] },
      new RegExp(`series ${s.ct.uid} of study ${s.study} is named twice`),
    );
    await bad({ series: [{ study: s.study, series: [] }] }, /at least 1/);
    await bad({ series: [{ study: s.study, series: ["x"] }] }, /not a DICOM UID/);
  },
);

rigTest(
  "a batch transfer moves the series its rows name, and whole the studies its rows find whole, in its lines' order",
  async (r) => {
    const earlier = await atPacs(r);
    const s = await twoSeries(r, "series-batch", 2, 1);
    const other = await seed(r, "series-batch-other", 2);
    const file = [
      "Study Instance UID,Series Instance UID",
      `${s.study},${s.ct.uid}`,
      `${other.studyUid},`,
      // Rows that find what another row found: the batch moves it once (transfers.create refuses a UID twice).
      `${s.study},${s.ct.uid}`,
      `${other.studyUid},`,
      // The same study found whole by another row: it goes whole.
      `${other.studyUid},1.2.3.999`,
    ].join("\n") + "\n";
    const { id } = await r.client.batch.upload.mutate({
      kind: "transfer",
      filename: "series.csv",
      contentBase64: toBase64(new TextEncoder().encode(file)),
      sites: ["north"],
      destination: { site: "south", node: "pacs" },
    });
    const status = await eventually("batch done", async () => {
      const b = await r.client.batch.status.query({ id });
      return b.status === "done" ? b : undefined;
    });
    assert.deepEqual(status.errors, []);
    const job = await finished(r, status.transferId!);
    assert.equal(job.status, "success", JSON.stringify(job));
    // The job's tasks follow the file's lines: the study named by its series on line 2 comes first.
    const { tasks } = await r.client.transfers.tasks.query({ id: status.transferId! });
    assert.deepEqual(
      tasks.map((k) => [k.studyInstanceUid, k.series]),
      [[s.study, [s.ct.uid]], [other.studyUid, undefined]],
    );
    assert.equal(job.totals.objects, 4);
    const pacs = await pacsHoldingSince(r, earlier, 4);
    assert.equal(pacs.size, 4, "the CT series's 2 objects and the other study's 2");
    assert.ok([...s.ct.sops].every((u) => pacs.has(u)));
    assert.ok([...s.mr.sops].every((u) => !pacs.has(u)), "nothing of the series no row named");
    const csv = atob((await r.client.batch.results.query({ id, format: "csv" })).contentBase64);
    assert.match(csv.split("\n")[0], /SeriesInstanceUID/);
  },
);

rigTest(
  "console: the study page's transfer dialog picks some series of the study, and the job shows them",
  async (r) => {
    // The study is stored to north while the console is built (if it must be) and Chromium starts.
    const earlier = await atPacs(r);
    const storing = twoSeries(r, "series-console", 3, 2);
    storing.catch(() => {}); // awaited in the browser's turn
    await withConsoleBrowser({}, async (browser) => {
      const s = await storing;
      await r.hub.users.add("ops", "operator", "operator password");
      const page = await browser.newPage();
      // In the explorer, one study selected: its series are offered too.
      await page.goto(`${r.url}/explorer?site=north`);
      await logIn(page, "ops", "operator password");
      await page.locator(`table[aria-label=Studies] tr[data-study="${s.study}"]`).getByRole("checkbox")
        .check();
      const offered = page.getByRole("form", { name: "Transfer" }).getByRole("group", { name: "Series" });
      await offered.getByRole("checkbox").nth(1).waitFor();
      assert.equal(await offered.getByRole("checkbox").count(), 2);
      await page.goto(`${r.url}/studies/north/${s.study}`);
      await page.getByRole("button", { name: "Transfer…" }).click();
      const dialog = page.getByRole("form", { name: "Transfer" });
      const series = dialog.getByRole("group", { name: "Series" });
      const boxes = series.getByRole("checkbox");
      await boxes.nth(1).waitFor();
      assert.equal(await boxes.count(), 2);
      // Each series by its number, modality and description, with its number of objects; all picked first.
      const ct = series.getByRole("checkbox", { name: /#\d+ CT .*\(3 objects\)/ });
      const mr = series.getByRole("checkbox", { name: /#\d+ MR .*\(2 objects\)/ });
      assert.ok(await ct.isChecked() && await mr.isChecked());
      assert.equal(await series.locator(".hint").innerText(), "Every series: the whole study goes.");
      await dialog.getByLabel("Destination").selectOption("south");
      await dialog.getByLabel("Node").selectOption("pacs");
      const transfer = dialog.getByRole("button", { name: "Transfer", exact: true });
      await ct.uncheck();
      await mr.uncheck();
      assert.ok(await transfer.isDisabled(), "no series picked: nothing to transfer");
      await mr.check();
      assert.equal(await series.locator(".hint").innerText(), "1 series of 2 go.");
      await shoot(page, "transfer-series");
      await transfer.click();
      await page.waitForURL(/\/transfers\/[0-9a-f]+$/);
      const id = new URL(page.url()).pathname.split("/").pop()!;
      const done = await finished(r, id);
      assert.equal(done.status, "success", JSON.stringify(done));
      assert.deepEqual(done.tasks.map((k) => k.series), [[s.mr.uid]]);
      assert.deepEqual(new Set((await pacsHoldingSince(r, earlier, 2)).keys()), s.mr.sops);
      const task = page.locator(`table[aria-label=Tasks] tr[data-study="${s.study}"]`);
      assert.match(
        await task.getByLabel("Series", { exact: true }).innerText(),
        /^1 series of the study only/,
      );
    });
  },
  { ignore: !hasChromium() },
);

for (const retrieve of ["get", "move"] as const) {
  shared.test(
    `a series transfer from a PACS behind the source retrieves that series only (C-${retrieve.toUpperCase()} at SERIES level)`,
    async ({ r, pacs }) => {
      // A study of its own (a fresh seed) stored to the PACS.
      assert.ok(pacs, "the rig has an Orthanc");
      const s = await twoSeriesFiles(`series-node-${retrieve}`, 3, 2);
      for (const file of s.paths) {
        const res = await pacs.rest("/instances", { method: "POST", body: await Deno.readFile(file) });
        assert.equal(res.status, 200, await res.text());
      }
      const { id } = await r.client.transfers.create.mutate({
        source: { site: "north", node: `pacs-${retrieve}` },
        destination: { site: "south" },
        series: [{ study: s.study, series: [s.mr.uid] }],
      });
      const done = await finished(r, id);
      assert.equal(done.status, "success", JSON.stringify(done));
      assert.deepEqual(done.totals, { studies: 1, objects: 2, done: 2, failed: 0, missing: 0, held: 0 });
      // North retrieved the MR series alone from its PACS, and south holds exactly it.
      assert.deepEqual(await archived(r, "north", s.study), s.mr.sops);
      assert.deepEqual(await archived(r, "south", s.study), s.mr.sops);
    },
    { ignore: Boolean(orthanc) },
  );
}

shared.tearDown("series_test: the rig stopped");

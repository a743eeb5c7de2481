/**
 * Transfers that de-identify at the source, with real agents and hub: north (which has a key) sends
 * studies to south's PACS through the typed client; south holds no original identifier; the job shows
 * the profile and the pseudonymous identifiers north reported; a batch's Pseudonym column applies; a
 * burned-in object is held back at north with its reason; a site without a key refuses with the reason.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { TRPCClientError } from "@trpc/client";
import { eq } from "drizzle-orm";
import { pseudonymizePatientId, pseudonymizeUid } from "@conduit/shared/deid/pseudonyms";
import { findElement, readPart10Header, stringValue } from "@conduit/shared/dicom";
import { listFiles } from "../support/agent.ts";
import { runDcmtk } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { parsePart10 } from "../support/ps315_walk.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { transfers } from "../../hub/db/schema.ts";
import { finished, pacsHolding, type Rig, rigTest, seed, skip } from "./_rig.ts";

if (skip) console.warn(`transfers/deid_test: skipped: ${skip}`);

/** The identifiers of the objects the source sent, as read from the files themselves. */
async function identifiersOf(paths: string[]) {
  const out = new Set<string>();
  for (const p of paths) {
    const f = parsePart10(await Deno.readFile(p));
    for (const tag of [0x00100010, 0x00100020, 0x0020000d, 0x0020000e, 0x00080018]) {
      const el = findElement(f.dataset, tag);
      if (el && el.length > 0) out.add(stringValue(f.bytes, el));
    }
  }
  return out;
}

/** Every file south holds (its archive and its PACS), with any of `identifiers` they contain. */
async function southHolds(r: Rig, identifiers: Set<string>) {
  const files = [
    ...(await listFiles(path.join(r.south.dataDir, "archive"))),
    ...(await listFiles(r.pacs.dir)),
  ];
  const leaks: string[] = [];
  for (const f of files) {
    const bytes = Buffer.from(await Deno.readFile(f));
    for (const id of identifiers) if (bytes.includes(Buffer.from(id))) leaks.push(`${f}: ${id}`);
  }
  return { files, leaks };
}

rigTest(
  "transfers.create with deid basic de-identifies at north: south holds no original identifier",
  async (r) => {
    const a = await seed(r, "dt-a", 3);
    const b = await seed(r, "dt-b", 2, "MR");
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [a.studyUid, b.studyUid],
      deid: { profile: "basic" },
    });
    const done = await finished(r, id);
    assert.equal(done.status, "success", JSON.stringify(done.tasks));
    assert.deepEqual(done.totals, { studies: 2, objects: 5, done: 5, failed: 0, missing: 0, held: 0 });
    assert.deepEqual(done.deid, { profile: "basic", options: [], allowBurnedIn: false });

    // The job shows what north reported: the keyed pseudonyms, which only north's key gives.
    for (
      const [series, task] of [[a, done.tasks.find((t) => t.studyInstanceUid === a.studyUid)!], [
        b,
        done.tasks.find((t) => t.studyInstanceUid === b.studyUid)!,
      ]] as const
    ) {
      const f = parsePart10(await Deno.readFile(series.paths[0]));
      const patientId = stringValue(f.bytes, findElement(f.dataset, 0x00100020)!);
      assert.equal(task.pseudonymized?.studyInstanceUid, pseudonymizeUid(r.northKey, series.studyUid));
      assert.equal(task.pseudonymized?.patientId, pseudonymizePatientId(r.northKey, patientId));
      assert.match(task.pseudonymized!.patientName, /^ANON\^/);
    }

    // South's PACS got the copies, under the pseudonymous UIDs; nothing south holds names an original.
    const pacs = await pacsHolding(r, 5);
    const sources = [...a.paths, ...b.paths];
    assert.equal(pacs.size, 5);
    for (const p of sources) {
      const sop = readPart10Header(await Deno.readFile(p)).sopInstanceUid!;
      assert.equal(pacs.get(pseudonymizeUid(r.northKey, sop)), 1, "each copy reached the PACS once");
    }
    const { files, leaks } = await southHolds(r, await identifiersOf(sources));
    assert.ok(files.length >= 10, `south's archive and PACS hold the copies (${files.length} files)`);
    assert.deepEqual(leaks, [], "an original identifier at south");
    // North's archive keeps the originals.
    assert.equal((await listFiles(path.join(r.north.dataDir, "archive"))).length, 5);

    // A site without a key refuses to de-identify, and the job fails with that reason.
    const back = await r.client.transfers.create.mutate({
      source: { site: "south" },
      destination: { site: "north" },
      studies: [done.tasks[0].pseudonymized!.studyInstanceUid],
      deid: { profile: "basic" },
    });
    const refused = await finished(r, back.id, 30_000);
    assert.equal(refused.status, "failure");
    assert.match(refused.tasks[0].lastError ?? "", /this site has no de-identification key/);

    // Options are checked before anything is created.
    await assert.rejects(
      r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south" },
        studies: [a.studyUid],
        deid: { profile: "basic", options: ["retain-long-full-dates", "retain-long-modified-dates"] },
      }),
      (e: unknown) =>
        e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST" &&
        /exclude each other/.test(e.message),
    );
  },
);

rigTest(
  "a de-identified transfer holds a burned-in object back at the source; a batch's pseudonyms apply",
  async (r) => {
    // One study: two plain objects and one that says it has burned-in text.
    const dir = await Deno.makeTempDir({ prefix: "dt-burned-" });
    const s = await writeGeneratedSeries(dir, { count: 3, rows: 16, columns: 16, seed: "dt-burned" });
    const mod = await runDcmtk("dcmodify", ["-nb", "-i", "(0028,0301)=YES", s.paths[2]]);
    assert.equal(mod.code, 0, mod.stderr);
    assert.equal((await storescu(s.paths, r.north)).code, 0);
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [s.studyUid],
      deid: { profile: "basic", options: ["retain-long-modified-dates"] },
    });
    const job = await finished(r, id);
    assert.equal(job.status, "warning");
    assert.equal(job.totals.done, 2);
    assert.equal(job.totals.held, 1);
    assert.equal(job.tasks[0].lastError, "held back: Burned In Annotation is YES");
    const objects = await r.client.transfers.objects.query({ id, study: s.studyUid });
    assert.deepEqual(objects.map((o) => o.state).sort(), ["dead", "done", "done"]);
    assert.equal(
      objects.find((o) => o.state === "dead")!.lastError,
      "held back: Burned In Annotation is YES",
    );

    // A batch transfer with a Pseudonym column: the study's patient becomes TRIAL-0042 at south.
    const other = await seed(r, "dt-batch", 2, "MR");
    const f = parsePart10(await Deno.readFile(other.paths[0]));
    const patientId = stringValue(f.bytes, findElement(f.dataset, 0x00100020)!);
    const csv = `Patient ID,Modality,Pseudonym\n${patientId},MR,TRIAL-0042\n`;
    const batch = await r.client.batch.upload.mutate({
      kind: "transfer",
      filename: "rows.csv",
      contentBase64: btoa(csv),
      sites: ["north"],
      destination: { site: "south", node: "pacs" },
      deid: { profile: "basic" },
    });
    const status = await finishedBatch(r, batch.id);
    const moved = await finished(r, status.transferId!);
    assert.equal(moved.status, "success", JSON.stringify(moved.tasks));
    assert.equal(moved.deid?.pseudonyms, 1);
    const task = moved.tasks.find((t) => t.studyInstanceUid === other.studyUid)!;
    assert.equal(task.pseudonymized?.patientId, "TRIAL-0042");
    assert.equal(task.pseudonymized?.patientName, "TRIAL-0042");
    // The first transfer of this test delivered 2 objects; this one brings 2 more.
    const pacs = await pacsHolding(r, 2 + other.paths.length);
    for (const p of other.paths) {
      const sop = readPart10Header(await Deno.readFile(p)).sopInstanceUid!;
      assert.equal(pacs.get(pseudonymizeUid(r.northKey, sop)), 1);
    }
    // The table stays at the source: the hub's job no longer holds it.
    const row = await r.hub.db.query.transfers.findFirst({ where: eq(transfers.id, moved.id) });
    assert.ok(row?.deid && !row.deid.includes(patientId), `the hub keeps ${row?.deid}`);
    const results = atob((await r.client.batch.results.query({ id: batch.id, format: "csv" })).contentBase64);
    assert.match(results.split("\n")[0], /Pseudonym/);
    assert.match(results, /TRIAL-0042/);
    assert.ok(!/not applied/.test(results), results);
  },
);

async function finishedBatch(r: Rig, id: string) {
  for (let i = 0; i < 600; i++) {
    const s = await r.client.batch.status.query({ id });
    if (s.status === "done") {
      assert.ok(s.transferId, JSON.stringify(s.errors));
      return s;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`batch ${id} did not finish`);
}

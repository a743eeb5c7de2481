/**
 * One site's tunnel under concurrent use, with real agents, the hub as a process and real HTTP clients:
 * many DICOMweb requests at once (retrievals of studies, series and instances, QIDO, metadata, frames, a
 * STOW) each get exactly their own bytes while a transfer runs on the same tunnel; and clients that read
 * slowly neither hold up the others nor make the hub or the agent buffer what they have not read (the
 * bound is in docs/operations.md, "Many clients on one site's tunnel").
 */
import assert from "node:assert/strict";
import { encodingOf, instanceAttributes, parseDataSet, readPart10Header } from "@conduit/shared/dicom";
import { skipReason } from "../support/peers.ts";
import { filesBySopInstance } from "../support/agent.ts";
import { responseParts } from "../support/multipart.ts";
import { eventually } from "../support/hub.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { busySite, RTDOSE, stopBusySite } from "./_busy_site.ts";
import type { BusySite } from "./_busy_site.ts";

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`busy_tunnel_test: skipped: ${skip}`);
const shared = sharedRig({ skip, setUp: busySite, stop: stopBusySite });

const ALL = { accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' };
const ONE = { accept: "application/dicom; transfer-syntax=*" };

/** The data set bytes of each Part 10 object of a multipart answer (or of a single-part one), by SOP UID. */
async function objectsOf(res: Response): Promise<Map<string, Uint8Array>> {
  assert.equal(res.status, 200, await res.clone().text().catch(() => ""));
  const bodies = res.headers.get("content-type")?.startsWith("multipart/")
    ? (await responseParts(res)).map((p) => p.body)
    : [new Uint8Array(await res.arrayBuffer())];
  const out = new Map<string, Uint8Array>();
  for (const body of bodies) {
    const header = readPart10Header(body);
    out.set(header.sopInstanceUid!, body.subarray(header.datasetOffset));
  }
  return out;
}

/** Asserts that `got` holds exactly the objects `uids` names, each with the bytes north holds. */
function sameObjects(r: BusySite, got: Map<string, Uint8Array>, uids: string[], what: string): void {
  assert.deepEqual([...got.keys()].sort(), [...uids].sort(), `${what}: the objects asked for, no others`);
  for (const uid of uids) {
    assert.ok(equalBytes(got.get(uid)!, r.datasets.get(uid)!), `${what}: ${uid}'s bytes`);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((v, i) => v === b[i]);
}

/** A file's bytes, its UIDs and where its Pixel Data's value starts. */
async function pixelsOf(file: string) {
  const bytes = await Deno.readFile(file);
  const header = readPart10Header(bytes);
  const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), { start: header.datasetOffset });
  const attrs = instanceAttributes(bytes, dataset, header);
  return { bytes, attrs, at: dataset.elements.find((e) => e.tag === 0x7fe00010)!.valueOffset };
}

const uidsOf = async (paths: string[]) =>
  await Promise.all(paths.map(async (p) => readPart10Header(await Deno.readFile(p)).sopInstanceUid!));

shared.test(
  "16 DICOMweb retrievals, QIDO, metadata, frames and a STOW at once through one tunnel, with a transfer on it, each get their own bytes",
  async (r) => {
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [r.moving.studyUid],
    });
    const study = (s: { studyUid: string }) => `/sites/north/studies/${s.studyUid}`;
    const series = (s: { studyUid: string; seriesUid: string }) => `${study(s)}/series/${s.seriesUid}`;
    const smallUids = await Promise.all(r.small.map((s) => uidsOf(s.paths)));
    const largeUids = await uidsOf(r.large.paths);
    // 16 retrievals: 8 studies, 4 single instances, 2 series and the large study twice.
    const retrievals: [string, string, Record<string, string>, string[]][] = [
      ...r.small.map((s, i) =>
        [`study ${i}`, study(s), ALL, smallUids[i]] as [string, string, Record<string, string>, string[]]
      ),
      ...[0, 1, 2, 3].map((i) =>
        [
          `instance of study ${i}`,
          `${series(r.small[i])}/instances/${smallUids[i][i % 3]}`,
          ONE,
          [smallUids[i][i % 3]],
        ] as [string, string, Record<string, string>, string[]]
      ),
      ...[4, 5].map((i) =>
        [`series of study ${i}`, series(r.small[i]), ALL, smallUids[i]] as [
          string,
          string,
          Record<string, string>,
          string[],
        ]
      ),
      ["large study", study(r.large), ALL, largeUids],
      ["large study again", study(r.large), ALL, largeUids],
    ];
    const rtdose = await pixelsOf(RTDOSE);
    const stowDir = await Deno.makeTempDir({ prefix: "busy-stow-" });
    const stowed = await writeGeneratedSeries(stowDir, {
      count: 3,
      rows: 64,
      columns: 64,
      seed: "busy-stow",
    });
    const boundary = "busy-stow-boundary";
    const enc = new TextEncoder();
    const stowBody = new Blob([
      ...(await Promise.all(stowed.paths.map(async (p) => [
        enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
        await Deno.readFile(p),
        enc.encode("\r\n"),
      ]))).flat(),
      enc.encode(`--${boundary}--\r\n`),
    ]);
    const [objects, found, metadata, frames, stow] = await Promise.all([
      Promise.all(
        retrievals.map(async ([, p, headers]) => await objectsOf(await r.dicomweb(p, { headers }))),
      ),
      Promise.all(
        r.small.slice(0, 4).map(async (s) => {
          const res = await r.dicomweb(`/sites/north/studies?StudyInstanceUID=${s.studyUid}`);
          assert.equal(res.status, 200);
          return await res.json() as Record<string, { Value?: unknown[] }>[];
        }),
      ),
      Promise.all(
        r.small.slice(6).map(async (s) => {
          const res = await r.dicomweb(`${study(s)}/metadata`);
          assert.equal(res.status, 200);
          return await res.json() as Record<string, { Value?: unknown[] }>[];
        }),
      ),
      r.dicomweb(
        `/sites/north/studies/${rtdose.attrs.studyInstanceUid}/series/${rtdose.attrs.seriesInstanceUid}/instances/${rtdose.attrs.sopInstanceUid}/frames/5,2`,
        { headers: { accept: 'multipart/related; type="application/octet-stream"' } },
      ).then(async (res) => ({ status: res.status, parts: res.ok ? await responseParts(res) : [] })),
      r.dicomweb("/sites/north/studies", {
        method: "POST",
        body: stowBody,
        headers: { "content-type": `multipart/related; type="application/dicom"; boundary=${boundary}` },
      }).then(async (res) => ({ status: res.status, body: await res.text() })),
    ]);
    retrievals.forEach(([what, , , uids], i) => sameObjects(r, objects[i], uids, what));
    found.forEach((studies, i) => {
      assert.equal(studies.length, 1, `QIDO ${i}: one study`);
      assert.equal(studies[0]["0020000D"]?.Value?.[0], r.small[i].studyUid, `QIDO ${i}: its own study`);
    });
    metadata.forEach((sets, i) => {
      const sops = sets.map((ds) => String(ds["00080018"]?.Value?.[0])).sort();
      assert.deepEqual(sops, [...smallUids[6 + i]].sort(), `metadata ${i}: its own study's instances`);
    });
    assert.equal(stow.status, 200, stow.body);
    assert.equal(frames.status, 200);
    const frameBytes = 10 * 10 * 4;
    assert.deepEqual(
      frames.parts.map((p) => p.body),
      [5, 2].map((n) => rtdose.bytes.subarray(rtdose.at + (n - 1) * frameBytes, rtdose.at + n * frameBytes)),
      "frames 5 and 2, in that order",
    );
    // The STOW landed whole: retrieved back byte for byte.
    const stowedUids = await uidsOf(stowed.paths);
    for (const p of stowed.paths) {
      const header = readPart10Header(await Deno.readFile(p));
      r.datasets.set(header.sopInstanceUid!, (await Deno.readFile(p)).subarray(header.datasetOffset));
    }
    sameObjects(
      r,
      await objectsOf(await r.dicomweb(study(stowed), { headers: ALL })),
      stowedUids,
      "stowed study",
    );

    // The transfer that ran meanwhile: its 30 objects at south's PACS, byte for byte, nothing else.
    const done = await eventually("the transfer finished", async () => {
      const t = await r.client.transfers.get.query({ id });
      return ["success", "warning", "failure", "canceled"].includes(t.status) ? t : undefined;
    }, 60_000);
    assert.equal(done.status, "success", JSON.stringify(done));
    assert.equal(done.totals.done, 30);
    const movingUids = await uidsOf(r.moving.paths);
    const atPacs = await eventually("30 objects at the PACS", async () => {
      const files = await filesBySopInstance(r.pacs.dir);
      return files.size >= 30 ? files : undefined;
    });
    assert.deepEqual([...atPacs.keys()].sort(), [...movingUids].sort());
    for (const [uid, [file]] of atPacs) {
      const bytes = await Deno.readFile(file);
      assert.ok(equalBytes(bytes.subarray(readPart10Header(bytes).datasetOffset), r.datasets.get(uid)!), uid);
    }
  },
);

shared.tearDown("busy tunnel: the rig stops");

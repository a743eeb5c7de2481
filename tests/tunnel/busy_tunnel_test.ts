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
import { busySite, LARGE_COUNT, LARGE_PIXELS, rssMb, RTDOSE, stopBusySite } from "./_busy_site.ts";
import type { BusySite } from "./_busy_site.ts";

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`busy_tunnel_test: skipped: ${skip}`);
const shared = sharedRig({ skip, setUp: busySite, stop: stopBusySite });

/**
 * What 16 slow retrievals may add to the hub's resident memory (docs/operations.md): each holds at most
 * its stream's window (2 MiB) and the response's read-ahead (1 MiB), about 48 MiB in all, and the rest is
 * the allocator's slack. The agent's: what 16 retrieves reading one file each at a time hold.
 */
const HUB_GROWTH_MB = 150;
const AGENT_GROWTH_MB = 150;

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

/** Whether `head` (what a slow client read first) is the start of an HTTP 200 answer. */
const ok200 = (head: string) => /^HTTP\/1\.1 200 /.test(head);

/**
 * A DICOMweb client that reads its answer 1 KB a second, on a TCP connection of its own (fetch reads
 * ahead into its own buffers): how much it read, whether the answer ended, and `stop()` to hang up.
 */
async function slowClient(r: BusySite, p: string) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: r.hub.port });
  await conn.write(new TextEncoder().encode(
    `GET /dicomweb${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${r.token}\r\n` +
      `Accept: ${ALL.accept}\r\nConnection: close\r\n\r\n`,
  ));
  const state = { read: 0, head: "", ended: false, stop: async () => {} };
  let stopped = false;
  const reading = (async () => {
    const buffer = new Uint8Array(1024);
    while (!stopped) {
      const n = await conn.read(buffer);
      if (n === null) return void (state.ended = true);
      if (state.read === 0) state.head = new TextDecoder().decode(buffer.subarray(0, n));
      state.read += n;
      await new Promise((res) => setTimeout(res, 1000)); // a client that reads 1 KB a second
    }
  })().catch(() => {});
  state.stop = async () => {
    stopped = true;
    try {
      conn.close();
    } catch { /* closed */ }
    await reading;
  };
  return state;
}

/** The hub's tunnel bytes received since it started (conduit_hub_tunnel_bytes, direction in). */
async function tunnelBytesIn(r: BusySite): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${r.hub.port}/metrics`, {
    headers: { authorization: `Bearer ${r.token}` },
  });
  const text = await res.text();
  return Number(/^conduit_hub_tunnel_bytes\{direction="in"\} (\d+)/m.exec(text)![1]);
}

shared.test(
  "16 clients reading the large study at 1 KB/s hold the hub's and the agent's memory to their windows, and other requests go on",
  async (r) => {
    const large = LARGE_COUNT * LARGE_PIXELS;
    const hubBefore = rssMb(r.hub.pid);
    const agentBefore = rssMb(r.north.pid);
    const bytesBefore = await tunnelBytesIn(r);
    let hubPeak = hubBefore, agentPeak = agentBefore;
    const sampler = setInterval(() => {
      hubPeak = Math.max(hubPeak, rssMb(r.hub.pid));
      agentPeak = Math.max(agentPeak, rssMb(r.north.pid));
    }, 100);
    const slow = await Promise.all(
      Array.from({ length: 16 }, () => slowClient(r, `/sites/north/studies/${r.large.studyUid}`)),
    );
    try {
      await eventually("every slow client has the start of its answer", () => slow.every((c) => c.read > 0));
      slow.forEach((c, i) => assert.ok(ok200(c.head), `slow client ${i}: ${c.head.slice(0, 80)}`));
      // Meanwhile a QIDO and a whole retrieval of the same large study by a client that reads at once
      // complete, while every slow client is still far from the end of its answer.
      const found = await r.dicomweb(`/sites/north/studies?StudyInstanceUID=${r.large.studyUid}`);
      assert.equal(found.status, 200);
      assert.equal((await found.json() as unknown[]).length, 1);
      const largeUids = await uidsOf(r.large.paths);
      sameObjects(
        r,
        await objectsOf(await r.dicomweb(`/sites/north/studies/${r.large.studyUid}`, { headers: ALL })),
        largeUids,
        "the large study, read at once",
      );
      slow.forEach((c, i) => assert.ok(!c.ended && c.read < large / 10, `slow client ${i} read ${c.read}`));
      // Once the slow clients' windows are full, the tunnel goes quiet: the site sent what they were granted,
      // not the study 16 times over (which is what a hub that buffered would have taken in by now).
      let last = -1;
      const settled = await eventually("the tunnel quiet for 1 s", async () => {
        const now = await tunnelBytesIn(r);
        if (now === last) return now;
        last = now;
        await new Promise((res) => setTimeout(res, 1000));
        return undefined;
      }, 30_000);
      const taken = settled - bytesBefore - large; // less the study read at once
      hubPeak = Math.max(hubPeak, rssMb(r.hub.pid));
      agentPeak = Math.max(agentPeak, rssMb(r.north.pid));
      console.log(
        `16 slow clients: tunnel took ${(taken / 1e6).toFixed(1)} MB for them (${
          (16 * large / 1e6).toFixed(0)
        } MB asked); hub RSS ${hubBefore.toFixed(0)} -> ${hubPeak.toFixed(0)} MB, agent ${
          agentBefore.toFixed(0)
        } -> ${agentPeak.toFixed(0)} MB`,
      );
      assert.ok(
        taken < 16 * large / 2,
        `the tunnel carried ${taken} bytes for clients that read a few KB each`,
      );
      assert.ok(hubPeak - hubBefore < HUB_GROWTH_MB, `hub RSS grew ${(hubPeak - hubBefore).toFixed(0)} MB`);
      assert.ok(
        agentPeak - agentBefore < AGENT_GROWTH_MB,
        `agent RSS grew ${(agentPeak - agentBefore).toFixed(0)} MB`,
      );
    } finally {
      clearInterval(sampler);
      await Promise.all(slow.map((c) => c.stop()));
    }
  },
);

shared.test(
  "a QIDO asked while 16 retrievals of the large study stream at full speed is answered before the first of them ends",
  async (r) => {
    const large = LARGE_COUNT * LARGE_PIXELS;
    const ended: number[] = [];
    const started = new Set<number>();
    const retrievals = Array.from({ length: 16 }, async (_, i) => {
      const res = await r.dicomweb(`/sites/north/studies/${r.large.studyUid}`, { headers: ALL });
      assert.equal(res.status, 200);
      let bytes = 0;
      for await (const chunk of res.body!) {
        bytes += chunk.byteLength;
        if (bytes > 1024 * 1024) started.add(i);
      }
      ended.push(performance.now());
      return bytes;
    });
    await eventually("every retrieval under way", () => started.size === 16 || ended.length > 0);
    assert.equal(
      ended.length,
      0,
      "no retrieval ended before all had started: the study is too small to tell",
    );
    const found = await r.dicomweb(`/sites/north/studies?StudyInstanceUID=${r.large.studyUid}`);
    assert.equal(found.status, 200);
    assert.equal((await found.json() as unknown[]).length, 1);
    const answered = performance.now();
    const sizes = await Promise.all(retrievals);
    assert.ok(sizes.every((n) => n > large), `each got the whole study: ${sizes}`);
    assert.ok(answered < Math.min(...ended), "the QIDO was answered before the first retrieval ended");
  },
);

shared.tearDown("busy tunnel: the rig stops");

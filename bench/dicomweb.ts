/**
 * The DICOMweb benchmark (issue 6).
 *
 * 1. **WADO-RS study retrieval**: a 500-object study of 0.526 MB CT objects, archived at agent north,
 *    fetched through the hub (`/dicomweb/sites/north/studies/{study}`, `transfer-syntax=*`), against
 *    Orthanc's DICOMweb plugin serving the same study from its own storage (`/dicom-web/studies/{study}`),
 *    same run, alternating, 3 rounds each: MB/s of the whole multipart body and time to first byte.
 * 2. **QIDO-RS study search** through the hub to a node (Orthanc, by C-FIND from the agent) against
 *    `findscu` straight to that node: 30 searches each; p50 latency and the overhead (hub p50 − findscu
 *    p50; findscu's figure includes its own process start).
 * 3. **The study as JSON**, as a viewer asks next: QIDO-RS `…/instances` and WADO-RS `…/metadata` of the
 *    same study through the hub and from Orthanc, alternated, 5 runs each after one; median ms (no target).
 *
 * `--quick`: 100 objects, 1 round, 10 searches.
 */
import * as path from "node:path";
import type { Benchmark, BenchOptions, BenchResult } from "./main.ts";
import { runDcmtk, skipReason, startOrthanc } from "../tests/support/peers.ts";
import { startAgentProcess } from "../tests/support/agent.ts";
import { hubAdmin, startHubProcess } from "../tests/support/hub.ts";
import {
  fixed,
  generateCtSeries,
  MB,
  median,
  memory,
  percentile,
  processTicks,
  ticksPerSecond,
} from "./_shared.ts";

const TARGET_WADO = 1.0;
const TARGET_QIDO_OVERHEAD_MS = 10;

async function fetchAll(url: string, headers: Record<string, string>) {
  const t0 = performance.now();
  const res = await fetch(url, { headers });
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  const reader = res.body!.getReader();
  let ttfb = -1;
  let bytes = 0;
  while (true) {
    const r = await reader.read();
    if (r.done) break;
    if (ttfb < 0) ttfb = performance.now() - t0;
    bytes += r.value.byteLength;
  }
  return { seconds: (performance.now() - t0) / 1000, ttfbMs: ttfb, bytes };
}

/** GETs a DICOM JSON list, checks it holds `count` entries, and resolves with the time it took (ms). */
async function jsonList(url: string, count: number, token?: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url, {
    headers: { accept: "application/dicom+json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  const body = await res.json() as unknown[];
  const ms = performance.now() - t0;
  if (!res.ok || body.length !== count) {
    throw new Error(`${url}: ${res.status}, ${body.length} of ${count} entries`);
  }
  return ms;
}

export const dicomweb: Benchmark = {
  name: "dicomweb",
  description: "WADO-RS study through the hub vs Orthanc's DICOMweb; QIDO through the hub vs findscu",
  async run({ quick, workDir, log }: BenchOptions): Promise<BenchResult> {
    const skip = skipReason(
      "storescu",
      "findscu",
      "/usr/sbin/Orthanc",
      "/usr/share/orthanc/plugins/libOrthancDicomWeb.so",
    );
    if (skip) throw new Error(`dicomweb bench needs DCMTK and Orthanc with its DICOMweb plugin: ${skip}`);
    const n = quick ? 100 : 500;
    const rounds = quick ? 1 : 3;
    const searches = quick ? 10 : 30;
    const listingRuns = quick ? 2 : 5;
    const series = await generateCtSeries(path.join(workDir, "series"), n, log);
    const orthanc = await startOrthanc({
      aet: "PACS",
      storageDir: path.join(workDir, "orthanc"),
      dicomweb: true,
    });
    const hub = await startHubProcess({ dataDir: path.join(workDir, "hub") });
    const token = String(
      (await hubAdmin(hub.dataDir, ["token", "create", "bench", "--role", "viewer", "--json"])).json!.token,
    );
    const enroll = String(
      (await hubAdmin(hub.dataDir, ["site", "add", "north", "--json"])).json!.enrollmentToken,
    );
    const agent = await startAgentProcess({
      dataDir: path.join(workDir, "north"),
      aet: "NORTH",
      config: { nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: orthanc.port, retrieve: "get" } } },
      args: ["--site", "north", "--hub", hub.tunnelUrl, "--enroll", enroll],
    });
    try {
      log(`loading ${n} objects into the agent and into Orthanc`);
      for (const [port, aet] of [[agent.port, "NORTH"], [orthanc.port, "PACS"]] as const) {
        const r = await runDcmtk("storescu", ["-aec", aet, "127.0.0.1", String(port), ...series.paths], {
          timeoutMs: 600_000,
        });
        if (r.code !== 0) throw new Error(`storescu to ${aet}: ${r.stderr.slice(-400)}`);
      }
      await new Promise((r) => setTimeout(r, 1500));
      const accept = 'multipart/related; type="application/dicom"; transfer-syntax=*';
      const hubUrl = `http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies/${series.studyUid}`;
      const orthancUrl = `http://127.0.0.1:${orthanc.httpPort}/dicom-web/studies/${series.studyUid}`;
      const runs: {
        hub: Awaited<ReturnType<typeof fetchAll>>[];
        orthanc: Awaited<ReturnType<typeof fetchAll>>[];
      } = {
        hub: [],
        orthanc: [],
      };
      // CPU of the hub and of the agent per MB served, each hub round (issue 16: hub CPU per MB).
      const hz = await ticksPerSecond();
      const cpu: { hub: number[]; agent: number[] } = { hub: [], agent: [] };
      // One unmeasured round each first: the hub and the agent compile their hot paths as they serve
      // (their first round ran at half the later ones' rate), Orthanc is native; both serve warm after.
      if (!quick) {
        log("WADO-RS warm-up round (not measured)");
        await fetchAll(hubUrl, { accept, authorization: `Bearer ${token}` });
        await fetchAll(orthancUrl, { accept });
      }
      for (let i = 0; i < rounds; i++) {
        log(`WADO-RS round ${i + 1}`);
        const h0 = processTicks(hub.pid).own, a0 = processTicks(agent.pid).own;
        const r = await fetchAll(hubUrl, { accept, authorization: `Bearer ${token}` });
        cpu.hub.push(((processTicks(hub.pid).own - h0) / hz) * 1000 / (r.bytes / MB));
        cpu.agent.push(((processTicks(agent.pid).own - a0) / hz) * 1000 / (r.bytes / MB));
        runs.hub.push(r);
        runs.orthanc.push(await fetchAll(orthancUrl, { accept }));
      }
      const mbps = (r: { seconds: number; bytes: number }) => r.bytes / MB / r.seconds;
      const hubMbps = median(runs.hub.map(mbps));
      const orthancMbps = median(runs.orthanc.map(mbps));
      const hubRss = memory(hub.pid).peakRss / MB;

      log(`QIDO: ${searches} searches each way`);
      const qidoUrl =
        `http://127.0.0.1:${hub.port}/dicomweb/sites/north/nodes/pacs/studies?StudyInstanceUID=${series.studyUid}`;
      const hubMs: number[] = [];
      const findMs: number[] = [];
      for (let i = 0; i < searches; i++) {
        let t = performance.now();
        const res = await fetch(qidoUrl, { headers: { authorization: `Bearer ${token}` } });
        const body = await res.json();
        if (body.length !== 1) throw new Error(`QIDO through the hub found ${body.length} studies`);
        hubMs.push(performance.now() - t);
        t = performance.now();
        const f = await runDcmtk("findscu", [
          "-S",
          "-aec",
          "PACS",
          "-k",
          "QueryRetrieveLevel=STUDY",
          "-k",
          `StudyInstanceUID=${series.studyUid}`,
          "-k",
          "PatientID",
          "127.0.0.1",
          String(orthanc.port),
        ]);
        if (f.code !== 0) throw new Error(`findscu: ${f.stderr}`);
        findMs.push(performance.now() - t);
      }
      // A viewer's next requests: the study's instance list (QIDO-RS) and its metadata (WADO-RS), as JSON.
      log(`QIDO-RS instances and WADO-RS metadata of the study: ${listingRuns} each way, alternated`);
      const hubStudy = `http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies/${series.studyUid}`;
      const orthancStudy = `http://127.0.0.1:${orthanc.httpPort}/dicom-web/studies/${series.studyUid}`;
      const listings: Record<string, { hub: number[]; orthanc: number[] }> = {};
      for (const what of ["instances", "metadata"]) {
        const t = listings[what] = { hub: [] as number[], orthanc: [] as number[] };
        await jsonList(`${hubStudy}/${what}`, n, token);
        await jsonList(`${orthancStudy}/${what}`, n);
        for (let i = 0; i < listingRuns; i++) {
          t.hub.push(await jsonList(`${hubStudy}/${what}`, n, token));
          t.orthanc.push(await jsonList(`${orthancStudy}/${what}`, n));
        }
      }
      const overhead = median(hubMs) - median(findMs);
      const ratio = hubMbps / orthancMbps;
      return {
        tables: [
          {
            title: `WADO-RS retrieval of a ${n}-object study (${
              fixed(series.bytes / MB)
            } MB), transfer-syntax=*`,
            columns: ["server", "MB/s (runs)", "MB/s", "first byte ms"],
            rows: [
              [
                "hub (site north's archive, through the tunnel)",
                runs.hub.map((r) => fixed(mbps(r))).join(" / "),
                fixed(hubMbps),
                fixed(median(runs.hub.map((r) => r.ttfbMs)), 1),
              ],
              [
                "Orthanc DICOMweb plugin (own storage)",
                runs.orthanc.map((r) => fixed(mbps(r))).join(" / "),
                fixed(orthancMbps),
                fixed(median(runs.orthanc.map((r) => r.ttfbMs)), 1),
              ],
            ],
          },
          {
            title: `QIDO-RS study search, ${searches} each`,
            columns: ["path", "p50 ms", "p99 ms"],
            rows: [
              ["hub -> agent -> C-FIND to Orthanc", fixed(median(hubMs), 1), fixed(percentile(hubMs, 99), 1)],
              [
                "findscu -> Orthanc (process start included)",
                fixed(median(findMs), 1),
                fixed(percentile(findMs, 99), 1),
              ],
            ],
          },
          {
            title:
              `The study as JSON (${n} instances): median ms of ${listingRuns}, alternated, after one each`,
            columns: ["request", "hub (site north)", "Orthanc DICOMweb", "Orthanc / hub"],
            rows: Object.entries(listings).map(([what, t]) => [
              what === "instances" ? "QIDO-RS …/instances" : "WADO-RS …/metadata",
              fixed(median(t.hub)),
              fixed(median(t.orthanc)),
              `${fixed(median(t.orthanc) / median(t.hub), 2)}×`,
            ]),
          },
        ],
        targets: [
          {
            label: `WADO-RS MB/s through the hub ≥ ${TARGET_WADO} × Orthanc's`,
            measured: `${fixed(ratio, 2)}×`,
            pass: ratio >= TARGET_WADO,
          },
          {
            label: `QIDO overhead p50 ≤ ${TARGET_QIDO_OVERHEAD_MS} ms`,
            measured: `${fixed(overhead, 1)} ms`,
            pass: overhead <= TARGET_QIDO_OVERHEAD_MS,
          },
        ],
        notes: [
          ...(quick ? [] : ["each server served the study once, unmeasured, before the measured rounds"]),
          `hub peak RSS ${fixed(hubRss)} MB while serving the study`,
          `CPU per MB served through the hub (ms, runs): hub ${
            cpu.hub.map((v) => fixed(v, 2)).join(" / ")
          }, agent ${cpu.agent.map((v) => fixed(v, 2)).join(" / ")}`,
        ],
        data: {
          n,
          bytes: series.bytes,
          runs,
          hubMs,
          findMs,
          listings,
          hubPeakRssMb: hubRss,
          cpuMsPerMb: cpu,
        },
      };
    } finally {
      await agent.stop();
      await hub.stop();
      await orthanc.stop();
    }
  },
};

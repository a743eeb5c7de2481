/**
 * C-FIND as a PACS answers it: the agent against Orthanc holding the same objects, queried by DCMTK's
 * `findscu` (Study Root), in the same run.
 *
 * Both are loaded by `storescu` with one study of 500 instances and 100 studies of 5 (50 patients, small
 * generated CT images: the answers, not the pixels, are measured). Three queries, each run five times per
 * peer, the peers alternated; the median wall time of the `findscu` command (association, query, every
 * match, release) per query and peer:
 *
 * - **studies**: STUDY level, every study (PatientName `*`), with the usual worklist keys: 101 matches;
 * - **instances**: IMAGE level, every instance of the 500-instance study: 500 matches;
 * - **one patient**: STUDY level, one PatientID: 2 matches (the per-query cost).
 *
 * No target (no issue sets one); the ratio is Orthanc's time over the agent's (above 1: the agent is
 * faster). `--quick`: three runs per query.
 */
import * as path from "node:path";
import type { Benchmark, BenchOptions, BenchResult } from "./main.ts";
import { startAgentProcess } from "../tests/support/agent.ts";
import { ORTHANC_BIN, runDcmtk, skipReason, startOrthanc } from "../tests/support/peers.ts";
import { generateStudies } from "@conduit/shared/testing";
import { writeInstances } from "../tests/tools/generate.ts";
import { storescuInto } from "./_profile.ts";
import { fixed, median } from "./_shared.ts";

interface Query {
  name: string;
  keys: string[];
  matches: number;
}

/** One `findscu` run; resolves with its wall time in ms, after checking the number of matches. */
async function find(peer: { aet: string; port: number }, query: Query): Promise<number> {
  const t0 = performance.now();
  const out = await runDcmtk("findscu", [
    "-v",
    "-S",
    "-aec",
    peer.aet,
    "127.0.0.1",
    String(peer.port),
    ...query.keys.flatMap((k) => ["-k", k]),
  ], { timeoutMs: 120_000 });
  const ms = performance.now() - t0;
  const matches = (out.stdout + out.stderr).match(/Find Response: \d+ \(Pending/g)?.length ?? 0;
  if (out.code !== 0 || matches !== query.matches) {
    throw new Error(
      `findscu ${query.name} against ${peer.aet}: exit ${out.code}, ${matches} of ${query.matches} matches: ` +
        (out.stdout + out.stderr).split("\n").filter((l) => /Response/.test(l)).slice(0, 5).join(" | "),
    );
  }
  return ms;
}

export const query: Benchmark = {
  name: "query",
  description: "C-FIND (findscu, Study Root) against the agent and Orthanc holding the same objects",
  async run({ quick, workDir, log }: BenchOptions): Promise<BenchResult> {
    const skip = skipReason("storescu", "findscu", ORTHANC_BIN);
    if (skip) throw new Error(`query bench: ${skip}`);
    const big = [...generateStudies({
      seed: "query-big",
      patients: 1,
      studiesPerPatient: 1,
      series: [{ modality: "CT", instances: 500 }],
      rows: 64,
      columns: 64,
    })];
    const many = [...generateStudies({
      seed: "query-many",
      patients: 50,
      studiesPerPatient: 2,
      series: [{ modality: "CT", instances: 5 }],
      rows: 64,
      columns: 64,
    })];
    const paths = [
      ...(await writeInstances(path.join(workDir, "big"), big)).paths,
      ...(await writeInstances(path.join(workDir, "many"), many)).paths,
    ];
    log(`generated ${paths.length} small CT objects in 101 studies`);
    const queries: Query[] = [
      {
        name: "studies",
        keys: [
          "QueryRetrieveLevel=STUDY",
          "PatientName=*",
          "PatientID",
          "PatientBirthDate",
          "StudyInstanceUID",
          "StudyDate",
          "StudyDescription",
          "AccessionNumber",
          "ModalitiesInStudy",
          "NumberOfStudyRelatedInstances",
        ],
        matches: 101,
      },
      {
        name: "instances",
        keys: [
          "QueryRetrieveLevel=IMAGE",
          `StudyInstanceUID=${big[0].studyInstanceUid}`,
          "SeriesInstanceUID",
          "SOPInstanceUID",
          "SOPClassUID",
          "InstanceNumber",
        ],
        matches: 500,
      },
      {
        name: "one patient",
        keys: [
          "QueryRetrieveLevel=STUDY",
          `PatientID=${many[many.length - 1].patientId}`,
          "StudyInstanceUID",
          "StudyDate",
        ],
        matches: 2,
      },
    ];

    const agent = await startAgentProcess({ dataDir: path.join(workDir, "agent"), lockfile: true });
    const orthanc = await startOrthanc({ storageDir: path.join(workDir, "orthanc") });
    try {
      for (const peer of [agent, orthanc]) {
        const sent = await storescuInto(peer, paths);
        if (sent.code !== 0) throw new Error(`storescu into ${peer.aet}: ${sent.stderr.slice(-300)}`);
      }
      // A query before the timed ones: the agent's JIT and Orthanc's caches.
      for (const q of queries) for (const peer of [agent, orthanc]) await find(peer, q);
      const runs = quick ? 3 : 5;
      const times = new Map<string, { agent: number[]; orthanc: number[] }>();
      for (const q of queries) {
        const t = { agent: [] as number[], orthanc: [] as number[] };
        for (let i = 0; i < runs; i++) {
          t.agent.push(await find(agent, q));
          t.orthanc.push(await find(orthanc, q));
        }
        times.set(q.name, t);
        log(`${q.name}: agent ${fixed(median(t.agent))} ms, Orthanc ${fixed(median(t.orthanc))} ms`);
      }
      const rows = queries.map((q) => {
        const t = times.get(q.name)!;
        const a = median(t.agent), o = median(t.orthanc);
        return [
          q.name,
          String(q.matches),
          fixed(a),
          fixed(o),
          `${fixed(o / a, 2)}×`,
          t.agent.map((v) => fixed(v)).join(" / "),
          t.orthanc.map((v) => fixed(v)).join(" / "),
        ];
      });
      return {
        tables: [{
          title: `findscu wall time, ms (median of ${runs}, peers alternated)`,
          columns: ["query", "matches", "agent", "Orthanc", "Orthanc / agent", "agent runs", "Orthanc runs"],
          rows,
        }],
        targets: [],
        notes: [
          "no target; Orthanc / agent above 1 means the agent answered faster",
          "each peer answered every query once before the timed runs",
        ],
        data: { runs, objects: paths.length, times: Object.fromEntries(times) },
      };
    } finally {
      await agent.stop();
      await orthanc.stop();
    }
  },
};

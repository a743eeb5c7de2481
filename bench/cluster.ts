/**
 * The hub cluster benchmark (issue 18): two hub processes on one PostgreSQL started here
 * (tests/support/postgres.ts), each with its cluster URL.
 *
 * 1. **Scale**: 10,000 simulated agents (bench/_simulated_agents.ts), half connected to each hub; both
 *    hubs' RSS and CPU over a window once all are online. Target: total hub RSS ≤ 1 GB.
 * 2. **Relay**: the tunnel benchmark's relay (objects archived at north, forwarded to south through
 *    the hubs, timed from the queue's resume to the last acknowledgement) with north and south on the
 *    same hub, or with north on hub 1 and south on hub 2 (hub 1 carries each object to hub 2): three
 *    rounds per path, alternating, each with its own series, after one unmeasured round per path; medians.
 * 3. **WADO**: a study at north retrieved whole (multipart) through hub 1, which holds north, and
 *    through hub 2, which carries the request to hub 1, six rounds alternating. Target for both:
 *    forwarded ≥ 0.8 × direct.
 *
 * `--quick`: 1,000 simulated agents, 60 objects, one relay round per path.
 */
import * as path from "node:path";
import postgres from "postgres";
import type { Benchmark, BenchOptions, BenchResult } from "./main.ts";
import { freePort, runDcmtk, skipReason } from "../tests/support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../tests/support/agent.ts";
import { hubAdmin, type HubProcess, startHubProcess } from "../tests/support/hub.ts";
import { postgresMissing, startPostgres } from "../tests/support/postgres.ts";
import { newSecret } from "../hub/sites/tokens.ts";
import { simulateAgents } from "./_simulated_agents.ts";
import {
  fixed,
  generateCtSeries,
  MB,
  median,
  memory,
  processTicks,
  systemTicks,
  ticksPerSecond,
  until,
} from "./_shared.ts";
import { writeGeneratedSeries } from "../tests/tools/generate.ts";

const TARGET_RSS_MB = 1000;
const TARGET_FORWARDED = 0.8;
/** Relay rounds per path (direct, forwarded), their median compared. */
const RELAY_ROUNDS = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function startHubs(workDir: string, db: string, tag: string): Promise<HubProcess[]> {
  const hubs: HubProcess[] = [];
  for (const i of [1, 2]) {
    const port = freePort();
    hubs.push(
      await startHubProcess({
        dataDir: path.join(workDir, `${tag}-hub${i}`),
        port,
        db,
        args: ["--cluster-url", `http://127.0.0.1:${port}`],
      }),
    );
  }
  return hubs;
}

const sitesOn = async (hub: HubProcess) =>
  (await (await fetch(`http://127.0.0.1:${hub.port}/healthz`)).json()).sites;

async function scale(
  workDir: string,
  db: string,
  count: number,
  windowSeconds: number,
  log: (m: string) => void,
) {
  const hubs = await startHubs(workDir, db, "scale");
  // Sites and credentials straight into the database (the hubs' migrations made the tables).
  const sql = postgres(db, { max: 2, onnotice: () => {} });
  const credentials: { site: string; credential: string }[] = [];
  try {
    const now = Date.now();
    for (let i = 0; i < count; i += 1000) {
      const rows = [];
      for (let j = i; j < Math.min(count, i + 1000); j++) {
        const site = `sim-${j}`;
        const { token, hash } = newSecret("cts", site);
        credentials.push({ site, credential: token });
        rows.push({ name: site, state: "offline", credential_hash: hash, created_at: now, enrolled_at: now });
      }
      await sql`insert into sites ${sql(rows)}`;
    }
  } finally {
    await sql.end();
  }
  const half = Math.ceil(count / 2);
  const agents = [
    await simulateAgents(hubs[0].tunnelUrl, credentials.slice(0, half), log),
    await simulateAgents(hubs[1].tunnelUrl, credentials.slice(half), log),
  ];
  try {
    await until(
      `${count} sites online`,
      async () => (await sitesOn(hubs[0])) === half && (await sitesOn(hubs[1])) === count - half,
      5 * 60_000,
      500,
    );
    log(`${count} simulated agents online over two hubs; measuring for ${windowSeconds} s`);
    const hz = await ticksPerSecond();
    const t0 = hubs.map((h) => processTicks(h.pid).own);
    await sleep(windowSeconds * 1000);
    const cpu = hubs.map((h, i) => (processTicks(h.pid).own - t0[i]) / hz / windowSeconds);
    const mem = hubs.map((h) => memory(h.pid));
    return {
      count,
      cpu,
      rssMb: mem.map((m) => m.rss / MB),
      peakRssMb: mem.map((m) => m.peakRss / MB),
      pings: agents[0].pings() + agents[1].pings(),
    };
  } finally {
    for (const a of agents) await a.close();
    for (const h of hubs) await h.stop();
  }
}

async function queueDone(agent: AgentProcess, destination: string): Promise<number> {
  const body = await (await agent.http("/queue/summary")).json() as {
    rows: { destination: string; state: string; count: number }[];
  };
  return body.rows.filter((r) => r.destination === destination && r.state === "done")
    .reduce((n, r) => n + r.count, 0);
}

/** One relay round: its path, wall seconds, CPU seconds of north, hub 1, hub 2, south, and busy cores in all. */
interface RelayRound {
  label: string;
  seconds: number;
  cpu: number[];
  machineCores: number;
}

/** North on hub 1; south on hub 1 (direct) or hub 2 (forwarded): relay seconds, then WADO seconds. */
async function paths(
  workDir: string,
  db: string,
  sets: string[][],
  warmUp: string[][],
  log: (m: string) => void,
) {
  const hubs = await startHubs(workDir, db, "paths");
  const enroll = async (site: string) => {
    const r = await hubAdmin(hubs[0].dataDir, ["site", "add", site, "--json"]);
    if (r.code !== 0) throw new Error(`hub admin site add ${site}: ${r.stderr}`);
    return String(r.json!.enrollmentToken);
  };
  const token = String(
    (await hubAdmin(hubs[0].dataDir, ["token", "create", "bench", "--role", "operator", "--json"]))
      .json!.token,
  );
  const north = await startAgentProcess({
    dataDir: path.join(workDir, "north"),
    aet: "NORTH",
    config: { routes: [{ name: "to-south", to: [{ site: "south" }] }] },
    args: ["--site", "north", "--hub", hubs[0].tunnelUrl, "--enroll", await enroll("north")],
  });
  const southToken = await enroll("south");
  const southDir = path.join(workDir, "south");
  let south: AgentProcess | undefined;
  const result = {} as Record<string, number>;
  try {
    // Relay: a series of the same size each round, south on hub 1 (direct) or hub 2 (forwarded), the
    // rounds in the order direct, forwarded, forwarded, direct... so that a drift of the machine's speed
    // weighs on both paths alike; each path's median.
    // First one unmeasured round per path on a small series of its own: hub 2's relay code is otherwise
    // compiled, and the hubs' link opened, inside the first forwarded round (measured 0.5-1 s slower than the
    // next ones on 300 objects), and hub 1's inside the first direct one.
    const plan = [
      { label: "direct", files: warmUp[0], measured: false },
      { label: "forwarded", files: warmUp[1], measured: false },
      ...sets.map((files, i) => ({
        label: i % 4 === 0 || i % 4 === 3 ? "direct" : "forwarded",
        files,
        measured: true,
      })),
    ];
    const times: Record<string, number[]> = { direct: [], forwarded: [] };
    const rounds: RelayRound[] = [];
    const hz = await ticksPerSecond();
    let enrolled = false;
    for (const { label, files, measured } of plan) {
      const hub = label === "direct" ? 0 : 1;
      await (await north.http("/queue/pause/%40south", { method: "POST" })).body?.cancel();
      const sent = await runDcmtk("storescu", ["-aec", "NORTH", "127.0.0.1", String(north.port), ...files], {
        timeoutMs: 10 * 60_000,
      });
      if (sent.code !== 0) throw new Error(`storescu into north failed: ${sent.stderr.slice(-500)}`);
      south = await startAgentProcess({
        dataDir: southDir,
        aet: "SOUTH",
        args: [
          "--site",
          "south",
          "--hub",
          hubs[hub].tunnelUrl,
          ...(enrolled ? [] : ["--enroll", southToken]),
        ],
      });
      enrolled = true;
      await until(
        "south online on its hub",
        async () => (await sitesOn(hubs[hub])) === (hub === 0 ? 2 : 1),
        10 * 60_000,
        50,
      );
      const before = await queueDone(north, "@south");
      log(
        `${measured ? "" : "warm-up: "}relay ${files.length} objects north -> hub 1 -> ${
          label === "direct" ? "" : "hub 2 -> "
        }south`,
      );
      const pids = [north.pid, hubs[0].pid, hubs[1].pid, south.pid];
      const cpu0 = pids.map((pid) => processTicks(pid).own);
      const sys0 = systemTicks();
      const t0 = performance.now();
      await (await north.http("/queue/resume/%40south", { method: "POST" })).body?.cancel();
      await until(
        "all relayed",
        async () => (await queueDone(north, "@south")) - before >= files.length,
        10 * 60_000,
        50,
      );
      const seconds = (performance.now() - t0) / 1000;
      const sys1 = systemTicks();
      const cpu = pids.map((pid, k) => (processTicks(pid).own - cpu0[k]) / hz);
      await south.stop();
      south = undefined;
      if (!measured) continue;
      times[label].push(seconds);
      // What the path's four processes used, and what the whole machine used (others' work included).
      rounds.push({
        label,
        seconds,
        cpu,
        machineCores: (sys1.total - sys1.idle - sys0.total + sys0.idle) / hz / seconds,
      });
    }
    result.relay_direct = median(times.direct);
    result.relay_forwarded = median(times.forwarded);
    result.relayRounds = times.direct.length;
    // WADO of one study at north, whole, through hub 1 (holds north) and hub 2 (carries it to hub 1).
    const studies = await (await fetch(`http://127.0.0.1:${hubs[0].port}/dicomweb/sites/north/studies`, {
      headers: { authorization: `Bearer ${token}` },
    })).json() as Record<string, { Value: string[] }>[];
    const study = studies[0]["0020000D"].Value[0];
    const wado: Record<string, number[]> = { direct: [], forwarded: [] };
    for (let round = 0; round < 6; round++) {
      const label = round % 4 === 0 || round % 4 === 3 ? "direct" : "forwarded";
      const hub = label === "direct" ? 0 : 1;
      const t0 = performance.now();
      const r = await fetch(`http://127.0.0.1:${hubs[hub].port}/dicomweb/sites/north/studies/${study}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'multipart/related; type="application/dicom"' },
      });
      let bytes = 0;
      for await (const chunk of r.body!) bytes += chunk.byteLength;
      if (r.status !== 200 || bytes === 0) throw new Error(`WADO through hub ${hub + 1}: ${r.status}`);
      wado[label].push((performance.now() - t0) / 1000);
      result.wadoBytes = bytes;
    }
    result.wado_direct = median(wado.direct);
    result.wado_forwarded = median(wado.forwarded);
    return Object.assign(result, { rounds }) as Record<string, number> & { rounds: RelayRound[] };
  } finally {
    await south?.stop();
    await north.stop();
    for (const h of hubs) await h.stop();
  }
}

export const cluster: Benchmark = {
  name: "cluster",
  description:
    "two hubs on PostgreSQL: 10,000 agents over both; relay and WADO forwarded hub to hub vs direct",
  async run({ quick, workDir, log }: BenchOptions): Promise<BenchResult> {
    const skip = postgresMissing() ?? skipReason("storescu");
    if (skip) throw new Error(`cluster bench: ${skip}`);
    const n = quick ? 60 : 300;
    const simulated = quick ? 1000 : 10_000;
    const pg = await startPostgres();
    try {
      const series = await generateCtSeries(path.join(workDir, "series"), n, log);
      // One series per relay round: the first path's rounds and the second's, alternating.
      const sets = [series.paths];
      for (let i = 1; i < 2 * (quick ? 1 : RELAY_ROUNDS); i++) {
        const more = await writeGeneratedSeries(path.join(workDir, `series${i + 1}`), {
          count: n,
          seed: `cluster-bench-${i + 1}`,
        });
        sets.push(more.paths);
      }
      const warmUp: string[][] = [];
      for (const i of [1, 2]) {
        const small = await writeGeneratedSeries(path.join(workDir, `warm-up${i}`), {
          count: 30,
          seed: `cluster-bench-warm-up-${i}`,
        });
        warmUp.push(small.paths);
      }
      const p = await paths(workDir, await pg.createDatabase("paths"), sets, warmUp, log);
      const sc = await scale(workDir, await pg.createDatabase("scale"), simulated, quick ? 10 : 30, log);
      const relayRatio = p.relay_direct / p.relay_forwarded;
      const wadoRatio = p.wado_direct / p.wado_forwarded;
      const totalRss = sc.peakRssMb[0] + sc.peakRssMb[1];
      const mbps = (bytes: number, s: number) => fixed(bytes / MB / s);
      return {
        tables: [
          {
            title: `Scale: ${sc.count} simulated agents over two hubs, heartbeat every 5 s`,
            columns: ["hub", "agents", "CPU (cores)", "RSS MB", "peak RSS MB"],
            rows: [0, 1].map((i) => [
              `hub ${i + 1}`,
              String(i === 0 ? Math.ceil(sc.count / 2) : Math.floor(sc.count / 2)),
              fixed(sc.cpu[i], 3),
              fixed(sc.rssMb[i]),
              fixed(sc.peakRssMb[i]),
            ]),
          },
          {
            title: "Relay rounds: CPU seconds of each process on the path, and the machine's busy cores",
            columns: ["round", "path", "seconds", "north", "hub 1", "hub 2", "south", "machine cores"],
            rows: p.rounds.map((r, i) => [
              String(i + 1),
              r.label,
              fixed(r.seconds, 2),
              ...r.cpu.map((c) => fixed(c, 2)),
              fixed(r.machineCores, 2),
            ]),
          },
          {
            title: `Relay of ${n} objects (${fixed(series.bytes / MB)} MB) and WADO of a study (${
              fixed(p.wadoBytes / MB)
            } MB)`,
            columns: ["path", "seconds", "MB/s"],
            rows: [
              ["relay north -> hub 1 -> south", fixed(p.relay_direct, 2), mbps(series.bytes, p.relay_direct)],
              [
                "relay north -> hub 1 -> hub 2 -> south",
                fixed(p.relay_forwarded, 2),
                mbps(series.bytes, p.relay_forwarded),
              ],
              [
                "WADO of north through hub 1 (holds north)",
                fixed(p.wado_direct, 2),
                mbps(p.wadoBytes, p.wado_direct),
              ],
              [
                "WADO of north through hub 2 (forwards)",
                fixed(p.wado_forwarded, 2),
                mbps(p.wadoBytes, p.wado_forwarded),
              ],
            ],
          },
        ],
        targets: [
          {
            label: `total hub RSS with ${sc.count} agents over two hubs ≤ ${TARGET_RSS_MB} MB`,
            measured: `${fixed(totalRss)} MB`,
            pass: quick ? undefined : totalRss <= TARGET_RSS_MB,
          },
          {
            label: `relay through a forwarding hub ≥ ${TARGET_FORWARDED} × direct`,
            measured: `${fixed(relayRatio, 2)}×`,
            pass: relayRatio >= TARGET_FORWARDED,
          },
          {
            label: `WADO through a forwarding hub ≥ ${TARGET_FORWARDED} × direct`,
            measured: `${fixed(wadoRatio, 2)}×`,
            pass: wadoRatio >= TARGET_FORWARDED,
          },
        ],
        notes: [
          `each relay round sends its own series of the same size and kind; ${p.relayRounds} rounds per path, direct and forwarded alternating (ABBA), medians`,
          ...(quick ? ["--quick: the RSS target needs the full 10,000 agents"] : []),
        ],
        data: { n, scale: sc, paths: p, relayRatio, wadoRatio },
      };
    } finally {
      await pg.stop();
    }
  },
};

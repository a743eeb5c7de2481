/**
 * The tunnel benchmark (issue 5).
 *
 * 1. **Relay**: 0.526 MB generated CT objects already archived at agent north are forwarded to agent
 *    south through the hub (north's route `to: [{ site: south }]`, queue paused while storescu loads
 *    north, then resumed); the time runs from the resume to the last queue row done (each done only on
 *    south's acknowledgement, after south synced and indexed the object). Reference in the same run:
 *    the same number of 0.526 MB messages over plain loopback WebSockets (Deno's own, 8 in flight,
 *    each acknowledged), one hop (client to sink) and two hops (client to a relay process to sink); and
 *    south's own durable ingest of the same objects (`storescu` into a fresh agent as south is
 *    configured): issue 16's target is the relay at 0.8 of it, on the medians of three alternated rounds
 *    of each. Both first take 200 other objects, untimed (relayed all the way, or ingested): a started
 *    agent's JIT warm-up (bench/README.md, ingest).
 * 2. **End to end**: `storescu` to north, north to hub to south, south to `storescp`, against the same
 *    `storescu` run straight into `storescp`; the time runs from the storescu start to the last file
 *    in storescp's directory.
 * 3. **Scale**: simulated agents (one process, one WebSocket and session each, real hello and
 *    heartbeats, answering the hub's status requests) connected to one hub process; the hub's RSS
 *    and CPU over a window once all are online.
 *
 * `--quick`: 60 objects and 100 simulated agents.
 */
import * as path from "node:path";
import type { Benchmark, BenchOptions, BenchResult } from "./main.ts";
import { runDcmtk, skipReason, spawnLogged, startStorescp, waitReady } from "../tests/support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../tests/support/agent.ts";
import { hubAdmin, type HubProcess, startHubProcess } from "../tests/support/hub.ts";
import {
  countFiles,
  fixed,
  generateCtSeries,
  generateWarmUpSeries,
  MB,
  median,
  mediansOf,
  memory,
  processTicks,
  ticksPerSecond,
  until,
  warmUp,
} from "./_shared.ts";
import { simulateAgents } from "./_simulated_agents.ts";
import { openHubDb } from "../hub/db/db.ts";
import { SiteRegistry } from "../hub/sites/registry.ts";

const TARGET_RELAY = 0.5;
/** Alternated rounds of the relay and of south's own ingest (issue 16's target takes the medians). */
const RELAY_ROUNDS = 3;
/** Issue 16: the relay ≥ this × south's own durable ingest of the same objects. */
const TARGET_RELAY_INGEST = 0.8;
const TARGET_E2E = 0.5;
const TARGET_SCALE_RSS_MB = 300;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function enrollPair(hub: HubProcess) {
  const tokens: Record<string, string> = {};
  for (const site of ["north", "south"]) {
    const r = await hubAdmin(hub.dataDir, ["site", "add", site, "--json"]);
    if (r.code !== 0) throw new Error(`hub admin site add ${site}: ${r.stderr}`);
    tokens[site] = String(r.json!.enrollmentToken);
  }
  return tokens;
}

async function queueCounts(agent: AgentProcess, destination: string) {
  const res = await agent.http("/queue/summary");
  const body = await res.json() as { rows: { destination: string; state: string; count: number }[] };
  const counts: Record<string, number> = { pending: 0, in_flight: 0, failed: 0, done: 0, dead: 0 };
  for (const r of body.rows) if (r.destination === destination) counts[r.state] += r.count;
  return counts;
}

async function lastDone(agent: AgentProcess, limit: number): Promise<number> {
  const res = await agent.http(`/queue?state=done&limit=${limit}`);
  const rows = await res.json() as { doneAt: number | null }[];
  return Math.max(...rows.map((r) => r.doneAt ?? 0));
}

/** Sends `count` messages of `size` bytes, 8 in flight, each acknowledged; returns seconds. */
async function rawWebSocket(url: string, count: number, size: number): Promise<number> {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
  const payload = new Uint8Array(size).fill(7);
  let sent = 0, acked = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (sent < count && sent - acked < 8) ws.send(payload), sent++;
    };
    ws.onmessage = () => {
      acked++;
      if (acked === count) resolve();
      else pump();
    };
    pump();
  });
  const seconds = (performance.now() - t0) / 1000;
  ws.close();
  return seconds;
}

async function rawReference(workDir: string, count: number, size: number) {
  const script = new URL("./_raw_ws.ts", import.meta.url).pathname;
  const sinkPort = 20000 + Math.floor(Math.random() * 20000);
  const relayPort = sinkPort + 1;
  const sink = await spawnLogged("raw-sink", Deno.execPath(), [
    "run",
    "-A",
    script,
    "sink",
    String(sinkPort),
  ]);
  const relay = await spawnLogged("raw-relay", Deno.execPath(), [
    "run",
    "-A",
    script,
    "relay",
    String(relayPort),
    String(sinkPort),
  ]);
  const tcp = (port: number) => async () => {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return true;
    } catch {
      return false;
    }
  };
  try {
    await waitReady(sink, "raw sink", tcp(sinkPort), 20_000);
    await waitReady(relay, "raw relay", tcp(relayPort), 20_000);
    const oneHop = await rawWebSocket(`ws://127.0.0.1:${sinkPort}/`, count, size);
    const twoHops = await rawWebSocket(`ws://127.0.0.1:${relayPort}/`, count, size);
    return { oneHop, twoHops };
  } finally {
    void workDir;
    await sink.stop();
    await relay.stop();
  }
}

async function relayRun(
  workDir: string,
  files: string[],
  log: (m: string) => void,
  sync = true,
  warmup: string[] = [],
  round = 1,
) {
  const tag = `${sync ? "relay" : "relay-nosync"}-${round}`;
  const hub = await startHubProcess({ dataDir: path.join(workDir, `hub-${tag}`) });
  const tokens = await enrollPair(hub);
  const south = await startAgentProcess({
    dataDir: path.join(workDir, `south-${tag}`),
    aet: "SOUTH",
    config: { dimse: { sync } },
    args: ["--site", "south", "--hub", hub.tunnelUrl, "--enroll", tokens.south],
  });
  const north = await startAgentProcess({
    dataDir: path.join(workDir, `north-${tag}`),
    aet: "NORTH",
    config: { dimse: { sync }, routes: [{ name: "to-south", to: [{ site: "south" }] }] },
    args: ["--site", "north", "--hub", hub.tunnelUrl, "--enroll", tokens.north],
  });
  try {
    if (warmup.length) {
      // Relayed first, untimed, all of it: the three processes' JIT warm-up (bench/README.md, ingest).
      await warmUp(north, warmup);
      await until("warm-up relayed", async () => (await queueCounts(north, "@south")).done === warmup.length);
    }
    await (await north.http("/queue/pause/%40south", { method: "POST" })).body?.cancel();
    const sent = await runDcmtk("storescu", ["-aec", "NORTH", "127.0.0.1", String(north.port), ...files], {
      timeoutMs: 10 * 60_000,
    });
    if (sent.code !== 0) throw new Error(`storescu into north failed: ${sent.stderr.slice(-500)}`);
    await until("rows queued", async () => (await queueCounts(north, "@south")).pending === files.length);
    const southTicks0 = processTicks(south.pid).own, northTicks0 = processTicks(north.pid).own;
    const hubTicks0 = processTicks(hub.pid).own;
    log(`relaying ${files.length} objects north -> hub -> south`);
    const t0 = Date.now();
    await (await north.http("/queue/resume/%40south", { method: "POST" })).body?.cancel();
    const all = warmup.length + files.length;
    await until("all relayed", async () => (await queueCounts(north, "@south")).done === all);
    const seconds = (await lastDone(north, all) - t0) / 1000;
    const hz = await ticksPerSecond();
    return {
      seconds,
      cpu: {
        north: (processTicks(north.pid).own - northTicks0) / hz / seconds,
        hub: (processTicks(hub.pid).own - hubTicks0) / hz / seconds,
        south: (processTicks(south.pid).own - southTicks0) / hz / seconds,
      },
      peakRssMb: {
        north: memory(north.pid).peakRss / MB,
        hub: memory(hub.pid).peakRss / MB,
        south: memory(south.pid).peakRss / MB,
      },
    };
  } finally {
    await north.stop();
    await south.stop();
    await hub.stop();
    for (const who of ["hub", "south", "north"]) {
      await Deno.remove(path.join(workDir, `${who}-${tag}`), { recursive: true }).catch(() => {});
    }
  }
}

/**
 * South's own durable ingest of the same objects: `storescu` into a fresh agent configured as south
 * (default durability, no hub), its wall time; the reference of issue 16's relay target.
 */
async function southIngest(
  workDir: string,
  files: string[],
  log: (m: string) => void,
  warmup: string[] = [],
) {
  const dir = path.join(workDir, "south-ingest");
  const south = await startAgentProcess({ dataDir: dir, aet: "SOUTH", config: {} });
  try {
    await warmUp(south, warmup);
    const t0 = performance.now();
    const r = await runDcmtk("storescu", ["-aec", "SOUTH", "127.0.0.1", String(south.port), ...files], {
      timeoutMs: 10 * 60_000,
    });
    if (r.code !== 0) throw new Error(`storescu into south failed: ${r.stderr.slice(-500)}`);
    const seconds = (performance.now() - t0) / 1000;
    log(`south's own ingest: ${files.length} objects in ${fixed(seconds, 2)} s`);
    return seconds;
  } finally {
    await south.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function endToEnd(workDir: string, files: string[], log: (m: string) => void) {
  const directDir = path.join(workDir, "direct-pacs");
  const direct = await startStorescp({ aet: "PACS", dir: directDir, bitPreserving: true });
  let directSeconds: number;
  try {
    const t0 = performance.now();
    const r = await runDcmtk("storescu", ["-aec", "PACS", "127.0.0.1", String(direct.port), ...files], {
      timeoutMs: 10 * 60_000,
    });
    if (r.code !== 0) throw new Error(`storescu direct failed: ${r.stderr.slice(-500)}`);
    directSeconds = (performance.now() - t0) / 1000;
  } finally {
    await direct.stop();
  }
  const hub = await startHubProcess({ dataDir: path.join(workDir, "hub-e2e") });
  const tokens = await enrollPair(hub);
  const pacsDir = path.join(workDir, "e2e-pacs");
  const pacs = await startStorescp({ aet: "PACS", dir: pacsDir, bitPreserving: true });
  const south = await startAgentProcess({
    dataDir: path.join(workDir, "south-e2e"),
    aet: "SOUTH",
    config: { nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port } } },
    args: ["--site", "south", "--hub", hub.tunnelUrl, "--enroll", tokens.south],
  });
  const north = await startAgentProcess({
    dataDir: path.join(workDir, "north-e2e"),
    aet: "NORTH",
    config: { routes: [{ name: "to-south", to: [{ site: "south", node: "pacs" }] }] },
    args: ["--site", "north", "--hub", hub.tunnelUrl, "--enroll", tokens.north],
  });
  try {
    await sleep(1500); // both sessions up
    log(`storescu -> north -> hub -> south -> storescp, ${files.length} objects`);
    const t0 = performance.now();
    const r = await runDcmtk("storescu", ["-aec", "NORTH", "127.0.0.1", String(north.port), ...files], {
      timeoutMs: 10 * 60_000,
    });
    if (r.code !== 0) throw new Error(`storescu into north failed: ${r.stderr.slice(-500)}`);
    await until("all at storescp", async () => (await countFiles(pacsDir)) >= files.length, 10 * 60_000, 20);
    return { directSeconds, throughSeconds: (performance.now() - t0) / 1000 };
  } finally {
    await north.stop();
    await south.stop();
    await pacs.stop();
    await hub.stop();
  }
}

async function scale(workDir: string, count: number, windowSeconds: number, log: (m: string) => void) {
  const dataDir = path.join(workDir, "hub-scale");
  const db = await openHubDb(dataDir);
  const registry = new SiteRegistry(db);
  const credentials: { site: string; credential: string }[] = [];
  for (let i = 0; i < count; i++) {
    const { enrollmentToken } = await registry.add(`sim-${i}`);
    credentials.push(await registry.enroll(enrollmentToken));
  }
  await db.close();
  const hub = await startHubProcess({ dataDir });
  const agents = await simulateAgents(hub.tunnelUrl, credentials, log);
  try {
    await until(
      `${count} sites online`,
      async () => {
        const r = await fetch(`http://127.0.0.1:${hub.port}/healthz`);
        return (await r.json()).sites === count;
      },
      5 * 60_000,
      200,
    );
    log(`${count} simulated agents online; measuring the hub for ${windowSeconds} s`);
    const hz = await ticksPerSecond();
    const t0 = processTicks(hub.pid).own;
    await sleep(windowSeconds * 1000);
    const cpu = (processTicks(hub.pid).own - t0) / hz / windowSeconds;
    const mem = memory(hub.pid);
    return {
      count,
      cpu,
      rssMb: mem.rss / MB,
      peakRssMb: mem.peakRss / MB,
      pings: agents.pings(),
      statuses: agents.statuses(),
    };
  } finally {
    await agents.close();
    await hub.stop();
  }
}

export const tunnel: Benchmark = {
  name: "tunnel",
  description:
    "relay agent -> hub -> agent vs raw WebSocket; storescu -> A -> hub -> B -> storescp vs direct; 1000 agents",
  async run({ quick, workDir, log }: BenchOptions): Promise<BenchResult> {
    const skip = skipReason("storescu", "storescp");
    if (skip) throw new Error(`tunnel bench needs DCMTK: ${skip}`);
    const n = quick ? 60 : 300;
    const simulated = quick ? 100 : 1000;
    const series = await generateCtSeries(path.join(workDir, "series"), n, log);
    const size = series.bytes / series.files;
    const raw = await rawReference(workDir, n, Math.round(size));
    // Sent first, untimed, to the agents of the relay and of south's own ingest (other UIDs): both sides of
    // issue 16's relay target are judged warm, as in the ingest and forward benchmarks.
    const warmup = await generateWarmUpSeries(path.join(workDir, "warm-up"), quick ? 30 : 200);
    // Issue 16's relay target on the medians of alternated rounds: one run of each moved the ratio
    // between 0.78 and 0.90 from one hour to the next on this VM.
    const relays: Awaited<ReturnType<typeof relayRun>>[] = [];
    const ownIngests: number[] = [];
    for (let round = 1; round <= (quick ? 1 : RELAY_ROUNDS); round++) {
      relays.push(await relayRun(workDir, series.paths, log, true, warmup, round));
      ownIngests.push(await southIngest(workDir, series.paths, log, warmup));
    }
    // The run of median time (its CPU and memory are the table's).
    const relay = [...relays].sort((a, b) => a.seconds - b.seconds)[Math.floor(relays.length / 2)];
    const ownIngest = median(ownIngests);
    const relayNosync = await relayRun(workDir, series.paths, log, false, warmup);
    const e2e = await endToEnd(workDir, series.paths, log);
    const sc = await scale(workDir, simulated, quick ? 10 : 30, log);
    const mbps = (s: number) => (series.bytes / MB) / s;
    const relayRatio = raw.oneHop / relay.seconds;
    const relayRatio2 = raw.twoHops / relay.seconds;
    const relayIngestRatio = ownIngest / relay.seconds;
    const e2eRatio = e2e.directSeconds / e2e.throughSeconds;
    return {
      tables: [
        {
          title: `Relay of ${n} objects of ${fixed(size / MB, 3)} MB`,
          columns: ["path", "seconds", "files/s", "MB/s"],
          rows: [
            ["raw WebSocket, 1 hop", fixed(raw.oneHop, 2), fixed(n / raw.oneHop), fixed(mbps(raw.oneHop))],
            [
              "raw WebSocket, 2 hops",
              fixed(raw.twoHops, 2),
              fixed(n / raw.twoHops),
              fixed(mbps(raw.twoHops)),
            ],
            [
              "north -> hub -> south",
              fixed(relay.seconds, 2),
              fixed(n / relay.seconds),
              fixed(mbps(relay.seconds)),
            ],
            [
              "storescu -> south's own ingest (reference)",
              fixed(ownIngest, 2),
              fixed(n / ownIngest),
              fixed(mbps(ownIngest)),
            ],
            [
              "north -> hub -> south, dimse.sync off",
              fixed(relayNosync.seconds, 2),
              fixed(n / relayNosync.seconds),
              fixed(mbps(relayNosync.seconds)),
            ],
          ],
        },
        {
          title: "Relay: CPU (cores) and peak RSS (MB) per process",
          columns: ["process", "CPU", "peak RSS"],
          rows: (["north", "hub", "south"] as const).map((
            p,
          ) => [p, fixed(relay.cpu[p], 2), fixed(relay.peakRssMb[p])]),
        },
        {
          title: `End to end, ${n} objects`,
          columns: ["path", "seconds", "files/s"],
          rows: [
            ["storescu -> storescp", fixed(e2e.directSeconds, 2), fixed(n / e2e.directSeconds)],
            [
              "storescu -> north -> hub -> south -> storescp",
              fixed(e2e.throughSeconds, 2),
              fixed(n / e2e.throughSeconds),
            ],
          ],
        },
        {
          title: `Scale: ${sc.count} simulated agents, heartbeat every 5 s`,
          columns: ["hub CPU (cores)", "hub RSS MB", "hub peak RSS MB", "pings answered", "status requests"],
          rows: [[
            fixed(sc.cpu, 3),
            fixed(sc.rssMb),
            fixed(sc.peakRssMb),
            String(sc.pings),
            String(sc.statuses),
          ]],
        },
      ],
      targets: [
        {
          label: `relay ≥ ${TARGET_RELAY} × raw WebSocket (1 hop)`,
          measured: `${fixed(relayRatio, 2)}×`,
          pass: relayRatio >= TARGET_RELAY,
        },
        {
          label: `issue 16: relay ≥ ${TARGET_RELAY_INGEST} × south's own durable ingest (storescu → agent)`,
          measured:
            `${fixed(relayIngestRatio, 2)}× (${fixed(n / relay.seconds)} vs ${fixed(n / ownIngest)} files/s` +
            `${mediansOf(relays.map((r) => n / r.seconds), ownIngests.map((t) => n / t))})`,
          pass: relayIngestRatio >= TARGET_RELAY_INGEST,
        },
        {
          label: `storescu → A → hub → B → storescp ≥ ${TARGET_E2E} × direct`,
          measured: `${fixed(e2eRatio, 2)}×`,
          pass: e2eRatio >= TARGET_E2E,
        },
        {
          label: `hub RSS with ${sc.count} agents ≤ ${TARGET_SCALE_RSS_MB} MB`,
          measured: `${fixed(sc.peakRssMb)} MB`,
          pass: quick ? undefined : sc.peakRssMb <= TARGET_SCALE_RSS_MB,
        },
      ],
      notes: [
        `relay against 2 raw hops: ${fixed(relayRatio2, 2)}×`,
        "the relay includes south's fsync and index commit per object before its acknowledgement; the raw WebSocket writes nothing",
        `the relay's agents and south's own ingest first took ${warmup.length} other objects, untimed (JIT warm-up)`,
        ...(quick ? ["--quick: the scale target needs the full 1000 agents"] : []),
      ],
      data: {
        n,
        objectBytes: size,
        raw,
        relay,
        relays,
        ownIngestSeconds: ownIngest,
        ownIngestRuns: ownIngests,
        relayNosync,
        e2e,
        scale: sc,
      },
    };
  },
};

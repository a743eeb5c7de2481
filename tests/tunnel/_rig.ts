/**
 * Two real agents (north and south) enrolled with an in-process hub, connected through a TCP proxy
 * the test can cut; south forwards to a storescp "PACS"; north routes everything to south's PACS.
 */
import { freePort, startStorescp, type StorescpPeer } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { type CuttableProxy, startProxy } from "../support/tcp_proxy.ts";
import assert from "node:assert/strict";
import { datasetBytes, filesBySopInstance } from "../support/agent.ts";
import { eventually } from "../support/hub.ts";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { readPart10Header } from "@conduit/shared/dicom";

export interface RelayRig {
  hub: TestHub;
  proxy: CuttableProxy;
  pacs: StorescpPeer;
  north: AgentProcess;
  south: AgentProcess;
  /** Restarts the hub on the same port and data (agents reconnect). */
  restartHub(): Promise<void>;
  /** Stops and starts the south agent on the same data and ports. */
  restartSouth(): Promise<void>;
  /** Stops the south agent (startSouth starts it again on the same data and ports). */
  stopSouth(): Promise<void>;
  startSouth(): Promise<void>;
  /** SOP Instance UID -> how many times PACS received it. */
  received(): Promise<Map<string, string[]>>;
  stop(): Promise<void>;
}

const QUEUE = { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 1000 };
const HUB_RECONNECT = { reconnectBaseSeconds: 0.1 };

/**
 * `northDirect`: north reaches the hub without the proxy (only south's tunnel can be stalled or cut).
 * `reconnectCapSeconds`: the agents' `hub.reconnectCapSeconds` (default 1): the longest wait before they try
 * the hub again, reached after a few connections in a row that did not hold. `noSync`: both agents with
 * `dimse.sync: false` (nothing fsynced: for tests whose restarts are of processes, not of the machine).
 */
export async function startRelayRig(
  opts: {
    northDirect?: boolean;
    reconnectCapSeconds?: number;
    noSync?: boolean;
    /** North's queue settings over the rig's (fast retries). */
    northQueue?: Partial<typeof QUEUE>;
  } = {},
): Promise<RelayRig> {
  const HUB = { ...HUB_RECONNECT, reconnectCapSeconds: opts.reconnectCapSeconds ?? 1 };
  const dimse = opts.noSync ? { dimse: { sync: false } } : {};
  // The hub and the PACS start together, then both agents (each about 0.6 s alone).
  const [started, pacs] = await Promise.all([
    startTestHub({ heartbeatSeconds: 1 }),
    Deno.makeTempDir({ prefix: "relay-pacs-" }).then((dir) =>
      startStorescp({ aet: "PACS", dir, bitPreserving: true, extraArgs: ["--unique-filenames"] })
    ),
  ]);
  let hub = started;
  const hubPort = hub.port;
  const proxy = startProxy(hubPort);
  const url = `ws://127.0.0.1:${proxy.port}/tunnel`;
  const southToken = (await hub.registry.add("south")).enrollmentToken;
  const northToken = (await hub.registry.add("north")).enrollmentToken;
  const southPorts = { port: freePort(), httpPort: freePort() };
  const southConfig = {
    ...dimse,
    queue: QUEUE,
    hub: HUB,
    nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port } },
  };
  const [firstSouth, north] = await Promise.all([
    startAgentProcess({
      ...southPorts,
      aet: "SOUTH",
      config: southConfig,
      args: ["--site", "south", "--hub", url, "--enroll", southToken],
    }),
    startAgentProcess({
      aet: "NORTH",
      config: {
        ...dimse,
        queue: { ...QUEUE, ...opts.northQueue },
        hub: HUB,
        routes: [{ name: "to-south", to: [{ site: "south", node: "pacs" }] }],
      },
      args: ["--site", "north", "--hub", opts.northDirect ? hub.tunnelUrl : url, "--enroll", northToken],
    }),
  ]);
  let south = firstSouth;
  const southData = south.dataDir;
  // The PACS's files read so far (path to SOP Instance UID): a file storescp wrote keeps its name and object.
  const known = new Map<string, string>();
  return {
    hub,
    proxy,
    pacs,
    north,
    get south() {
      return south;
    },
    async restartHub() {
      await hub.stop();
      hub = await startTestHub({ dataDir: hub.dataDir, port: hubPort, heartbeatSeconds: 1 });
      this.hub = hub;
    },
    async restartSouth() {
      await this.stopSouth();
      await this.startSouth();
    },
    async stopSouth() {
      await south.stop();
    },
    async startSouth() {
      south = await startAgentProcess({
        ...southPorts,
        aet: "SOUTH",
        dataDir: southData,
        config: southConfig,
        args: ["--site", "south", "--hub", url],
      });
    },
    received() {
      return filesBySopInstance(pacs.dir, known);
    },
    async stop() {
      await Promise.all([north.stop(), south.stop()]);
      proxy.close();
      await Promise.all([pacs.stop(), hub.stop()]);
    },
  } as RelayRig;
}

/** Sends a fresh generated series to north; returns SOP UID -> source file. */
export async function sendSeries(rig: RelayRig, seed: string, count: number): Promise<Map<string, string>> {
  const dir = await Deno.makeTempDir({ prefix: "relay-src-" });
  const series = await writeGeneratedSeries(dir, { count, rows: 64, columns: 64, seed });
  const sent = await storescu(series.paths, rig.north, [], 120_000);
  assert.equal(sent.code, 0, sent.stderr);
  const out = new Map<string, string>();
  for (const p of series.paths) out.set(readPart10Header(await Deno.readFile(p)).sopInstanceUid!, p);
  return out;
}

/** Waits until PACS holds every object of `sources`, then checks each arrived once and unchanged. */
export async function assertDelivered(rig: RelayRig, sources: Map<string, string>, timeoutMs = 120_000) {
  const received = await eventually(`${sources.size} objects at PACS`, async () => {
    const r = await rig.received();
    return [...sources.keys()].every((uid) => r.has(uid)) ? r : undefined;
  }, timeoutMs);
  // storescp writes under the final name: a file seen a moment ago may still be growing.
  await eventually("the files written whole", async () => {
    for (const [uid, source] of sources) {
      const files = received.get(uid)!;
      const got = await datasetBytes(files[0]).catch(() => undefined);
      if (!got || got.byteLength !== (await datasetBytes(source)).byteLength) return undefined;
    }
    return true;
  }, 10_000);
  const final = await rig.received();
  for (const [uid, source] of sources) {
    const files = final.get(uid)!;
    assert.equal(files.length, 1, `${uid} reached PACS ${files.length} times`);
    assert.deepEqual(await datasetBytes(files[0]), await datasetBytes(source), `${uid} changed on the way`);
  }
}

/**
 * The transfer tests' rig: a hub in this process, agents north and south as processes, south's PACS a
 * `storescp`, and the typed client with an operator token.
 */
import assert from "node:assert/strict";
import { skipReason, startStorescp, type StorescpOptions, type StorescpPeer } from "../support/peers.ts";
import { type AgentProcess, filesBySopInstance, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, siteArgs, startTestHub, type TestHub } from "../support/hub.ts";
import { type CuttableProxy, startProxy } from "../support/tcp_proxy.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

export const skip = skipReason("storescu", "storescp");

const QUEUE = { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 1000 };
const HUB = { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 1 };
/** The hub's transfer pass interval in these tests (the service's default is 1000 ms). */
export const PASS_MS = 250;

export interface Rig {
  hub: TestHub;
  north: AgentProcess;
  south: AgentProcess;
  pacs: StorescpPeer;
  client: ReturnType<typeof createConduitClient>;
  url: string;
  northArgs: Parameters<typeof startAgentProcess>[0];
  /** South's options, to start it again on its data (after `stop` or `kill`). */
  southArgs: Parameters<typeof startAgentProcess>[0];
  /** North's de-identification key (`deid.keyFile`); south has none. */
  northKey: Uint8Array;
  /** With `tunnelProxy`: the TCP proxy both agents reach the hub through. */
  proxy?: CuttableProxy;
}

/** What a test changes in the rig: south's queue settings, how its PACS negotiates, north's nodes. */
export interface RigOptions {
  southQueue?: Partial<typeof QUEUE>;
  pacs?: Pick<StorescpOptions, "configFile">;
  /** Nodes of north (a PACS behind the source), as its config names them. */
  northNodes?: Record<string, { aet: string; host: string; port: number; retrieve?: "get" | "move" }>;
  /** North's DIMSE port (a node that C-MOVEs to north must know it first); a free one when absent. */
  northPort?: number;
  /** North's routes, as its config names them (e.g. to `{ site: "south" }`). */
  northRoutes?: unknown[];
  /** The hub's database (default: its libsql file, or PostgreSQL under CONDUIT_TEST_DB). */
  hubDb?: string;
  /** Both agents reach the hub through a TCP proxy the test can stall or cut (`Rig.proxy`). */
  tunnelProxy?: boolean;
  /**
   * Both agents with `dimse.sync: false` (nothing fsynced): for a test of thousands of objects that is not
   * about durability (each fsync of a small object costs more than the rest of its way).
   */
  noSync?: boolean;
}

/** The agents' `dimse` settings for `options`. */
function dimseOf(options: RigOptions) {
  return options.noSync ? { dimse: { sync: false } } : {};
}

/** Starts south's PACS (again, on `port`, keeping what it holds in `dir`). */
export async function startPacs(
  dir: string,
  port?: number,
  options: Pick<StorescpOptions, "configFile"> = {},
): Promise<StorescpPeer> {
  return await startStorescp({
    aet: "PACS",
    dir,
    port,
    bitPreserving: true,
    extraArgs: ["--unique-filenames"],
    ...options,
  });
}

export async function rig(options: RigOptions = {}): Promise<Rig> {
  // South's PACS (a process of its own) starts while the hub starts in this process; north (independent of
  // both) as soon as the hub is up, and south (which must know the PACS's port) once both are: each agent is
  // a process of its own, and its start is mostly its own CPU and waits.
  const pacsStarted = Deno.makeTempDir({ prefix: "transfer-pacs-" }).then((dir) =>
    startPacs(dir, undefined, options.pacs)
  );
  pacsStarted.catch(() => {}); // a failed start is thrown below
  const hub = await startTestHub({ db: options.hubDb }).catch(async (err) => {
    await pacsStarted.then((pacs) => pacs.stop(), () => {});
    throw err;
  });
  // The hub's transfer passes (hand-overs, progress, settling) every 250 ms instead of every second: the
  // tests wait for them, job after job.
  hub.transfers.stop();
  hub.transfers.start(PASS_MS);
  const proxy = options.tunnelProxy ? startProxy(hub.port) : undefined;
  const tunnelUrl = proxy ? `ws://127.0.0.1:${proxy.port}/tunnel` : hub.tunnelUrl;
  const via = { registry: hub.registry, tunnelUrl };
  const northStarted = startNorth(options, via);
  northStarted.catch(() => {}); // a failed start is thrown below, once both have ended
  const southStarted = pacsStarted.then(async (pacs) => {
    const southArgs = {
      aet: "SOUTH",
      config: {
        ...dimseOf(options),
        queue: { ...QUEUE, ...options.southQueue },
        hub: HUB,
        // `copy` is a second node name for the same storescp: a study sent to both arrives twice.
        nodes: {
          pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port },
          copy: { aet: "PACS", host: "127.0.0.1", port: pacs.port },
        },
      },
      args: await siteArgs(via, "south"),
    };
    return { south: await startAgentProcess(southArgs), southArgs };
  });
  const [pacsStart, southStart, northStart] = await Promise.allSettled([
    pacsStarted,
    southStarted,
    northStarted,
  ]);
  if (
    pacsStart.status === "rejected" || southStart.status === "rejected" || northStart.status === "rejected"
  ) {
    await Promise.all([
      southStart.status === "fulfilled" ? southStart.value.south.stop() : undefined,
      northStart.status === "fulfilled" ? northStart.value.north.stop() : undefined,
      pacsStart.status === "fulfilled" ? pacsStart.value.stop() : undefined,
    ]);
    proxy?.close();
    await hub.stop();
    const failed = [pacsStart, southStart, northStart].find((s) => s.status === "rejected");
    throw (failed as PromiseRejectedResult).reason;
  }
  const pacs = pacsStart.value;
  const { south, southArgs } = southStart.value;
  const { north, northArgs, northKey } = northStart.value;
  await eventually("both online", () => hub.sessions.get("north") && hub.sessions.get("south"));
  const url = `http://127.0.0.1:${hub.port}`;
  const client = createConduitClient({ url, token: (await hub.tokens.create("ops", "operator")).token });
  return {
    hub,
    north,
    south,
    pacs,
    client,
    url,
    northKey,
    proxy,
    northArgs: {
      ...northArgs,
      dataDir: north.dataDir,
      port: north.port,
      httpPort: north.httpPort,
      args: ["--site", "north", "--hub", tunnelUrl],
    },
    southArgs: {
      ...southArgs,
      dataDir: south.dataDir,
      port: south.port,
      httpPort: south.httpPort,
      args: ["--site", "south", "--hub", tunnelUrl],
    },
  };
}

/** North with its de-identification key, as {@link rig} starts it. */
async function startNorth(options: RigOptions, via: { registry: TestHub["registry"]; tunnelUrl: string }) {
  const northKey = crypto.getRandomValues(new Uint8Array(32));
  const keyFile = await Deno.makeTempFile({ prefix: "north-", suffix: ".key" });
  await Deno.writeFile(keyFile, northKey);
  const northArgs = {
    aet: "NORTH",
    ...(options.northPort ? { port: options.northPort } : {}),
    config: {
      ...dimseOf(options),
      queue: QUEUE,
      hub: HUB,
      deid: { keyFile },
      ...(options.northNodes ? { nodes: options.northNodes } : {}),
      ...(options.northRoutes ? { routes: options.northRoutes } : {}),
    },
    args: await siteArgs(via, "north"),
  };
  return { north: await startAgentProcess(northArgs), northArgs, northKey };
}

export async function seed(
  r: Rig,
  seed: string,
  count: number,
  modality: "CT" | "MR" = "CT",
  size = 64,
) {
  const dir = await Deno.makeTempDir({ prefix: "transfer-src-" });
  const series = await writeGeneratedSeries(dir, { count, rows: size, columns: size, seed, modality });
  const sent = await storescu(series.paths, r.north, [], 120_000);
  assert.equal(sent.code, 0, sent.stderr);
  return series;
}

/** SOP Instance UID -> how many times the PACS received it. */
export async function atPacs(r: Rig): Promise<Map<string, number>> {
  return new Map([...(await filesBySopInstance(r.pacs.dir))].map(([uid, files]) => [uid, files.length]));
}

/**
 * What reached the PACS since `before` (an earlier {@link atPacs}): SOP Instance UID -> how many times more.
 * For tests that share a rig: what reached it in the test, not what earlier tests sent.
 */
export async function atPacsSince(r: Rig, before: Map<string, number>): Promise<Map<string, number>> {
  const delta = new Map<string, number>();
  for (const [uid, n] of await atPacs(r)) {
    const was = before.get(uid) ?? 0;
    if (n > was) delta.set(uid, n - was);
  }
  return delta;
}

/**
 * What the PACS holds once it holds `count` objects. A transfer's `success` means the destination site
 * acknowledged every object (committed and queued for its node); its C-STORE to the node follows from
 * its queue, so a test waits for it (docs/transfers.md).
 */
export async function pacsHolding(r: Rig, count: number): Promise<Map<string, number>> {
  return await eventually(`${count} objects at the PACS`, async () => {
    const pacs = await atPacs(r);
    return pacs.size >= count ? pacs : undefined;
  });
}

export async function finished(r: Rig, id: string, timeoutMs = 120_000) {
  return await eventually(`transfer ${id} finished`, async () => {
    const t = await r.client.transfers.get.query({ id });
    return ["success", "warning", "failure", "canceled"].includes(t.status) ? t : undefined;
  }, timeoutMs);
}

export function rigTest(name: string, fn: (r: Rig) => Promise<void>, options?: RigOptions) {
  Deno.test({
    name,
    ignore: Boolean(skip),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const r = await rig(options);
      try {
        await fn(r);
      } finally {
        await stopRig(r);
      }
    },
  });
}

/** Stops what {@link rig} started. */
export async function stopRig(r: Rig): Promise<void> {
  await Promise.all([r.north.stop(), r.south.stop(), r.pacs.stop()]);
  r.proxy?.close();
  await r.hub.stop();
}

/**
 * Two real agents (north and south) enrolled with an in-process hub, connected through a TCP proxy
 * the test can cut; south forwards to a storescp "PACS"; north routes everything to south's PACS.
 */
import { freePort, startStorescp, type StorescpPeer } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { type CuttableProxy, startProxy } from "../support/tcp_proxy.ts";
import { filesBySopInstance } from "../support/agent.ts";

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
  /** SOP Instance UID -> how many times PACS received it. */
  received(): Promise<Map<string, string[]>>;
  stop(): Promise<void>;
}

const QUEUE = { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 1000 };
const HUB = { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 1 };

export async function startRelayRig(): Promise<RelayRig> {
  let hub = await startTestHub({ heartbeatSeconds: 1 });
  const hubPort = hub.port;
  const proxy = startProxy(hubPort);
  const url = `ws://127.0.0.1:${proxy.port}/tunnel`;
  const pacs = await startStorescp({
    aet: "PACS",
    dir: await Deno.makeTempDir({ prefix: "relay-pacs-" }),
    bitPreserving: true,
    extraArgs: ["--unique-filenames"],
  });
  const southToken = (await hub.registry.add("south")).enrollmentToken;
  const northToken = (await hub.registry.add("north")).enrollmentToken;
  const southPorts = { port: freePort(), httpPort: freePort() };
  const southConfig = {
    queue: QUEUE,
    hub: HUB,
    nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port } },
  };
  let south = await startAgentProcess({
    ...southPorts,
    aet: "SOUTH",
    config: southConfig,
    args: ["--site", "south", "--hub", url, "--enroll", southToken],
  });
  const southData = south.dataDir;
  const north = await startAgentProcess({
    aet: "NORTH",
    config: {
      queue: QUEUE,
      hub: HUB,
      routes: [{ name: "to-south", to: [{ site: "south", node: "pacs" }] }],
    },
    args: ["--site", "north", "--hub", url, "--enroll", northToken],
  });
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
      await south.stop();
      south = await startAgentProcess({
        ...southPorts,
        aet: "SOUTH",
        dataDir: southData,
        config: southConfig,
        args: ["--site", "south", "--hub", url],
      });
    },
    received() {
      return filesBySopInstance(pacs.dir);
    },
    async stop() {
      await north.stop();
      await south.stop();
      proxy.close();
      await pacs.stop();
      await hub.stop();
    },
  } as RelayRig;
}

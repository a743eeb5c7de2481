/**
 * Nodes and routes changed without a restart: the real agent, real storescp nodes, the configuration file
 * rewritten and SIGHUP. A route added sends the next object to a new node while the association that
 * brought it stays open across the reload, and a node given another address gets the next object there;
 * `dimse.allowedCallingAets` refuses the next association request, not the open one; an invalid file
 * changes nothing; the rows of a node removed wait and are delivered once it is back; a node given Storage
 * Commitment is asked to commit what is forwarded to it next; a C-MOVE may name a node added, not one removed.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { readPart10Header } from "@conduit/shared/dicom";
import { Status } from "../../agent/dimse/handlers.ts";
import { UNCONFIGURED } from "../../agent/forward/forwarder.ts";
import { ScuAssociation } from "../../agent/dimse/scu.ts";
import { memorySource } from "../../agent/part10/source.ts";
import { listFiles, startAgentProcess } from "../support/agent.ts";
import { reloadAgent as reload } from "../support/reload.ts";
import { eventually } from "../support/hub.ts";
import {
  freePort,
  scratchDir,
  skipReason,
  startOrthanc,
  startStorescp,
  type StorescpPeer,
} from "../support/peers.ts";
import { retrieveWith, storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`config_reload_test: skipped: ${skip}`);

const node = (peer: StorescpPeer) => ({ aet: peer.aet, host: "127.0.0.1", port: peer.port });
const received = async (peer: StorescpPeer) => (await listFiles(peer.dir)).length;

/** An object of a generated file, to send on an association of the test's own. */
async function outgoing(file: string) {
  const bytes = await Deno.readFile(file);
  const header = readPart10Header(bytes);
  const dataset = bytes.subarray(header.datasetOffset);
  return {
    sopClassUid: header.sopClassUid!,
    sopInstanceUid: header.sopInstanceUid!,
    transferSyntax: header.transferSyntax,
    datasetSize: dataset.length,
    openDataset: () => Promise.resolve(memorySource(dataset)),
  };
}

Deno.test({
  name:
    "agent: SIGHUP applies a route added and a node moved to the next objects of an association left open",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("conduit-config-reload-");
    const series = await writeGeneratedSeries(path.join(dir, "in"), { count: 5, rows: 16, columns: 16 });
    const objects = await Promise.all(series.paths.map(outgoing));
    const [first, second, moved] = await Promise.all(
      ["FIRST", "SECOND", "MOVED"].map((aet) => startStorescp({ dir: path.join(dir, aet), aet })),
    );
    const before = {
      nodes: { first: node(first) },
      routes: [{ name: "to-first", to: [{ node: "first" }] }],
    };
    const agent = await startAgentProcess({ config: before });
    const scu = new ScuAssociation({
      callingAet: "MODALITY",
      node: { aet: agent.aet, host: "127.0.0.1", port: agent.port },
      maxPduLength: 262144,
      idleTimeoutMs: 60_000,
      artimTimeoutMs: 5_000,
      responseTimeoutMs: 10_000,
    });
    try {
      await scu.open({
        storage: [{ sopClassUid: objects[0].sopClassUid, transferSyntax: objects[0].transferSyntax }],
      });
      assert.equal(await scu.store(objects[0]), Status.Success);
      await eventually("the first object at FIRST", async () => await received(first) === 1);

      // A file the agent cannot use changes nothing, each with its reason.
      const bad = [
        [{ ...before, nodes: { first: { ...node(first), prot: 1 } } }, /nodes\.first\.prot: unknown key/],
        [{ ...before, routes: [{ name: "to-x", to: [{ node: "nowhere" }] }] }, /no node named "nowhere"/],
      ] as const;
      for (const [config, reason] of bad) {
        const { line } = await reload(agent, config);
        assert.equal(line.msg, "configuration not reloaded: the agent keeps the one it had");
        assert.equal(line.level, "error");
        assert.match(String(line.reason), reason);
      }
      const { line: yaml } = await reload(agent, "nodes: [unclosed\n");
      assert.match(String(yaml.reason), /is not valid YAML/);
      // The nodes in force are still those of the start (and so are the routes: the next reload's line).
      const nodes = await (await agent.http("/nodes")).json() as { name: string; port: number }[];
      assert.deepEqual(nodes.map((n) => [n.name, n.port]), [["first", first.port]]);

      // A route and its node added (and the queue's concurrency changed, which waits for a restart; the
      // ports are the test's flags, which win over the file).
      const added = {
        nodes: { first: node(first), second: node(second) },
        routes: [...before.routes, { name: "to-second", to: [{ node: "second" }] }],
        queue: { concurrency: 3 },
      };
      const { line: applied, atRestart } = await reload(agent, added);
      assert.deepEqual(atRestart?.settings, ["queue.concurrency"]);
      assert.equal(
        applied.msg,
        "configuration reloaded: objects received from now on take its routes, new associations its nodes",
      );
      assert.deepEqual(applied.nodesAdded, ["second"]);
      assert.deepEqual(applied.routes, ["to-second"]);

      // The association opened before the reload goes on; its next object takes the new route.
      assert.equal(await scu.store(objects[1]), Status.Success);
      await eventually(
        "the second object at FIRST and SECOND",
        async () => await received(first) === 2 && await received(second) === 1,
      );

      // FIRST moved to another storescp: the association the workers hold to the old one is let go.
      const movedConfig = { ...added, nodes: { ...added.nodes, first: node(moved) } };
      const { line: nodeMoved, atRestart: saidAgain } = await reload(agent, movedConfig);
      assert.deepEqual(nodeMoved.nodesChanged, ["first"]);
      assert.equal(saidAgain, undefined, "queue.concurrency, said at the last reload, is not said again");
      assert.equal(await scu.store(objects[2]), Status.Success);
      await eventually(
        "the third object at MOVED and SECOND",
        async () => await received(moved) === 1 && await received(second) === 2,
      );
      assert.equal(await received(first), 2, "nothing more went to the old address");
      // Objects already routed kept their rows: the first object never went to SECOND.
      const names = (await listFiles(second.dir)).map((f) => path.basename(f)).join(" ");
      assert.ok(
        !names.includes(objects[0].sopInstanceUid),
        "an object received before the route was sent by it",
      );

      // The log level from the file: debug lines (an association accepted) are written from now on.
      // (And the queue's concurrency given another value: said again.)
      const { line: debug, atRestart: concurrency } = await reload(agent, {
        ...movedConfig,
        log: { level: "debug" },
        queue: { concurrency: 4 },
      });
      assert.equal(debug.logLevel, "debug");
      assert.deepEqual(concurrency?.settings, ["queue.concurrency"]);
      const accepted = async () =>
        (await Deno.readTextFile(agent.logFile)).split("\n").filter((l) =>
          l.includes('"association accepted"')
        )
          .length;
      const acceptedBefore = await accepted();
      assert.equal((await storescu([series.paths[4]], agent)).code, 0);
      await eventually("a debug line written", async () => await accepted() > acceptedBefore);

      // Only MODALITY may associate from now on: storescu (STORESCU) is refused, the open association goes on.
      const { line: closed } = await reload(agent, {
        ...movedConfig,
        log: { level: "debug" },
        dimse: { allowedCallingAets: ["MODALITY"] },
      });
      assert.deepEqual(closed.allowedCallingAets, ["MODALITY"]);
      assert.notEqual((await storescu([series.paths[3]], agent)).code, 0, "STORESCU still accepted");
      assert.equal(await scu.store(objects[3]), Status.Success);
      await scu.release();
      assert.equal(agent.exited(), false);
    } finally {
      scu.abort();
      await agent.stop();
      await Promise.all([first, second, moved].map((p) => p.stop()));
    }
  },
});

Deno.test({
  name: "agent: the rows of a node removed by SIGHUP wait, and are delivered once a reload brings it back",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("conduit-config-reload-rows-");
    const series = await writeGeneratedSeries(path.join(dir, "in"), { count: 2, rows: 16, columns: 16 });
    // Nothing listens at the node's port yet: the rows fail and are retried.
    const port = freePort();
    const withNode = {
      nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port } },
      routes: [{ name: "to-pacs", to: [{ node: "pacs" }] }],
      queue: { maxAttempts: 1000, backoffBaseSeconds: 0.2, backoffCapSeconds: 0.5 },
    };
    const agent = await startAgentProcess({ config: withNode });
    let pacs: StorescpPeer | undefined;
    const summary = async () =>
      await (await agent.http("/queue/summary")).json() as {
        rows: { destination: string; state: string; count: number }[];
        destinations: { name: string; configured: boolean }[];
      };
    try {
      const sent = await storescu(series.paths, agent);
      assert.equal(sent.code, 0, sent.stderr);
      await eventually(
        "the rows failed",
        async () => (await summary()).rows.some((r) => r.destination === "pacs" && r.state === "failed"),
      );

      const { line: removed } = await reload(agent, { queue: withNode.queue });
      assert.deepEqual(removed.nodesRemoved, ["pacs"]);
      assert.deepEqual(removed.routes, ["to-pacs"]);
      const waiting = await summary();
      assert.deepEqual(waiting.destinations.find((d) => d.name === "pacs")?.configured, false);
      const rows = waiting.rows.filter((r) => r.destination === "pacs");
      assert.equal(rows.reduce((n, r) => n + r.count, 0), 2, "both rows are kept");
      assert.ok(rows.every((r) => r.state === "failed" || r.state === "pending" || r.state === "in_flight"));

      // Its workers gave way to ones that wait for the node instead of trying the old address.
      await eventually(
        "the workers wait",
        async () =>
          (await Deno.readTextFile(agent.logFile)).split("\n").some((l) =>
            l.includes(`"msg":${JSON.stringify(UNCONFIGURED)}`) && l.includes(`"destination":"pacs"`)
          ),
      );

      pacs = await startStorescp({ dir: path.join(dir, "pacs"), aet: "PACS", port });
      await reload(agent, withNode);
      await eventually(
        "both delivered",
        async () =>
          (await summary()).rows.some((r) => r.destination === "pacs" && r.state === "done" && r.count === 2),
      );
      assert.equal(await received(pacs), 2);
      assert.equal((await summary()).destinations.find((d) => d.name === "pacs")?.configured, true);
    } finally {
      await agent.stop();
      await pacs?.stop();
    }
  },
});

const noOrthanc = skipReason("storescu", "Orthanc");

Deno.test({
  name: "agent: a node given storageCommitment by SIGHUP is asked to commit what is forwarded to it next",
  ignore: Boolean(noOrthanc),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("conduit-config-reload-commit-");
    const series = await writeGeneratedSeries(path.join(dir, "in"), { count: 2, rows: 16, columns: 16 });
    const agentPort = freePort();
    const orthanc = await startOrthanc({
      storageDir: path.join(dir, "orthanc"),
      modalities: { conduit: { aet: "CONDUIT", host: "127.0.0.1", port: agentPort } },
    });
    const pacs = { aet: orthanc.aet, host: "127.0.0.1", port: orthanc.port };
    const routes = [{ name: "to-pacs", to: [{ node: "pacs" }] }];
    // No node commits at start: the agent has not loaded its Storage Commitment requests.
    const agent = await startAgentProcess({ port: agentPort, config: { nodes: { pacs }, routes } });
    const rows = async () =>
      await (await agent.http("/queue?limit=100")).json() as { sopInstanceUid: string; state: string }[];
    try {
      assert.equal((await storescu([series.paths[0]], agent)).code, 0);
      await eventually("the first object done", async () => (await rows()).some((r) => r.state === "done"));

      const { line } = await reload(agent, { nodes: { pacs: { ...pacs, storageCommitment: true } }, routes });
      assert.deepEqual(line.nodesChanged, ["pacs"]);
      assert.equal((await storescu([series.paths[1]], agent)).code, 0);
      const metrics = async () => await (await agent.http("/metrics")).text();
      await eventually(
        "Orthanc committed the second object",
        async () =>
          /conduit_agent_forward_commitment_total\{destination="pacs",outcome="committed"\} 1\b/.test(
            await metrics(),
          ),
      );
      await eventually("both rows done", async () => (await rows()).every((r) => r.state === "done"));
      assert.match(
        await metrics(),
        /outcome="requested"\} 1\b/,
        "only the object forwarded after the reload",
      );
    } finally {
      await agent.stop();
      await orthanc.stop();
    }
  },
});

Deno.test({
  name: "agent: a C-MOVE may name a node added by SIGHUP, and not one removed by it",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("conduit-config-reload-move-");
    const series = await writeGeneratedSeries(path.join(dir, "in"), { count: 1, rows: 16, columns: 16 });
    const pacs = await startStorescp({ dir: path.join(dir, "pacs"), aet: "PACS" });
    const agent = await startAgentProcess({});
    const keys = ["QueryRetrieveLevel=STUDY", `StudyInstanceUID=${series.studyUid}`];
    const move = () => retrieveWith("movescu", agent, keys, ["-v", "-S", "-aem", "PACS"]);
    try {
      assert.equal((await storescu(series.paths, agent)).code, 0);
      const unknown = await move();
      assert.match(unknown.stdout + unknown.stderr, /MoveDestinationUnknown/);

      await reload(agent, { nodes: { pacs: node(pacs) } });
      const moved = await move();
      assert.equal(moved.code, 0, moved.stderr);
      assert.doesNotMatch(moved.stdout + moved.stderr, /MoveDestinationUnknown/);
      assert.equal(await received(pacs), 1);

      await reload(agent, {});
      const refused = await move();
      assert.match(refused.stdout + refused.stderr, /MoveDestinationUnknown/);
    } finally {
      await agent.stop();
      await pacs.stop();
    }
  },
});

Deno.test({
  name:
    "a reload whose de-identifying route needs the file's new top-level key is refused saying it waits for a restart",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("conduit-reload-key-");
    const keyFile = path.join(dir, "project.key");
    await Deno.writeFile(keyFile, crypto.getRandomValues(new Uint8Array(32)), { mode: 0o600 });
    const nodes = { pacs: { aet: "PACS", host: "127.0.0.1", port: freePort() } };
    const agent = await startAgentProcess({ config: { nodes } });
    try {
      const { line } = await reload(agent, {
        nodes,
        deid: { keyFile },
        routes: [{ name: "research", to: [{ node: "pacs" }], deid: { profile: "basic" } }],
      });
      // Until 2026-12-08: "set deid.keyFile on the route or at the top", which the file did.
      assert.match(
        String(line.reason),
        /deid needs a key: .*\(the file's top-level deid\.keyFile is new and takes effect at the next restart: restart the agent, or set deid\.keyFile on the route to reload now\)/,
      );
    } finally {
      await agent.stop();
    }
  },
});

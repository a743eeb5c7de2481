/**
 * Storage Commitment as SCU on forwarding (docs/routing.md "Storage Commitment", conformance.md): the agent
 * forwards to Orthanc, a node with `storageCommitment: true`, asks it to commit what it stored (N-ACTION),
 * and Orthanc reports on a new association to the agent's SCP (it knows the agent as a modality). Rows stay
 * `committing` until the report (Orthanc told a wrong port for the agent first, so no report arrives), are
 * asked again when it is overdue, an object deleted from Orthanc meanwhile is reported failed and stored
 * again, retention keeps files awaiting commitment, and a kill -9 while a commitment is pending asks again at
 * the next start; a node that is no Storage Commitment SCP sends its rows to the dead letter. Another agent as the commitment SCP, which cannot reach the requester, reports on the
 * request's association.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import {
  freePort,
  orthancModality,
  skipReason,
  startOrthanc,
  startStorescp,
  startTogether,
} from "../support/peers.ts";
import { agentCli, type AgentProcess, listFiles, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { startProxy } from "../support/tcp_proxy.ts";

const skip = skipReason("storescu", "Orthanc");
if (skip) console.warn(`forward_commitment_test: skipped: ${skip}`);

const FAST_RETRY = { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 50 };

interface Row {
  id: number;
  sopInstanceUid: string;
  destination: string;
  state: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string;
}

/** A node at 127.0.0.1 that commits: asked again after `timeoutSeconds` without its report. */
function committingNode(aet: string, port: number, timeoutSeconds: number) {
  return { aet, host: "127.0.0.1", port, storageCommitment: true, commitmentTimeoutSeconds: timeoutSeconds };
}

/** A generated CT series of `count` small objects sent to `agent` by storescu (which must succeed). */
async function sendSeries(agent: AgentProcess, seed: string, count: number) {
  const series = await writeGeneratedSeries(await Deno.makeTempDir(), {
    count,
    rows: 32,
    columns: 32,
    modality: "CT",
    seed,
  });
  assert.equal((await storescu(series.paths, agent)).code, 0);
  return series;
}

async function rows(agent: AgentProcess): Promise<Row[]> {
  return await (await agent.http(`/queue?limit=10000`)).json() as Row[];
}

async function inState(agent: AgentProcess, state: string): Promise<Row[]> {
  return (await rows(agent)).filter((r) => r.state === state);
}

async function metric(agent: AgentProcess, outcome: string, destination = "pacs"): Promise<number> {
  const text = await (await agent.http("/metrics")).text();
  const m = text.match(
    new RegExp(
      `conduit_agent_forward_commitment_total\\{destination="${destination}",outcome="${outcome}"\\} (\\d+)`,
    ),
  );
  return m ? Number(m[1]) : 0;
}

Deno.test({
  name:
    "forwarded rows are done only once Orthanc commits them; overdue asked again; a deleted one is re-sent",
  ignore: !!skip,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const agentPort = freePort();
    const orthanc = await startOrthanc({
      storageDir: await Deno.makeTempDir({ prefix: "fwdc-orthanc-" }),
      // A port nothing listens on: Orthanc's reports do not reach the agent (yet).
      modalities: { conduit: { aet: "CONDUIT", host: "127.0.0.1", port: freePort() } },
    });
    const agent = await startAgentProcess({
      port: agentPort,
      config: {
        queue: FAST_RETRY,
        dimse: { commitmentRetrySeconds: 0.2 },
        archive: { removeAfterForwardSeconds: 0 },
        nodes: {
          // Asked again 0.5 s after each ask without a report (doubled at each ask, at most 4 s): the test
          // waits for two. A report that comes after the next ask is ignored (the newer request decides).
          pacs: committingNode(orthanc.aet, orthanc.port, 0.5),
        },
        routes: [{ name: "all", to: [{ node: "pacs" }] }],
      },
    });
    try {
      await sendSeries(agent, "fwd-commit", 3);
      await eventually(
        "3 rows awaiting commitment",
        async () => (await inState(agent, "committing")).length === 3,
      );
      await eventually("the N-ACTION answered", async () => (await metric(agent, "requested")) >= 1);
      assert.equal((await orthanc.instances()).length, 3, "stored at Orthanc");
      // Orthanc could not report: nothing is done, and retention keeps every file.
      assert.equal((await inState(agent, "done")).length, 0);
      assert.equal((await listFiles(path.join(agent.dataDir, "archive"))).length, 3);
      // Asked again when the report is overdue (1 s), under a new Transaction UID.
      await eventually("asked again", async () => (await metric(agent, "timeout")) >= 1, 30_000);
      const summary = await (await agent.http("/queue/summary")).json() as { rows: { state: string }[] };
      assert.ok(summary.rows.some((r) => r.state === "committing"), "the summary shows the state");
      const listed = await agentCli([
        "queue",
        "list",
        "--state",
        "committing",
        "--json",
        "--http-port",
        String(agent.httpPort),
      ]);
      assert.equal(listed.code, 0, listed.stderr);
      assert.equal((JSON.parse(listed.stdout) as Row[]).length, 3, "queue list --state committing");

      // One object leaves Orthanc before it commits: its report fails it, and it is stored again.
      const [gone] = await orthanc.instances();
      const goneSop = (await (await orthanc.rest(`/instances/${gone}`)).json()).MainDicomTags.SOPInstanceUID;
      assert.ok((await orthanc.rest(`/instances/${gone}`, { method: "DELETE" })).ok);
      await orthancModality(orthanc, "conduit", agent.aet, agentPort);

      await eventually("every row done", async () => (await inState(agent, "done")).length === 3, 60_000);
      assert.ok((await metric(agent, "failed")) >= 1, "the deleted object was reported failed");
      assert.ok((await metric(agent, "committed")) >= 3);
      const metrics = await (await agent.http("/metrics")).text();
      const delivered = Number(
        metrics.match(/conduit_agent_forward_latency_seconds_count\{destination="pacs"\} (\d+)/)?.[1] ?? 0,
      );
      assert.ok(delivered >= 3, "delivery latency observed at commitment");
      const resent = (await rows(agent)).find((r) => r.sopInstanceUid === goneSop)!;
      assert.ok(resent.attempts >= 2, `stored again after the failed commitment: ${JSON.stringify(resent)}`);
      assert.equal((await orthanc.instances()).length, 3, "the deleted object is back at Orthanc");
      // Committed: retention may now remove the files.
      await eventually(
        "files removed after commitment",
        async () => (await listFiles(path.join(agent.dataDir, "archive"))).length === 0,
        30_000,
      );
      const log = await Deno.readTextFile(agent.logFile);
      assert.ok(!log.includes(goneSop), "no UID in clear in the log");
    } finally {
      await Promise.all([agent.stop(), orthanc.discard()]);
    }
  },
});

Deno.test({
  name: "a node that stops answering delays no other node's asking again for an overdue commitment",
  ignore: !!skip,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const agentPort = freePort();
    // Neither Orthanc can report at first: their modality for the agent names a port nothing listens on.
    const reportsNowhere = { conduit: { aet: "CONDUIT", host: "127.0.0.1", port: freePort() } };
    const [pacs, other] = await startTogether([
      startOrthanc({
        storageDir: await Deno.makeTempDir({ prefix: "fwdc-orthanc-" }),
        modalities: reportsNowhere,
      }),
      startOrthanc({
        storageDir: await Deno.makeTempDir({ prefix: "fwdc-orthanc-" }),
        aet: "OTHER",
        modalities: reportsNowhere,
      }),
    ]);
    // `slow` is `other` behind a proxy that, once frozen, takes connections and moves no byte.
    const proxy = startProxy(other.port);
    // Asked again 0.5 s after each ask without a report, doubled at each ask (at most 4 s): the test waits
    // for one of `slow`'s and for `pacs`' once Orthanc can report.
    const node = (aet: string, port: number) => committingNode(aet, port, 0.5);
    const agent = await startAgentProcess({
      port: agentPort,
      config: {
        queue: FAST_RETRY,
        // An association that gets no answer waits this long: far longer than the test.
        dimse: { commitmentRetrySeconds: 0.2, artimTimeoutSeconds: 3600 },
        nodes: { pacs: node(pacs.aet, pacs.port), slow: node(other.aet, proxy.port) },
        routes: [{ name: "all", to: [{ node: "pacs" }, { node: "slow" }] }],
      },
    });
    try {
      await sendSeries(agent, "fwd-commit-two", 2);
      await eventually(
        "both nodes' rows awaiting commitment",
        async () => (await inState(agent, "committing")).length === 4,
      );
      // `slow` stops answering; its next ask again hangs on an association that never opens.
      const before = proxy.open;
      proxy.freezeAll(true);
      await eventually("slow asked again, on a frozen connection", () => proxy.open > before || undefined);
      // `pacs` is asked again all the same, and commits once Orthanc can report.
      await orthancModality(pacs, "conduit", "CONDUIT", agentPort);
      await eventually(
        "pacs' rows done while slow's ask hangs",
        async () =>
          (await rows(agent)).filter((r) => r.destination === "pacs" && r.state === "done").length === 2,
        60_000,
      );
      assert.ok(
        (await rows(agent)).filter((r) => r.destination === "slow").every((r) => r.state === "committing"),
        "slow's rows still wait for their commitment",
      );
      assert.equal(await metric(agent, "committed", "slow"), 0);
    } finally {
      await agent.stop();
      proxy.close();
      await Promise.all([pacs.discard(), other.discard()]);
    }
  },
});

Deno.test({
  name: "a kill -9 while a commitment is pending: the next start asks again and the rows complete",
  ignore: !!skip,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const agentPort = freePort();
    const orthanc = await startOrthanc({
      storageDir: await Deno.makeTempDir({ prefix: "fwdc-orthanc-" }),
      modalities: { conduit: { aet: "CONDUIT", host: "127.0.0.1", port: freePort() } },
    });
    const dataDir = await Deno.makeTempDir({ prefix: "fwdc-agent-" });
    const config = {
      queue: FAST_RETRY,
      nodes: {
        // Asked again far later than the test lasts: only the restart asks again.
        pacs: committingNode(orthanc.aet, orthanc.port, 3600),
      },
      routes: [{ name: "all", to: [{ node: "pacs" }] }],
    };
    let agent = await startAgentProcess({ dataDir, port: agentPort, config });
    try {
      const series = await writeGeneratedSeries(await Deno.makeTempDir(), {
        count: 2,
        rows: 32,
        columns: 32,
        modality: "MR",
        seed: "fwd-commit-restart",
      });
      assert.equal((await storescu(series.paths, agent)).code, 0);
      await eventually(
        "2 rows awaiting commitment",
        async () => (await inState(agent, "committing")).length === 2,
      );
      await eventually("the N-ACTION answered", async () => (await metric(agent, "requested")) >= 1);
      await agent.kill();
      await orthancModality(orthanc, "conduit", "CONDUIT", agentPort);
      agent = await startAgentProcess({ dataDir, port: agentPort, config });
      await eventually(
        "rows done after the restart",
        async () => (await inState(agent, "done")).length === 2,
        30_000,
      );
      const log = await Deno.readTextFile(agent.logFile);
      assert.match(log, /rows awaiting storage commitment at the last stop are asked again/);
    } finally {
      await Promise.all([agent.stop(), orthanc.discard()]);
    }
  },
});

Deno.test({
  name:
    "another agent as the commitment SCP reports on the request's association (it cannot reach the requester)",
  ignore: !!skip,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    // B knows no node for A: its report can only go on the association A asked on. A names B's port before
    // B listens on it: the two start together.
    const bPort = freePort();
    const [b, a] = await startTogether([
      startAgentProcess({ aet: "BAGENT", port: bPort }),
      startAgentProcess({
        config: {
          queue: FAST_RETRY,
          nodes: {
            pacs: committingNode("BAGENT", bPort, 2),
          },
          routes: [{ name: "all", to: [{ node: "pacs" }] }],
        },
      }),
    ]);
    try {
      await sendSeries(a, "fwd-commit-agent", 3);
      await eventually("every row done", async () => (await inState(a, "done")).length === 3, 60_000);
      assert.ok((await metric(a, "committed")) >= 3);
      assert.equal(await metric(a, "failed"), 0);
      // B logs its report once A has answered it, so perhaps after A marked the rows done.
      const reported = /"msg":"storage commitment reported".*"via":"requester's association"/;
      await eventually("B logged its report", async () => reported.test(await Deno.readTextFile(b.logFile)));
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  },
});

Deno.test({
  name: "a node that is no Storage Commitment SCP (storescp): its rows go to the dead letter, saying why",
  ignore: !!skipReason("storescp", "storescu"),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const scp = await startStorescp({ dir: await Deno.makeTempDir({ prefix: "fwdc-scp-" }) });
    const agent = await startAgentProcess({
      config: {
        queue: FAST_RETRY,
        nodes: { pacs: { aet: scp.aet, host: "127.0.0.1", port: scp.port, storageCommitment: true } },
        routes: [{ name: "all", to: [{ node: "pacs" }] }],
      },
    });
    try {
      await sendSeries(agent, "fwd-commit-none", 2);
      const dead = await eventually("rows in the dead letter", async () => {
        const d = await inState(agent, "dead");
        return d.length === 2 ? d : undefined;
      });
      for (const r of dead) {
        assert.equal(r.lastStatus, 0x0122);
        assert.match(r.lastError, /accepted no Storage Commitment context/);
      }
      assert.equal((await inState(agent, "done")).length, 0);
    } finally {
      await agent.stop();
      await scp.stop();
    }
  },
});

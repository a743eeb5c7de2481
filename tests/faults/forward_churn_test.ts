/**
 * No leak under churn towards a destination: a node that accepts associations and then aborts them, closes
 * them inside a C-STORE, drops the connection before any PDU, or accepts and never answers, again and again,
 * while the forward queue retries. The associations and sockets the agent holds stay within
 * `queue.concurrency` all along (as the node sees them too), and come back to where they were once the queue
 * is idle.
 */
import assert from "node:assert/strict";
import { type Held, held, skipReason } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import {
  abortPdu,
  associateAc,
  ContextResult,
  decodeProposedContexts,
  PduSocket,
  PduType,
} from "../support/pdu.ts";
import { agentLog, ctObject } from "../support/faults.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";

const skip = skipReason("storescu");
if (skip) console.warn(`forward_churn_test: skipped: ${skip}`);

const CONCURRENCY = 2;
const ATTEMPTS = 80;

/** How the node ends the n-th connection it accepts. */
const MISDEEDS = [
  "A-ABORT after accepting",
  "A-ABORT inside the first C-STORE",
  "close inside the first C-STORE",
  "close before any PDU",
  "A-ABORT after accepting",
  "close inside the first C-STORE",
  "A-ABORT inside the first C-STORE",
  "close before any PDU",
  "close after accepting",
  "accept, then never answer",
] as const;

/** A node that misbehaves on every connection, in turn; counts the connections open at once. */
function misbehavingNode(port = 0) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  let accepted = 0, open = 0, mostOpen = 0;
  const serve = async (socket: PduSocket, misdeed: (typeof MISDEEDS)[number]) => {
    if (misdeed === "close before any PDU") return;
    const rq = await socket.read(10_000);
    if (rq.kind !== "pdu" || rq.type !== PduType.AssociateRq) return;
    const contexts = decodeProposedContexts(rq.body).map((pc) => ({
      id: pc.id,
      result: ContextResult.Acceptance,
      transferSyntax: pc.transferSyntaxes[0],
    }));
    await socket.send(
      associateAc({ calledAet: "MISDEEDS", callingAet: "CONDUIT", contexts, maxPduLength: 16_384 }),
    );
    if (misdeed === "A-ABORT after accepting") return void await socket.trySend(abortPdu(2, 0));
    if (misdeed === "close after accepting") return;
    if (misdeed === "accept, then never answer") return void await socket.untilClosed(30_000);
    await socket.read(10_000); // the first P-DATA of a C-STORE
    if (misdeed === "A-ABORT inside the first C-STORE") await socket.trySend(abortPdu(2, 0));
  };
  const served = (async () => {
    for await (const conn of listener) {
      const misdeed = MISDEEDS[accepted++ % MISDEEDS.length];
      open++;
      mostOpen = Math.max(mostOpen, open);
      const socket = PduSocket.accepted(conn as Deno.TcpConn);
      serve(socket, misdeed).catch(() => {}).finally(async () => {
        await socket.close();
        open--;
      });
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get accepted() {
      return accepted;
    },
    get mostOpen() {
      return mostOpen;
    },
    async close() {
      listener.close();
      await served;
    },
  };
}

Deno.test({
  name:
    `forward churn: ${ATTEMPTS} associations a node aborts, drops or leaves unanswered hold no more than the queue's concurrency`,
  ignore: !!skip,
  fn: async () => {
    let node = misbehavingNode();
    const agent: AgentProcess = await startAgentProcess({
      config: {
        dimse: { idleTimeoutSeconds: 2, artimTimeoutSeconds: 2 },
        nodes: { dest: { aet: "MISDEEDS", host: "127.0.0.1", port: node.port } },
        routes: [{ name: "all", to: [{ node: "dest" }] }],
        queue: {
          concurrency: CONCURRENCY,
          backoffBaseSeconds: 0.02,
          backoffCapSeconds: 0.1,
          maxAttempts: 1000,
        },
      },
    });
    const dir = await Deno.makeTempDir({ prefix: "conduit-forward-churn-" });
    /** Counts the node's connections up to `attempts`, watching the agent's sockets all along. */
    const churn = async (attempts: number, before: Held) => {
      let most = before;
      await eventually(`${attempts} connections to the node`, () => {
        const now = held(agent.pid);
        if (now.sockets > most.sockets) most = now;
        return node.accepted >= attempts || undefined;
      }, 90_000);
      // The workers' associations, and one more: the storescu association or a connection still closing.
      assert.ok(
        most.sockets <= before.sockets + CONCURRENCY + 1,
        `the agent held ${most.sockets} sockets, ${before.sockets} before${await agentLog(agent)}`,
      );
      // The same, as the node sees it.
      assert.ok(node.mostOpen <= CONCURRENCY + 1, `the node saw ${node.mostOpen} connections at once`);
    };
    /** The node goes away: the workers' sockets end, and the agent holds what it held before (`limit`). */
    const quiet = async (limit: Held, fdsMore: number) => {
      await node.close();
      let now = held(agent.pid);
      await eventually("the agent's descriptors back where they were", () => {
        now = held(agent.pid);
        return now.sockets <= limit.sockets && now.fds <= limit.fds + fdsMore || undefined;
      }, 20_000).catch((err) => {
        throw new Error(`${err.message}: ${JSON.stringify(now)}, before ${JSON.stringify(limit)}`);
      });
      return now;
    };
    try {
      const files: string[] = [];
      for (let i = 0; i < 6; i++) {
        const file = `${dir}/${i}.dcm`;
        await Deno.writeFile(file, ctObject(`forward-churn-${i}`, { rows: 64, columns: 64 }).bytes);
        files.push(file);
      }
      const idle = held(agent.pid);
      const sent = await storescu(files, agent, [], 60_000);
      assert.equal(sent.code, 0, sent.stderr);
      // A first round warms the agent up (the intake's staging files made ahead, the association code).
      await churn(20, idle);
      const warm = await quiet({ ...idle, fds: Number.MAX_SAFE_INTEGER }, 0);
      node = misbehavingNode(node.port);
      await churn(ATTEMPTS, warm);
      const metrics = await (await agent.http("/metrics")).text();
      const failed = Number(
        /^conduit_agent_forward_attempts_total\{[^}]*outcome="failed"[^}]*\} (\d+)/m.exec(metrics)?.[1],
      );
      assert.ok(failed >= ATTEMPTS, `failed attempts counted: ${failed}`);
      await quiet(warm, 1);
    } finally {
      await agent.stop();
      await node.close().catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

/**
 * How the forward queue takes a destination's C-STORE answers, with a scripted SCP that answers each
 * object with a chosen status (or a sequence of them): warnings are deliveries, permanent failures go to
 * the dead letter at once, retryable ones are retried, and nothing the destination stored is sent again;
 * rows for a node the configuration no longer names wait for it.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { Logger } from "@conduit/shared/log";
import { readPart10Header } from "@conduit/shared/dicom";
import { startScp } from "../../agent/dimse/scp_server.ts";
import { StoreFileStream } from "../../agent/part10/file_stream.ts";
import { Status, type StoreContext } from "../../agent/dimse/handlers.ts";
import { freePort, skipReason, sleep, startStorescp } from "../support/peers.ts";
import { type AgentProcess, listFiles, startAgentProcess } from "../support/agent.ts";
import { UNCONFIGURED } from "../../agent/forward/forwarder.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("storescu");
const quiet = new Logger({}, "error");

/** An SCP that answers the n-th C-STORE of an object with `script(sop)[n]` (the last one after that). */
async function scriptedScp(dir: string, script: (sop: string) => number[]) {
  const received = new Map<string, number>();
  const port = freePort();
  const scp = await startScp({
    host: "127.0.0.1",
    port,
    aet: "SCRIPTED",
    allowedCallingAets: ["*"],
    checkCalledAet: false,
    maxAssociations: 4,
    acceptAnySopClass: true,
    maxOpsPerformed: 1,
    maxPduLength: 262144,
    idleTimeoutMs: 30_000,
    artimTimeoutMs: 5_000,
    log: quiet,
    store: {
      open: (ctx: StoreContext) =>
        new StoreFileStream(
          path.join(dir, `${ctx.sopInstanceUid}.${received.get(ctx.sopInstanceUid) ?? 0}`),
          {
            sopClassUid: ctx.sopClassUid,
            sopInstanceUid: ctx.sopInstanceUid,
            transferSyntax: ctx.transferSyntax,
          },
          false,
        ),
      commit: (_sink: StoreFileStream, ctx: StoreContext) => {
        const n = received.get(ctx.sopInstanceUid) ?? 0;
        received.set(ctx.sopInstanceUid, n + 1);
        const statuses = script(ctx.sopInstanceUid);
        return Promise.resolve({ status: statuses[Math.min(n, statuses.length - 1)] });
      },
    },
    query: {} as never,
    retrieve: {} as never,
  });
  return { port, aet: "SCRIPTED", received, close: () => scp.close() };
}

type Row = {
  sopInstanceUid: string;
  state: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string;
};

async function rows(agent: AgentProcess): Promise<Row[]> {
  return await (await agent.http(`/queue?limit=10000`)).json() as Row[];
}

Deno.test({
  name: "each C-STORE answer of a destination settles its row as PS3.7 classes it",
  ignore: !!skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "fwd-status-" });
    const series = await writeGeneratedSeries(path.join(dir, "in"), {
      count: 7,
      rows: 16,
      columns: 16,
      seed: "st",
    });
    const sops = series.paths.map((f) => readPart10Header(Deno.readFileSync(f)).sopInstanceUid!);
    const answers: Record<string, number[]> = {
      [sops[0]]: [Status.Success],
      [sops[1]]: [0xb000], // coercion of data elements: stored
      [sops[2]]: [0x0107], // warning: attribute list error (PS3.7 C.4): stored
      [sops[3]]: [0x0116], // warning: attribute value out of range: stored
      [sops[4]]: [0xa700, 0xa700, Status.Success], // out of resources twice, then stored
      [sops[5]]: [0xc000], // cannot understand: permanent
      [sops[6]]: [0xa900], // data set does not match SOP class: permanent
    };
    await Deno.mkdir(path.join(dir, "out"));
    const peer = await scriptedScp(path.join(dir, "out"), (sop) => answers[sop] ?? [Status.Success]);
    const agent = await startAgentProcess({
      config: {
        nodes: { dest: { aet: peer.aet, host: "127.0.0.1", port: peer.port } },
        routes: [{ name: "all", to: [{ node: "dest" }] }],
        queue: { backoffBaseSeconds: 0.1, backoffCapSeconds: 0.3, maxAttempts: 5 },
      },
    });
    try {
      assert.equal((await storescu(series.paths, agent)).code, 0);
      await eventually(
        "every row settled",
        async () => (await rows(agent)).every((r) => r.state === "done" || r.state === "dead"),
      );
      await sleep(1000);
      const by = new Map((await rows(agent)).map((r) => [r.sopInstanceUid, r]));
      const view = sops.map((s) => ({
        state: by.get(s)!.state,
        attempts: by.get(s)!.attempts,
        lastStatus: by.get(s)!.lastStatus,
        received: peer.received.get(s),
      }));
      // A done row keeps the status it was stored with: 0, or the warning.
      assert.deepEqual(view, [
        { state: "done", attempts: 1, lastStatus: 0, received: 1 },
        { state: "done", attempts: 1, lastStatus: 0xb000, received: 1 },
        { state: "done", attempts: 1, lastStatus: 0x0107, received: 1 },
        { state: "done", attempts: 1, lastStatus: 0x0116, received: 1 },
        { state: "done", attempts: 3, lastStatus: 0, received: 3 },
        { state: "dead", attempts: 1, lastStatus: 0xc000, received: 1 },
        { state: "dead", attempts: 1, lastStatus: 0xa900, received: 1 },
      ]);
      const metrics = await (await agent.http("/metrics")).text();
      for (
        const line of [
          `conduit_agent_forward_attempts_total{destination="dest",outcome="done"} 5`,
          `conduit_agent_forward_attempts_total{destination="dest",outcome="failed"} 2`,
          `conduit_agent_forward_attempts_total{destination="dest",outcome="dead"} 2`,
          `conduit_agent_forward_failures_total{destination="dest",status="0xA700"} 2`,
          `conduit_agent_queue_rows{destination="dest",state="done"} 5`,
          `conduit_agent_queue_rows{destination="dest",state="dead"} 2`,
        ]
      ) assert.ok(metrics.includes(line), line);
    } finally {
      await agent.stop();
      await peer.close();
    }
  },
});

Deno.test({
  name: "rows for a node removed from the configuration wait through a restart, and go once it is back",
  ignore: !!skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "fwd-gone-" });
    const series = await writeGeneratedSeries(path.join(dir, "in"), {
      count: 2,
      rows: 16,
      columns: 16,
      seed: "gone",
    });
    const dataDir = path.join(dir, "agent");
    // Nothing listens at the node's port: each row fails its first attempt and waits out a long backoff.
    const port = freePort();
    const first = await startAgentProcess({
      dataDir,
      config: {
        nodes: { old: { aet: "OLD", host: "127.0.0.1", port } },
        routes: [{ name: "to-old", to: [{ node: "old" }] }],
        queue: { backoffBaseSeconds: 600, backoffCapSeconds: 600 },
      },
    });
    try {
      assert.equal((await storescu(series.paths, first)).code, 0);
      await eventually("two rows failed", async () => {
        const all = await rows(first);
        return all.length === 2 && all.every((r) => r.state === "failed");
      });
    } finally {
      await first.stop();
    }
    const queue = { maxAttempts: 50, backoffBaseSeconds: 0.1, backoffCapSeconds: 0.2 };
    const again = await startAgentProcess({ dataDir, config: { queue } });
    try {
      // Made due and woken, they are not tried: their workers wait for the node.
      const retried = await again.http("/queue/retry", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ all: true }),
      });
      assert.deepEqual(await retried.json(), { retried: 2 });
      await eventually(
        "the workers wait",
        async () =>
          (await Deno.readTextFile(again.logFile)).includes(`"msg":${JSON.stringify(UNCONFIGURED)}`),
      );
      const summary = await (await again.http("/queue/summary")).json();
      assert.deepEqual(summary.destinations, [{ name: "old", paused: false, configured: false }]);
      for (const r of await rows(again)) {
        assert.equal(r.state, "failed");
        assert.equal(r.attempts, 1);
      }
      // Given up by the operator (`queue abandon`): to the dead letter, from where replay brings them back.
      const post = (p: string, body: unknown) =>
        again.http(p, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        })
          .then((r) => r.json());
      assert.deepEqual(await post("/queue/abandon", { destination: "old" }), { abandoned: 2 });
      for (const r of await rows(again)) {
        assert.equal(r.state, "dead");
        assert.equal(r.lastError, "abandoned by the operator");
      }
      assert.deepEqual(await post("/queue/replay", { destination: "old" }), { replayed: 2 });
      for (const r of await rows(again)) assert.equal(r.state, "pending");
    } finally {
      await again.stop();
    }
    const scp = await startStorescp({ dir: path.join(dir, "old"), aet: "OLD", port });
    const back = await startAgentProcess({
      dataDir,
      config: { nodes: { old: { aet: "OLD", host: "127.0.0.1", port } }, queue },
    });
    try {
      await back.http("/queue/retry", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ all: true }),
      });
      await eventually("both delivered", async () => (await rows(back)).every((r) => r.state === "done"));
      assert.equal((await listFiles(scp.dir)).length, 2);
    } finally {
      await back.stop();
      await scp.stop();
    }
  },
});

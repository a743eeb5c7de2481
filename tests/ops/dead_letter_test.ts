/**
 * The dead letter's end (docs/operations.md, "Discarding dead rows"), with a real agent process, its libsql
 * file and DCMTK's storescp as a PACS that takes CT only (MR objects are refused for good, no presentation
 * context): `queue discard` deletes dead rows only, after which `archive.removeAfterDays` removes their
 * objects, which it never did while their rows were dead; and `queue.keepDeadDays` purges dead rows by
 * itself, logged and counted; `archive.removeAfterForwardSeconds` removes an object whose dead rows were
 * discarded, never one no route takes.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { ctOnlyProfile, skipReason, startStorescp, type StorescpPeer } from "../support/peers.ts";
import { agentCli, type AgentProcess, indexRows, queueRows, startAgentProcess } from "../support/agent.ts";
import { sendGenerated as send } from "../support/send.ts";
import { eventually } from "../support/hub.ts";

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`dead_letter_test: skipped: ${skip}`);

const stateOf = async (agent: AgentProcess, sop: string) =>
  (await queueRows(agent)).find((r) => r.sopInstanceUid === sop)?.state;

/** The archived objects not removed, by SOP Instance UID, with their files. */
const live = (agent: AgentProcess) =>
  new Map(
    indexRows(agent.dataDir, "SELECT sop_instance_uid AS sop, path FROM instances WHERE removed_at IS NULL")
      .map((r) => [String(r.sop), path.join(agent.dataDir, String(r.path))]),
  );

/** A CT-only storescp, and an agent routing everything to it, MR rows dead at their first refusal. */
async function refusingPacs(config: Record<string, unknown>) {
  const pacs = await startStorescp({ dir: await Deno.makeTempDir(), configFile: await ctOnlyProfile() });
  const agent = await startAgentProcess({
    config: {
      nodes: { pacs: { aet: pacs.aet, host: "127.0.0.1", port: pacs.port } },
      routes: [{ name: "all", to: [{ node: "pacs" }] }],
      ...config,
      queue: { maxAttempts: 1, ...(config.queue as object ?? {}) },
    },
  });
  return { pacs, agent };
}

async function stopBoth(r: { pacs: StorescpPeer; agent: AgentProcess }) {
  await r.agent.stop();
  await r.pacs.stop();
}

Deno.test({
  name: "queue discard deletes dead rows only, then archive.removeAfterDays removes their objects",
  ignore: Boolean(skip),
  async fn() {
    const r = await refusingPacs({ archive: { removeAfterDays: 2 / 86_400 } }); // two seconds
    const { agent } = r;
    try {
      // MR first: once the younger CT objects are past the age limit and removed, so are the MR ones.
      const mr = await send(agent, "discard-mr", "MR", 2);
      const ct = await send(agent, "discard-ct", "CT", 2);
      await eventually("CT delivered, MR refused for good", async () => {
        const states = await Promise.all([...ct, ...mr].map((sop) => stateOf(agent, sop)));
        return states.join() === "done,done,dead,dead" || undefined;
      });
      // Past the age limit, the delivered objects go; the refused ones stay while their rows are dead.
      await eventually("the CT objects removed", () => ct.every((sop) => !live(agent).has(sop)) || undefined);
      const files = live(agent);
      for (const sop of mr) assert.ok(files.has(sop), "a dead row holds its object");

      const byId = new Map((await queueRows(agent)).map((row) => [row.sopInstanceUid, row.id]));
      const discard = await agentCli([
        "queue",
        "discard",
        "--id",
        String(byId.get(mr[0])),
        "--id",
        String(byId.get(ct[0])), // done: never discarded
        "--http-port",
        String(agent.httpPort),
        "--json",
      ]);
      assert.equal(discard.code, 0, discard.stderr);
      assert.deepEqual(JSON.parse(discard.stdout), { discarded: 1 });
      assert.deepEqual(
        (await queueRows(agent)).map((row) => [row.sopInstanceUid, row.state]).sort(),
        [[ct[0], "done"], [ct[1], "done"], [mr[1], "dead"]].sort(),
        "only the dead row named is gone",
      );

      await eventually("the discarded row's object removed", () => !live(agent).has(mr[0]) || undefined);
      // Its tombstone is written first, its file removed just after (agent/forward/retention.ts).
      await eventually(
        "its file removed",
        () => Deno.stat(files.get(mr[0])!).then(() => undefined, (err) => err),
      );
      await assert.rejects(Deno.stat(files.get(mr[0])!), Deno.errors.NotFound);
      const [tombstone] = indexRows(
        agent.dataDir,
        "SELECT path FROM instances WHERE sop_instance_uid = ?",
        mr[0],
      );
      assert.equal(tombstone.path, "", "the index keeps a tombstone");
      assert.ok(live(agent).has(mr[1]), "the other dead row still holds its object");
      assert.ok((await Deno.stat(files.get(mr[1])!)).isFile);
      assert.match(
        await (await agent.http("/metrics")).text(),
        /^conduit_agent_queue_discarded_total\{by="operator"\} 1$/m,
      );
    } finally {
      await stopBoth(r);
    }
  },
});

Deno.test({
  name:
    "archive.removeAfterForwardSeconds removes an object after its dead rows are discarded; an object no route " +
    "takes stays",
  ignore: Boolean(skip),
  async fn() {
    // MR routed to the CT-only PACS (refused for good: dead); CT taken by no route (the site's archive).
    const r = await refusingPacs({
      routes: [{ name: "mr", match: { modality: ["MR"] }, to: [{ node: "pacs" }] }],
      archive: { removeAfterForwardSeconds: 1 },
    });
    const { agent } = r;
    try {
      const ct = await send(agent, "discard-fwd-ct", "CT", 1);
      const mr = await send(agent, "discard-fwd-mr", "MR", 2);
      await eventually("MR refused for good", async () => {
        const states = await Promise.all(mr.map((sop) => stateOf(agent, sop)));
        return states.join() === "dead,dead" || undefined;
      });
      const files = live(agent);
      const id = (await queueRows(agent)).find((row) => row.sopInstanceUid === mr[0])!.id;
      const discarded = await agent.http("/queue/discard", {
        method: "POST",
        body: JSON.stringify({ ids: [id] }),
        headers: { "content-type": "application/json" },
      });
      assert.deepEqual(await discarded.json(), { discarded: 1 });
      await eventually("the discarded row's object removed", () => !live(agent).has(mr[0]) || undefined);
      await assert.rejects(Deno.stat(files.get(mr[0])!), Deno.errors.NotFound);
      // Received before the discard, the CT object was as old as the rule's delay long before: it stays.
      assert.ok(live(agent).has(ct[0]), "an object no route takes stays");
      assert.ok((await Deno.stat(files.get(ct[0])!)).isFile);
      assert.ok(live(agent).has(mr[1]), "a dead row still holds its object");
      assert.deepEqual(
        indexRows(agent.dataDir, "SELECT sop_instance_uid AS sop FROM queue_discarded"),
        [],
        "the mark goes with the file",
      );
    } finally {
      await stopBoth(r);
    }
  },
});

Deno.test({
  name: "queue.keepDeadDays deletes rows dead for longer, logged with the count and counted by age",
  ignore: Boolean(skip),
  async fn() {
    const r = await refusingPacs({ queue: { keepDeadDays: 1 / 86_400 } }); // about a second
    const { agent } = r;
    try {
      const [ct] = await send(agent, "purge-ct", "CT", 1);
      const [mr] = await send(agent, "purge-mr", "MR", 1);
      await eventually("the dead row purged", async () => {
        const metrics = await (await agent.http("/metrics")).text();
        return /^conduit_agent_queue_discarded_total\{by="age"\} 1$/m.test(metrics) || undefined;
      });
      const metrics = await (await agent.http("/metrics")).text();
      assert.match(metrics, /^conduit_agent_forward_attempts_total\{destination="pacs",outcome="dead"\} 1$/m);
      assert.equal(await stateOf(agent, mr), undefined, "the dead row is gone");
      assert.equal(await stateOf(agent, ct), "done", "a done row stays");
      assert.ok(live(agent).has(mr), "its object stays archived (no retention rule here)");
      const purged = (await Deno.readTextFile(agent.logFile)).split("\n").filter((l) =>
        l.includes("discarded dead-letter rows past queue.keepDeadDays")
      );
      assert.equal(purged.length, 1);
      assert.equal(JSON.parse(purged[0]).count, 1);
      assert.ok(!purged[0].includes(mr), "no UID in the log");
    } finally {
      await stopBoth(r);
    }
  },
});

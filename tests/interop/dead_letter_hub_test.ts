/**
 * A site's dead letter and its rows waiting for a removed node, through the hub's typed client (docs/api.md:
 * `site.discardDead`, `site.replay`, `site.stranded`, `site.abandon`), with a real hub, a real agent, its
 * libsql file and DCMTK's storescp as a PACS that takes CT only: discard deletes the dead rows named and no
 * other, the node removed by SIGHUP shows its waiting rows until they are abandoned, each change is an
 * operator's (a viewer is FORBIDDEN) and audited, requested then answered; an agent too old is never sent the
 * new requests and the client is told why.
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import { ctOnlyProfile, freePort, skipReason, startStorescp } from "../support/peers.ts";
import { type AgentProcess, queueRows, startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { olderAgent } from "../support/older_agent.ts";
import { reloadAgent } from "../support/reload.ts";
import { sendGenerated as send } from "../support/send.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

const skip = skipReason("storescu", "storescp");

Deno.test({
  name:
    "site.discardDead, site.replay, site.stranded and site.abandon: an operator's, audited, never asked of " +
    "an older agent",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    const pacs = await startStorescp({ dir: await Deno.makeTempDir(), configFile: await ctOnlyProfile() });
    let agent: AgentProcess | undefined;
    let older: ReturnType<typeof olderAgent> | undefined;
    try {
      const nodes = { pacs: { aet: pacs.aet, host: "127.0.0.1", port: pacs.port } };
      const kept = { nodes, routes: [{ name: "all", to: [{ node: "pacs" }] }], queue: { maxAttempts: 1 } };
      agent = await startAgentProcess({
        config: {
          ...kept,
          nodes: { ...nodes, old: { aet: "OLD", host: "127.0.0.1", port: freePort() } },
          routes: [...kept.routes, { name: "ct-old", match: { modality: ["CT"] }, to: [{ node: "old" }] }],
        },
        args: await siteArgs(hub, "north"),
      });
      const north = agent;
      // `old` paused: its rows wait, pending, until the node is removed for good.
      assert.equal((await north.http("/queue/pause/old", { method: "POST" })).status, 200);
      const mr = await send(north, "hub-dead-mr", "MR", 3);
      const ct = await send(north, "hub-dead-ct", "CT", 2);
      await eventually("MR refused for good, CT delivered to pacs and waiting for old", async () => {
        const all = await queueRows(north);
        const count = (destination: string, state: string) =>
          all.filter((r) => r.destination === destination && r.state === state).length;
        return (count("pacs", "dead") === 3 && count("pacs", "done") === 2 &&
          count("old", "pending") === 2) ||
          undefined;
      });
      const { line } = await reloadAgent(north, kept);
      assert.match(String(line.msg), /^configuration reloaded/);

      const url = `http://127.0.0.1:${hub.port}`;
      const operator = createConduitClient({
        url,
        token: (await hub.tokens.create("ops", "operator")).token,
      });
      const viewer = createConduitClient({ url, token: (await hub.tokens.create("eyes", "viewer")).token });
      const admin = createConduitClient({ url, token: (await hub.tokens.create("adm", "admin")).token });
      const code = (c: string) => (e: unknown) => e instanceof TRPCClientError && e.data?.code === c;
      await eventually("north online", () => hub.sessions.get("north"));

      const dead = await operator.site.deadLetter.query({ site: "north" });
      assert.deepEqual(dead.map((r) => r.sopInstanceUid).sort(), [...mr].sort());
      const idOf = async (sop: string, destination: string) =>
        (await queueRows(north)).find((r) => r.sopInstanceUid === sop && r.destination === destination)!.id;
      const doneCt = await idOf(ct[0], "pacs");
      await assert.rejects(
        viewer.site.discardDead.mutate({ site: "north", ids: [dead[0].id] }),
        code("FORBIDDEN"),
      );
      await assert.rejects(
        viewer.site.abandon.mutate({ site: "north", destination: "old" }),
        code("FORBIDDEN"),
      );
      assert.deepEqual(
        await operator.site.discardDead.mutate({ site: "north", ids: [dead[0].id, doneCt] }),
        { discarded: 1 },
        "the done row named is not dead: left",
      );
      assert.deepEqual(await operator.site.replay.mutate({ site: "north", ids: [dead[1].id] }), {
        replayed: 1,
      });
      const after = await queueRows(north);
      assert.ok(!after.some((r) => r.id === dead[0].id), "the discarded row is gone");
      assert.equal(after.find((r) => r.id === doneCt)?.state, "done");
      assert.equal(after.filter((r) => r.destination === "pacs").length, 4);

      // The node removed by the reload: its rows wait, listed by destination, until abandoned.
      const stranded = await operator.site.stranded.query({ site: "north" });
      assert.deepEqual(stranded.map((s) => [s.destination, s.waiting]), [["old", 2]]);
      assert.ok(stranded[0].oldestMs > 0);
      assert.deepEqual(await operator.site.abandon.mutate({ site: "north", destination: "old" }), {
        abandoned: 2,
      });
      assert.deepEqual(await operator.site.stranded.query({ site: "north" }), []);
      for (const r of (await queueRows(north)).filter((r) => r.destination === "old")) {
        assert.deepEqual([r.state, r.lastError], ["dead", "abandoned by the operator"]);
      }

      // Each audited: the request before it was sent, then the outcome naming it.
      const audited = async (action: string) =>
        (await admin.audit.list.query({ action })).reverse().map((e) => [e.actor, e.target, e.detail]);
      const trail = async (
        action: string,
        asked: Record<string, unknown>,
        answered: Record<string, unknown>,
      ) => {
        const entries = await admin.audit.list.query({ action });
        assert.equal(entries.length, 2, action);
        const [first, second] = entries.reverse();
        assert.deepEqual(await audited(action), [
          ["token:ops", "north", { ...asked, requested: true }],
          ["token:ops", "north", { ...asked, request: first.id, ...answered }],
        ]);
        assert.ok(second.id > first.id);
      };
      await trail("site.deadLetter.discard", { rows: 2 }, { discarded: 1 });
      await trail("site.deadLetter.replay", { rows: 1 }, { replayed: 1 });
      await trail("site.queue.abandon", { destination: "old" }, { abandoned: 2 });

      // An agent of an earlier version is not sent the requests: told why.
      const { credential } = await hub.registry.enroll((await hub.registry.add("east")).enrollmentToken);
      older = olderAgent(hub, "east", credential);
      await older.ready;
      await eventually("east connected", () => hub.sessions.get("east"));
      for (
        const [ask, what] of [
          [() => operator.site.discardDead.mutate({ site: "east", ids: [1] }), "discard dead-letter rows"],
          [() => operator.site.stranded.query({ site: "east" }), "list rows waiting for a removed node"],
          [() => operator.site.abandon.mutate({ site: "east", destination: "old" }), "abandon queued rows"],
        ] as const
      ) {
        await assert.rejects(ask(), (e: unknown) => {
          assert.ok(code("PRECONDITION_FAILED")(e), String(e));
          assert.equal(
            (e as Error).message,
            `this agent version (0.0.9, older than 2026-12-05 17:08 UTC) cannot ${what}: upgrade the agent of east`,
          );
          return true;
        });
      }
      for (const op of ["discardDead", "stranded", "abandon"]) {
        assert.ok(!older.asked.includes(op), `asked: ${older.asked}`);
      }
      assert.equal(
        (await admin.audit.list.query({ target: "east", action: "site.queue.abandon" })).length,
        0,
      );
    } finally {
      older?.close();
      await agent?.stop();
      await pacs.stop();
      await hub.stop();
    }
  },
});

/**
 * The agent as a cache (`archive.maxGigabytes`, `archive.removeAfterDays`), with a real agent process:
 * the oldest objects go first until the archive is under its cap, objects no route takes included, each
 * leaving a tombstone; an object still to be sent (its route's node is down) stays however old; objects
 * older than the age limit go.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { freePort, skipReason } from "../support/peers.ts";
import { type AgentProcess, indexRows, listFiles, startAgentProcess } from "../support/agent.ts";
import { sendGenerated } from "../support/send.ts";
import { eventually } from "../support/hub.ts";

const skip = skipReason("storescu");
if (skip) console.warn(`retention_cache_test: skipped: ${skip}`);

/** Sends a generated series of `count` objects of about 33 kB; their SOP Instance UIDs. */
const send = (agent: AgentProcess, seed: string, modality: "CT" | "MR", count: number) =>
  sendGenerated(agent, seed, modality, count, 128);

const live = (agent: AgentProcess) =>
  new Set(
    indexRows(agent.dataDir, "SELECT sop_instance_uid FROM instances WHERE removed_at IS NULL")
      .map((r) => String(r.sop_instance_uid)),
  );

/** A route whose node nothing answers: its objects stay queued (failed), never settled. */
const DOWN = { down: { aet: "DOWN", host: "127.0.0.1", port: freePort() } };
const QUEUE = { backoffBaseSeconds: 60, backoffCapSeconds: 60 };

Deno.test({
  name: "archive.maxGigabytes removes the oldest settled objects first, routed or not, until under the cap",
  ignore: Boolean(skip),
  async fn() {
    const agent = await startAgentProcess({
      config: {
        nodes: DOWN,
        queue: QUEUE,
        routes: [{ name: "mr-out", match: { modality: ["MR"] }, to: [{ node: "down" }] }],
        archive: { maxGigabytes: 0.0003 }, // 300 kB, of 12 objects of about 34 kB
      },
    });
    try {
      const unsent = await send(agent, "cache-mr", "MR", 2); // the oldest, but still to be sent
      const old = await send(agent, "cache-old", "CT", 5);
      const recent = await send(agent, "cache-new", "CT", 5);
      const fileBytes = async () => {
        let n = 0;
        for (const f of await listFiles(path.join(agent.dataDir, "archive"))) {
          // A file the sweep removes between the listing and its stat counts as gone.
          n += (await Deno.stat(f).catch(() => ({ size: 0 }))).size;
        }
        return n;
      };
      assert.ok(await fileBytes() > 300_000, "over the cap before the sweep");
      await eventually("under the cap", async () => (await fileBytes()) <= 300_000 || undefined, 20_000);
      const kept = live(agent);
      for (const sop of [...unsent, ...recent]) {
        assert.ok(kept.has(sop), "what is still to send, and the newest, stay");
      }
      const gone = old.filter((sop) => !kept.has(sop));
      assert.ok(gone.length >= 1, "some of the older objects went");
      // The older batch first (the newer one stays whole, above); within a batch, ties of a millisecond.
      assert.ok(gone.length >= 3, `enough of the older ones went (${gone.length})`);
      const tombstones = indexRows(
        agent.dataDir,
        "SELECT path FROM instances WHERE removed_at IS NOT NULL",
      );
      assert.equal(tombstones.length, gone.length);
      assert.ok(tombstones.every((t) => t.path === ""));
      const health = await (await agent.http("/healthz")).json();
      assert.equal(health.archiveBytes, await fileBytes());
      assert.match(
        await (await agent.http("/metrics")).text(),
        new RegExp(`conduit_agent_objects_removed_total ${gone.length}`),
      );
      assert.match(await Deno.readTextFile(agent.logFile), /retention removed objects.*"rule":"size"/);
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name: "archive.removeAfterDays removes objects older than the limit, not those still to be sent",
  ignore: Boolean(skip),
  async fn() {
    const agent = await startAgentProcess({
      config: {
        nodes: DOWN,
        queue: QUEUE,
        routes: [{ name: "mr-out", match: { modality: ["MR"] }, to: [{ node: "down" }] }],
        archive: { removeAfterDays: 2 / 86_400 }, // two seconds
      },
    });
    try {
      const unsent = await send(agent, "age-mr", "MR", 1);
      const ct = await send(agent, "age-ct", "CT", 3);
      await eventually(
        "the CT objects removed",
        () => ct.every((sop) => !live(agent).has(sop)) || undefined,
        20_000,
      );
      assert.ok(live(agent).has(unsent[0]), "still to be sent: kept");
      assert.equal((await listFiles(path.join(agent.dataDir, "archive"))).length, 1);
      assert.match(await Deno.readTextFile(agent.logFile), /retention removed objects.*"rule":"age"/);
    } finally {
      await agent.stop();
    }
  },
});

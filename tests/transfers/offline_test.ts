/**
 * The destination site offline while a transfer runs, as a site with real images (objects larger than a
 * tunnel stream's window) meets it: the source's workers must not hang on a relay the hub refused, and
 * the transfer must finish once the destination is back.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../support/agent.ts";
import { eventually } from "../support/hub.ts";
import { atPacs, finished, rigTest, seed, skip } from "./_rig.ts";

if (skip) console.warn(`offline_test: skipped: ${skip}`);

rigTest(
  "a transfer to a destination that is offline waits, saying why, and finishes when it is back",
  async (r) => {
    await r.south.stop();
    await eventually("south offline at the hub", () => !r.hub.sessions.online("south") || undefined);
    const study = await seed(r, "offline-big", 6, "CT", 512); // 512 x 512: half a megabyte each
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [study.studyUid],
    });
    const waiting = await eventually("the task says the destination is offline", async () => {
      const t = await r.client.transfers.get.query({ id });
      return t.tasks[0].lastError?.includes("south is not connected") ? t : undefined;
    }, 30_000);
    assert.equal(waiting.status, "in_progress");
    assert.equal(waiting.totals.done, 0);
    // North keeps trying, and none of its attempts stays stuck on the refused relay.
    await eventually("north's rows are not stuck in flight", async () => {
      const rows = await (await r.north.http("/queue?destination=@south/pacs&limit=100")).json() as {
        state: string;
        attempts: number;
      }[];
      return rows.length === 6 && rows.every((row) => row.attempts >= 3) || undefined;
    }, 30_000);

    r.south = await startAgentProcess(r.southArgs);
    const done = await finished(r, id, 60_000);
    assert.equal(done.status, "success", JSON.stringify(done));
    assert.equal(done.totals.done, 6);
    const pacs = await atPacs(r);
    assert.equal(pacs.size, 6);
    assert.ok([...pacs.values()].every((n) => n === 1));
  },
);

rigTest(
  "a destination that refuses objects before reading them (disk full) fails the attempts with its reason",
  async (r) => {
    await r.south.stop();
    const full = {
      ...r.southArgs,
      config: { ...r.southArgs!.config, archive: { minFreeMegabytes: 100_000_000 } },
    };
    r.south = await startAgentProcess(full);
    await eventually("south online", () => r.hub.sessions.online("south") || undefined);
    const study = await seed(r, "full-big", 6, "CT", 512);
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [study.studyUid],
    });
    const refused = await eventually("the task gives south's reason", async () => {
      const t = await r.client.transfers.get.query({ id });
      return t.tasks[0].lastError?.includes("free disk space below the configured minimum") ? t : undefined;
    }, 30_000);
    assert.equal(refused.status, "in_progress");
    assert.equal(refused.totals.done, 0);

    await r.south.stop();
    r.south = await startAgentProcess(r.southArgs);
    const done = await finished(r, id, 60_000);
    assert.equal(done.status, "success", JSON.stringify(done));
    assert.equal((await atPacs(r)).size, 6);
  },
);

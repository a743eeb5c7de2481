import assert from "node:assert/strict";
import { openHubDb } from "../db/db.ts";
import { transfers, transferTasks } from "../db/schema.ts";
import { reopenAfterReplay, REPLAY_REOPENS_DAYS } from "./replayed.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";

Deno.test("reopenAfterReplay() reopens the failed tasks with objects given up of the site's recent jobs, and no other", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-replayed-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    const now = Date.now();
    const old = now - (REPLAY_REOPENS_DAYS + 1) * 86_400_000;
    const job = (
      id: string,
      source: string,
      destination: string,
      node: string | null,
      status: string,
      at = now,
    ) => ({
      id,
      sourceSite: source,
      destinationSite: destination,
      destinationNode: node,
      status,
      createdBy: "user:ops",
      createdAt: at,
      updatedAt: at,
    });
    await db.insert(transfers).values([
      job("to-node", "north", "south", "pacs", "failure"), // south the destination, with a node
      job("from-south", "south", "east", null, "warning"), // south the source
      job("to-archive", "north", "south", null, "failure"), // south's archive: no rows of its own to replay
      job("elsewhere", "north", "east", "pacs", "failure"),
      job("long-ago", "north", "south", "pacs", "failure", old),
      job("running", "north", "south", "pacs", "in_progress"),
    ]);
    const task = (
      id: string,
      transferId: string,
      status: string,
      objects: number | null,
      failed: number,
    ) => ({
      id,
      transferId,
      studyInstanceUid: `1.2.3.${id.length}`,
      status,
      objects,
      failed,
      done: 0,
      updatedAt: now,
    });
    await db.insert(transferTasks).values([
      task("a", "to-node", "failure", 2, 2),
      task("b", "to-node", "success", 3, 0),
      task("c", "to-node", "failure", null, 0), // never handed over: nothing at a site to follow
      task("d", "from-south", "warning", 4, 1),
      task("e", "to-archive", "failure", 2, 2),
      task("f", "elsewhere", "failure", 2, 2),
      task("g", "long-ago", "failure", 2, 2),
      task("h", "running", "failure", 2, 2),
    ]);

    const reopened = await reopenAfterReplay(db, "south", now);
    assert.deepEqual(reopened.sort((x, y) => x.id.localeCompare(y.id)), [
      { id: "a", status: "failure" },
      { id: "d", status: "warning" },
    ]);
    const tasks = Object.fromEntries(
      (await db.select({ id: transferTasks.id, status: transferTasks.status }).from(transferTasks))
        .map((t) => [t.id, t.status]),
    );
    assert.deepEqual(tasks, {
      a: "in_progress",
      b: "success",
      c: "failure",
      d: "in_progress",
      e: "failure",
      f: "failure",
      g: "failure",
      h: "failure",
    });
    const jobs = Object.fromEntries(
      (await db.select({ id: transfers.id, status: transfers.status }).from(transfers)).map((
        t,
      ) => [t.id, t.status]),
    );
    assert.equal(jobs["to-node"], "in_progress");
    assert.equal(jobs["from-south"], "in_progress");
    assert.equal(jobs["to-archive"], "failure");
    assert.equal(jobs["long-ago"], "failure");
    assert.deepEqual(await reopenAfterReplay(db, "west", now), []);
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

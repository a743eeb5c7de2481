/**
 * TransferService's cancel(), retry(), schedule() and list() on a real hub database filled like a year's
 * (tests/support/hub_scale.ts, at a small scale; PostgreSQL under `deno task test:pg`), its reads of
 * transfer_tasks counted (tests/support/table_reads.ts): an action reads the tasks it changes, and every
 * task of the job once, for its answer (the API's, as get() gives it), or none for an answer without them
 * (the *Summary procedures'); list() reads the tasks of a page in one query, with the same answer as get()
 * gives each job.
 */
import assert from "node:assert/strict";
import { eq, inArray } from "drizzle-orm";
import { Logger } from "@conduit/shared/log";
import { audit, transfers, transferTasks } from "../db/schema.ts";
import { TransferService } from "./service.ts";
import type { TaskView } from "./view.ts";
import { filledTransfers, offlineSessions as offline } from "../../tests/support/hub_scale.ts";
import { tableReads } from "../../tests/support/table_reads.ts";

/** A TransferService over `db` whose reads of transfer_tasks are counted, every site offline. */
function counted(db: Parameters<typeof tableReads>[0]) {
  const reads = tableReads(db, transferTasks);
  return {
    reads,
    service: new TransferService(reads.db, offline, () => Promise.resolve(true), new Logger({}, "error")),
  };
}

const byStudy = (a: TaskView, b: TaskView) => a.studyInstanceUid.localeCompare(b.studyInstanceUid);

Deno.test("TransferService.cancel(), retry() and schedule() read the tasks they change, and every task once for their answer (none without tasks)", async () => {
  const { db, filled, service: plain, close } = await filledTransfers("conduit-job-actions-", 0.005);
  const { reads, service } = counted(db);
  // The pass each action starts (it reads every task canceling, of any job) is not what is counted here.
  service.tick = () => Promise.resolve();
  try {
    const id = filled.bigJobId;
    const all = filled.scale.bigJob;
    // A big job to a node, still running: 3 studies at their sources, 2 failed, the rest done.
    const ids = (await db.select({ id: transferTasks.id }).from(transferTasks)
      .where(eq(transferTasks.transferId, id))).map((k) => k.id).sort();
    await db.update(transfers).set({ status: "in_progress", destinationNode: "pacs" }).where(
      eq(transfers.id, id),
    );
    await db.update(transferTasks).set({ status: "success", lastError: null }).where(
      inArray(transferTasks.id, ids),
    );
    await db.update(transferTasks).set({ status: "queued" }).where(
      inArray(transferTasks.id, ids.slice(0, 3)),
    );
    await db.update(transferTasks).set({ status: "failure" }).where(
      inArray(transferTasks.id, ids.slice(3, 5)),
    );

    // Each answers the job with every task (the API's answer, as get() gives it): one read of them all.
    reads.reset();
    const scheduled = await service.schedule(id, { bandwidthMbps: 10 }, "user:ops");
    assert.deepEqual(reads.counts(), { queries: 2, rows: 3 + all }, "the 3 at their sources (released)");
    assert.deepEqual(scheduled, await plain.get(id));
    assert.equal(scheduled.bandwidthMbps, 10);

    reads.reset();
    const retried = await service.retry(id, "user:ops");
    assert.deepEqual(
      reads.counts(),
      { queries: 3, rows: 2 + 1 + all },
      "the 2 failed (their node's dead letter), the tasks counted (one row: retried, handed over)",
    );
    assert.deepEqual(retried, await plain.get(id));
    assert.equal(retried.tasks.filter((k) => k.status === "pending").length, 2);

    reads.reset();
    const canceled = await service.cancel(id, "user:ops");
    assert.deepEqual(
      reads.counts(),
      { queries: 3, rows: 5 + 1 + all },
      "the 5 not over: 3 queued, 2 pending; the job's tasks counted (one row, for its audit entry)",
    );
    assert.deepEqual(canceled, await plain.get(id));
    assert.equal(canceled.status, "canceled");
    const states = Object.groupBy(canceled.tasks, (k) => k.status);
    assert.equal(states.success?.length, all - 5);
    assert.equal(states.canceled?.length, 2, "the pending ones, at once");
    assert.equal(states.canceling?.length, 3, "those at an offline source, until it is told");

    reads.reset();
    assert.equal(
      (await service.cancel(id, "user:ops")).tasks.length,
      all,
      "canceled again: the job as it is",
    );
    assert.deepEqual(reads.counts(), { queries: 1, rows: all });

    // Without its tasks (the API's *Summary procedures, the console's): the job's totals, no task read.
    reads.reset();
    const brief = await service.cancel(id, "user:ops", false);
    assert.deepEqual(brief, await plain.summary(id));
    assert.ok(!("tasks" in brief));
    assert.deepEqual(reads.counts(), { queries: 1, rows: 1 }, "the job's totals, one row");
    // While 3 are canceling, a retry is refused (it would change nothing) after one read of the tasks it
    // would touch.
    reads.reset();
    await assert.rejects(
      service.retry(id, "user:ops", false),
      /the transfer is still being canceled \(3 studies have objects on their way, or a source to tell/,
    );
    assert.deepEqual(reads.counts(), { queries: 1, rows: 3 }, "the 3 canceling");
    await db.update(transferTasks).set({ status: "canceled" }).where(eq(transferTasks.status, "canceling"));
    reads.reset();
    const again = await service.retry(id, "user:ops", false);
    assert.deepEqual(
      reads.counts(),
      { queries: 3, rows: 2 },
      "none refused by the node now, the tasks counted, and the totals",
    );
    assert.deepEqual(again, await plain.summary(id));
    reads.reset();
    assert.deepEqual(
      await service.schedule(id, { bandwidthMbps: 20 }, "user:ops", false),
      await plain.summary(id),
    );
    assert.deepEqual(reads.counts(), { queries: 2, rows: 1 }, "none at their sources now, and the totals");
  } finally {
    await close();
  }
});

Deno.test("TransferService.list() reads a page's tasks in one query and answers each job as get() does", async () => {
  const { db, filled, service: plain, close } = await filledTransfers("conduit-job-list-", 0.005);
  const { reads, service } = counted(db);
  try {
    for (const [limit, offset] of [[20, 0], [51, filled.scale.transfers - 60]]) {
      reads.reset();
      const listed = await service.list(limit, undefined, offset);
      const { queries, rows } = reads.counts();
      assert.equal(queries, 1, `${limit} ${offset}`);
      assert.equal(listed.length, limit);
      assert.equal(rows, listed.reduce((n, j) => n + j.totals.studies, 0));
      for (const job of listed) {
        const got = (await plain.get(job.id))!;
        assert.deepEqual(
          { ...job, tasks: job.tasks.toSorted(byStudy) },
          { ...got, tasks: got.tasks.toSorted(byStudy) },
        );
      }
    }
    assert.ok(
      (await service.list(100)).some((j) => j.id === filled.bigJobId),
      "the big job is among the newest 100",
    );
    reads.reset();
    assert.deepEqual(await service.list(10, undefined, filled.scale.transfers), []);
    assert.deepEqual(reads.counts(), { queries: 0, rows: 0 });
  } finally {
    await close();
  }
});

Deno.test("TransferService.retry() of a job that succeeded refuses, changing nothing and auditing nothing", async () => {
  const { db, filled, service, close } = await filledTransfers("conduit-job-retry-", 0.005);
  service.tick = () => Promise.resolve();
  try {
    const id = filled.bigJobId;
    await db.update(transfers).set({ status: "success" }).where(eq(transfers.id, id));
    await db.update(transferTasks).set({ status: "success" }).where(eq(transferTasks.transferId, id));
    const before = await service.summary(id);
    const audited = async () =>
      (await db.select().from(audit).where(eq(audit.action, "transfer.retry"))).length;
    const entries = await audited();
    await assert.rejects(
      service.retry(id, "user:ops"),
      /^TransferError: nothing to retry: the transfer is over \(success\)$/,
    );
    assert.deepEqual(await service.summary(id), before, "still success, as it was");
    assert.equal(await audited(), entries, "no transfer.retry entry");
  } finally {
    await close();
  }
});

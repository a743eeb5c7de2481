/**
 * TransferService.tasks() on a real hub database filled like a year's (tests/support/hub_scale.ts, at a
 * small scale; PostgreSQL under `deno task test:pg`): a big job's tasks a page at a time, all of them or
 * those in one state, are get()'s tasks once each, with the job's totals and its tasks counted by state.
 */
import assert from "node:assert/strict";
import { inArray } from "drizzle-orm";
import { transferTasks } from "../db/schema.ts";
import type { TransferService } from "./service.ts";
import type { TaskView } from "./view.ts";
import { filledTransfers } from "../../tests/support/hub_scale.ts";

/** Every page of a job's tasks, `limit` at a time, following `next`; and how many pages there were. */
async function walk(service: TransferService, id: string, limit: number, status?: string) {
  const tasks: TaskView[] = [];
  let after: string | undefined, pages = 0;
  do {
    const page = (await service.tasks(id, { limit, after, status }))!;
    assert.ok(page.tasks.length <= limit);
    assert.ok(page.next === undefined || page.tasks.length === limit, "only the last page is short");
    tasks.push(...page.tasks);
    after = page.next;
    pages++;
  } while (after);
  return { tasks, pages };
}

const byStudy = (a: TaskView, b: TaskView) => a.studyInstanceUid.localeCompare(b.studyInstanceUid);

Deno.test("TransferService.tasks() pages through a job's tasks, all or in one state, each once", async () => {
  const { db, filled, service, close } = await filledTransfers("conduit-task-pages-", 0.005);
  try {
    const id = filled.bigJobId;
    // Some of the job's studies failed (what an operator looks for in a big job).
    const ids = await db.select({ id: transferTasks.id }).from(transferTasks)
      .where(inArray(transferTasks.transferId, [id]));
    const failed = ids.filter((_, i) => i % 7 === 3).map((k) => k.id);
    await db.update(transferTasks).set({ status: "failure", lastError: "refused (0xA700)" })
      .where(inArray(transferTasks.id, failed));

    const whole = (await service.get(id))!;
    const all = await walk(service, id, 7);
    assert.equal(all.tasks.length, filled.scale.bigJob);
    assert.equal(all.pages, Math.ceil(filled.scale.bigJob / 7));
    assert.deepEqual(all.tasks.toSorted(byStudy), whole.tasks.toSorted(byStudy));

    const first = (await service.tasks(id, { limit: 10 }))!;
    const { tasks: _, ...summary } = whole;
    assert.deepEqual(first.job, summary);
    assert.deepEqual(first.states, { success: filled.scale.bigJob - failed.length, failure: failed.length });

    const failures = await walk(service, id, 4, "failure");
    assert.equal(failures.tasks.length, failed.length);
    assert.ok(failures.tasks.every((k) => k.status === "failure" && k.lastError === "refused (0xA700)"));
    assert.deepEqual(
      failures.tasks.toSorted(byStudy),
      whole.tasks.filter((k) => k.status === "failure").toSorted(byStudy),
    );

    // A page by its number (offset) is the page the cursors reach, with or without a state.
    for (const [limit, status, list] of [[7, undefined, all], [4, "failure", failures]] as const) {
      for (let n = 0; n * limit <= list.tasks.length; n++) {
        const page = (await service.tasks(id, { limit, offset: n * limit, status }))!;
        assert.deepEqual(page.tasks, list.tasks.slice(n * limit, (n + 1) * limit), `page ${n} of ${status}`);
        assert.equal(page.next !== undefined, (n + 1) * limit < list.tasks.length);
      }
    }

    assert.deepEqual((await service.tasks(id, { status: "canceled" }))!.tasks, []);
    assert.equal((await service.tasks(id, { limit: filled.scale.bigJob }))!.next, undefined);
    assert.equal(await service.tasks("no-such-job"), undefined);
  } finally {
    await close();
  }
});

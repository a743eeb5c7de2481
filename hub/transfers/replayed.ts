/**
 * Transfers followed again after an operator replayed a site's dead letter (`site.replay`): rows given up
 * there go back to the site's queue, and a job that failed (or warned) because of them would otherwise keep
 * saying so after the objects got through (QA 2026-12-07: "0 of 60, they are in south's dead letter" once all
 * 60 were at the PACS and the dead letter was empty; only a retry of the job, which nothing suggested, settled
 * it). Their tasks are in progress again; the next pass asks the source and the destination's node as for any
 * task, and settles each as it finds it (failure again when the rows are still given up).
 * Only tasks with objects given up are reopened, of jobs settled in the last REPLAY_REOPENS_DAYS.
 */
import { and, desc, eq, gt, gte, inArray, isNotNull, or } from "drizzle-orm";
import type { HubDb } from "../db/db.ts";
import { transfers, transferTasks } from "../db/schema.ts";
import { atomically } from "../db/atomic.ts";

/** Jobs settled longer ago than this are left as they are (a replay of old rows is rare; a pass asks each). */
export const REPLAY_REOPENS_DAYS = 30;
/** The most jobs one replay reopens (the most recently settled first). */
export const REPLAY_REOPENS_JOBS = 200;

const SETTLED = ["failure", "warning"];

/**
 * Puts back in progress the failed or warned tasks a replay at `site` may concern: tasks with objects given
 * up (`failed`) of jobs `site` is the source of (their rows wait in its queue), or the destination of with a
 * node (the rows for its node). Returns the tasks reopened, each with the state it had (so that settling in
 * the same state again is not counted as another finish).
 */
export async function reopenAfterReplay(
  db: HubDb,
  site: string,
  now = Date.now(),
): Promise<{ id: string; status: string }[]> {
  const jobs = await db.select({ id: transfers.id }).from(transfers).where(and(
    inArray(transfers.status, SETTLED),
    or(
      eq(transfers.sourceSite, site),
      and(eq(transfers.destinationSite, site), isNotNull(transfers.destinationNode)),
    ),
    gte(transfers.updatedAt, now - REPLAY_REOPENS_DAYS * 86_400_000),
  )).orderBy(desc(transfers.updatedAt)).limit(REPLAY_REOPENS_JOBS);
  if (!jobs.length) return [];
  const ids = jobs.map((j) => j.id);
  const concerned = and(
    inArray(transferTasks.transferId, ids),
    inArray(transferTasks.status, SETTLED),
    gt(transferTasks.objects, 0),
    gt(transferTasks.failed, 0),
  );
  const tasks = await db.select({
    id: transferTasks.id,
    status: transferTasks.status,
    job: transferTasks.transferId,
  })
    .from(transferTasks).where(concerned);
  if (!tasks.length) return [];
  const reopened = [...new Set(tasks.map((t) => t.job))];
  await atomically(db, (tx) => [
    tx.update(transferTasks).set({ status: "in_progress", updatedAt: now })
      .where(and(concerned, inArray(transferTasks.id, tasks.map((t) => t.id)))),
    tx.update(transfers).set({ status: "in_progress", updatedAt: now }).where(and(
      inArray(transfers.id, reopened),
      inArray(transfers.status, SETTLED),
    )),
  ]);
  return tasks.map(({ id, status }) => ({ id, status }));
}

/**
 * The tunnel paths of the byte-exactness table (tests/support/exact_files.ts): for each batch of shipped test
 * files, a transfer rig (_rig.ts) whose north archives them as storescu sends them, then `move` of the rows
 * north archived (a transfer, or nothing when north's route relays them), then the comparison of what south's PACS (`storescp
 * --bit-preserving`) and south's archive hold with north's archived file: the same syntax and data set.
 */
import { filesBySopInstance } from "../support/agent.ts";
import { eventually } from "../support/hub.ts";
import {
  archivedBySop,
  compareBatch,
  type ExactFile,
  exactFileBatches,
  sendBatch,
} from "../support/exact_files.ts";
import { type Rig, rig, type RigOptions, stopRig } from "./_rig.ts";

/**
 * What every batch gave: the lines of what differed, and how many objects were compared. The next batch's
 * rig starts while one batch runs, so `options` may not fix a port (`northPort`).
 */
export async function tunnelBatches(
  options: RigOptions,
  by: string,
  move: (r: Rig, batch: ExactFile[]) => Promise<string[]>,
): Promise<{ failures: string[]; compared: number }> {
  const failures: string[] = [];
  let compared = 0;
  const batches = await exactFileBatches();
  // Each batch's rig starts while the batch before it is sent, moved and compared.
  let next: Promise<Rig> | undefined = rig(options);
  try {
    for (const [i, batch] of batches.entries()) {
      const r = await next!;
      next = i + 1 < batches.length ? rig(options) : undefined;
      next?.catch(() => {}); // awaited (and thrown) at its turn, or stopped below
      await oneBatch(r, batch);
    }
  } finally {
    await next?.then(stopRig, () => {});
  }
  return { failures, compared };

  async function oneBatch(r: Rig, batch: ExactFile[]): Promise<void> {
    try {
      failures.push(...(await sendBatch(batch, r.north)).refused);
      const archived = await archivedBySop(r.north.dataDir);
      failures.push(...await move(r, batch.filter((b) => archived.has(b.sopInstanceUid))));
      const atPacs = await eventually(`${archived.size} objects at south's PACS`, async () => {
        const files = await filesBySopInstance(r.pacs.dir);
        return [...archived.keys()].every((uid) => files.has(uid)) ? files : undefined;
      }, 60_000);
      const pacs = new Map([...atPacs].map(([uid, paths]) => [uid, paths.at(-1)!]));
      failures.push(...await compareBatch(batch, archived, pacs, `${by} to south's PACS`));
      failures.push(
        ...await compareBatch(batch, archived, await archivedBySop(r.south.dataDir), `${by} to south`),
      );
      compared += archived.size;
    } finally {
      await stopRig(r);
    }
  }
}

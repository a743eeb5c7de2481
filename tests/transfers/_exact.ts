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

/** What every batch gave: the lines of what differed, and how many objects were compared. */
export async function tunnelBatches(
  options: RigOptions,
  by: string,
  move: (r: Rig, batch: ExactFile[]) => Promise<string[]>,
): Promise<{ failures: string[]; compared: number }> {
  const failures: string[] = [];
  let compared = 0;
  for (const batch of await exactFileBatches()) {
    const r = await rig(options);
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
  return { failures, compared };
}

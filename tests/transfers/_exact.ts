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
 * Rigs running at once: each batch has a rig of its own (a hub, two agents, a PACS), and most of a small
 * batch's time is its rig's start and stop and the waits for the hub's passes, so three batches go side by
 * side (the first, the largest, beside the others in turn).
 */
const LANES = 3;

/** What every batch gave: the lines of what differed, and how many objects were compared. */
export async function tunnelBatches(
  options: RigOptions,
  by: string,
  move: (r: Rig, batch: ExactFile[]) => Promise<string[]>,
): Promise<{ failures: string[]; compared: number }> {
  const batches = await exactFileBatches();
  const results: { failures: string[]; compared: number }[] = [];
  let next = 0;
  let broken = false; // a lane threw: the others take no further batch
  const lane = async () => {
    while (next < batches.length && !broken) {
      const at = next++;
      try {
        results[at] = await oneBatch(options, by, move, batches[at]);
      } catch (err) {
        broken = true;
        throw err;
      }
    }
  };
  const lanes = await Promise.allSettled(Array.from({ length: LANES }, lane));
  const failed = lanes.find((l): l is PromiseRejectedResult => l.status === "rejected");
  if (failed) throw failed.reason;
  return {
    failures: results.flatMap((r) => r.failures),
    compared: results.reduce((n, r) => n + r.compared, 0),
  };
}

/** One batch on a rig of its own; its agents fsync nothing (the bytes are the question, not durability). */
async function oneBatch(
  options: RigOptions,
  by: string,
  move: (r: Rig, batch: ExactFile[]) => Promise<string[]>,
  batch: ExactFile[],
): Promise<{ failures: string[]; compared: number }> {
  const failures: string[] = [];
  const r = await rig({ noSync: true, ...options });
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
    return { failures, compared: archived.size };
  } finally {
    await stopRig(r);
  }
}

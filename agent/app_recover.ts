/**
 * What a start finishes before the agent accepts work: an erasure a stop interrupted, what a crash left
 * between Success and the group commit (ingest/recover.ts), conflict resolutions under way
 * (ingest/resolve.ts), and objects answered Success that wait in the intake.
 */
import type { Logger } from "@conduit/shared/log";
import type { Archive } from "./archive/archive.ts";
import type { Database } from "./index/db.ts";
import type { Ingest } from "./ingest/ingest.ts";
import type { Intake } from "./ingest/intake.ts";
import { reconcileAfterCrash, recoverIntake } from "./ingest/recover.ts";
import { ConflictResolver } from "./ingest/resolve.ts";
import { Eraser } from "./erase/erase.ts";

/** Finishes what an earlier run left; returns the eraser and the conflict resolver it made. */
export async function recoverAtStart(
  { db, archive, dataDir, ingest, intake, log }: {
    db: Database;
    archive: Archive;
    dataDir: string;
    ingest: Ingest;
    intake: Intake;
    log: Logger;
  },
): Promise<{ eraser: Eraser; resolver: ConflictResolver }> {
  const eraser = new Eraser(db, archive, dataDir, log.child({ part: "erase" }), (fn) => ingest.exclusive(fn));
  // Before the crash reconcile, which would index again a file an interrupted erasure had not removed yet.
  await eraser.finish();
  // Before any work is accepted: what a crash left between Success and the group commit is committed.
  const reconciled = await reconcileAfterCrash(db, archive, dataDir, ingest, log);
  if (reconciled.restored) {
    log.warn("started on an index restored from a backup: archive and index reconciled", {
      missing: reconciled.missing,
      indexed: reconciled.indexed,
      removed: reconciled.removed,
      conflicts: reconciled.conflicts,
    });
  } else if (reconciled.removed || reconciled.indexed || reconciled.conflicts) {
    log.warn("archive files the index did not know, left by a crash: indexed, or removed when superseded", {
      indexed: reconciled.indexed,
      removed: reconciled.removed,
      conflicts: reconciled.conflicts,
    });
  }
  // Conflict resolutions a crash left under way are finished before anything reads the archive.
  // CONDUIT_TEST_RESOLVE_STOP: crash tests stop a resolution at a step, to kill the agent there.
  const stopAt = Deno.env.get("CONDUIT_TEST_RESOLVE_STOP");
  const resolver = new ConflictResolver({
    db,
    archive,
    ingest,
    log: log.child({ part: "conflicts" }),
    stopAt: stopAt === "begun" || stopAt === "moved" ? stopAt : undefined,
  });
  const finished = await resolver.finishUnderWay();
  if (finished) log.warn("conflict resolutions a stop interrupted were finished", { finished });
  const recovered = await recoverIntake(ingest, intake, log);
  if (recovered.committed || recovered.failed) {
    log.info("committed objects answered Success before a stop", recovered);
  }
  return { eraser, resolver };
}

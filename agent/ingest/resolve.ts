/**
 * Resolving a keepBoth conflict (`agent conflicts resolve`, `POST /conflicts/:id/resolve`, the hub's
 * `site.resolveConflict`): the operator keeps the `stored` object (the copy kept aside is deleted) or the
 * `received` one (the kept copy becomes the archived object at its object key, indexed and routed again as
 * keepLast does, the old bytes gone).
 *
 * Crash-safe by a roll forward: the conflict row first says which resolution is under way (one index
 * transaction), then the files change (a rename into place, synced, or a removal), then one transaction
 * updates the index and marks the conflict resolved. A start after a crash finishes every resolution under
 * way (`finishUnderWay`), from whichever step it stopped at; before the first transaction nothing changed.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import { type Archive, datasetHash, objectKey, parseAsideKey } from "../archive/archive.ts";
import type { Database } from "../index/db.ts";
import {
  beginResolution,
  conflictById,
  type ConflictView,
  endResolutionInTransaction,
  type Resolution,
  resolutionsUnderWay,
} from "../index/conflicts.ts";
import { existingInstance } from "../index/instances.ts";
import type { Ingest } from "./ingest.ts";
import type { Checked } from "./checks.ts";
import { checkArchived } from "./recover.ts";

/** Why a conflict cannot be resolved; `kind` says how the HTTP API and the tunnel answer. */
export class ConflictResolveError extends Error {
  override name = "ConflictResolveError";
  constructor(message: string, readonly kind: "not-found" | "refused") {
    super(message);
  }
}

export interface ResolverOptions {
  db: Database;
  archive: Archive;
  ingest: Ingest;
  log: Logger;
  /**
   * Crash tests only (CONDUIT_TEST_RESOLVE_STOP): a resolution stops for good once it has `begun` (its row
   * says so) or, keeping the received copy, once the copy has `moved`, for the test to kill the agent there.
   */
  stopAt?: "begun" | "moved";
}

/** A promise that never settles: where a crash test's resolution waits to be killed. */
const never = () => new Promise<never>(() => {});

export class ConflictResolver {
  readonly #o: ResolverOptions;
  /** Resolutions run one at a time (two of one SOP Instance UID must not interleave). */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(options: ResolverOptions) {
    this.#o = options;
  }

  /**
   * Resolves conflict `id` keeping `keep`; the conflict as it is now resolved. It runs while nothing is
   * placed in the archive or indexed (`Ingest.exclusive`), so that a copy of the same object received
   * meanwhile, or an erasure, does not interleave with it.
   */
  resolve(id: number, keep: Resolution): Promise<ConflictView> {
    const run = this.#chain.then(() => this.#o.ingest.exclusive(() => this.#resolve(id, keep)));
    this.#chain = run.catch(() => {});
    return run;
  }

  /** Finishes the resolutions a crash left under way (at start, before work is accepted); how many. */
  async finishUnderWay(): Promise<number> {
    let finished = 0;
    for (const c of resolutionsUnderWay(this.#o.db)) {
      try {
        await this.#finish(c, c.resolution!);
        finished++;
      } catch (err) {
        this.#o.log.error("a conflict resolution a stop interrupted could not be finished", {
          conflict: c.id,
          sop: hashUid(c.sopInstanceUid),
          reason: err instanceof ConflictResolveError ? err.message : (err as Error).name,
        });
      }
    }
    return finished;
  }

  async #resolve(id: number, keep: Resolution): Promise<ConflictView> {
    const { db, archive } = this.#o;
    const c = conflictById(db, id);
    if (!c) throw new ConflictResolveError(`there is no conflict ${id}`, "not-found");
    if (c.resolvedAt) {
      throw new ConflictResolveError(
        `conflict ${id} was resolved already (keep ${c.resolution}, at ${c.resolvedAt})`,
        "refused",
      );
    }
    if (c.policy !== "keepBoth" || !c.keptPath) {
      throw new ConflictResolveError(
        `conflict ${id} has no kept copy to resolve: the duplicates policy ${c.policy} ` +
          (c.policy === "keepLast" ? "replaced the stored object" : "discarded the received one") +
          " when it arrived",
        "refused",
      );
    }
    // A resolution under way here is one a start could not finish (the agent runs them one at a time and
    // finishes what a crash left before it takes requests): asked again, it is tried again; keeping the
    // stored object instead is still possible while the copy is aside (nothing has moved).
    const switching = c.resolution && c.resolution !== keep;
    if (switching && !(keep === "stored" && await archive.stat(c.keptPath))) {
      throw new ConflictResolveError(
        `conflict ${id} is being resolved (keep ${c.resolution}), and its kept copy has moved already`,
        "refused",
      );
    }
    if (!c.resolution && !(await archive.stat(c.keptPath))) {
      throw new ConflictResolveError(
        `conflict ${id}'s kept copy ${c.keptPath} is not in the archive (removed by hand?): nothing to resolve`,
        "refused",
      );
    }
    // The copy that is to replace the stored object is checked before anything is begun.
    const aside = parseAsideKey(c.keptPath);
    const copy = keep === "received" && !c.resolution && aside
      ? await this.#verified(c, c.keptPath, objectKey(aside.study, aside.series, aside.sop))
      : undefined;
    if (keep === "received" && !c.resolution && !copy) {
      throw new ConflictResolveError(
        `conflict ${id}'s kept copy is not the object received any more (changed by hand?): keep the stored ` +
          "object instead",
        "refused",
      );
    }
    if (!beginResolution(db, id, keep, switching ? c.resolution! : undefined)) {
      throw new ConflictResolveError(`conflict ${id} was resolved meanwhile`, "refused");
    }
    if (this.#o.stopAt === "begun") await never();
    await this.#finish(c, keep, copy);
    this.#o.log.info("conflict resolved", { conflict: id, keep, sop: hashUid(c.sopInstanceUid) });
    return conflictById(db, id)!;
  }

  /**
   * The files, then the index: from wherever a resolution begun stopped. `copy`: the kept copy, verified
   * already (by `#resolve`, just before).
   */
  async #finish(c: ConflictView, keep: Resolution, copy?: Checked): Promise<void> {
    const { db, archive, ingest } = this.#o;
    const kept = c.keptPath!;
    if (keep === "stored") {
      await archive.remove(kept);
      db.write(() => endResolutionInTransaction(db, c.id));
      return;
    }
    const uids = parseAsideKey(kept);
    if (!uids) {
      throw new ConflictResolveError(
        `conflict ${c.id}'s kept path is not the name of a kept copy`,
        "refused",
      );
    }
    const key = objectKey(uids.study, uids.series, uids.sop);
    const before = existingInstance(db, c.sopInstanceUid)?.path;
    // The copy aside, checked as it was received and against its recorded hash before it replaces anything
    // (a copy changed by hand is refused, the stored object untouched); else, a run a crash stopped moved it
    // already: the object at the key, if it is that copy.
    let checked = copy ?? (await archive.stat(kept) ? await this.#verified(c, kept, key) : undefined);
    if (checked) {
      await archive.move(kept, key);
      if (this.#o.stopAt === "moved") await never();
    } else if (await archive.stat(kept)) {
      throw new ConflictResolveError(
        `conflict ${c.id}'s kept copy is not the object received any more (changed by hand?): keep the stored ` +
          "object instead",
        "refused",
      );
    } else checked = await this.#verified(c, key, key);
    if (!checked) {
      throw new ConflictResolveError(
        `conflict ${c.id}'s kept copy is neither aside nor at the object's path: it cannot be made the ` +
          "archived object",
        "refused",
      );
    }
    // Indexed as the archived object at the key (the Checked of the copy describes the moved file) and
    // routed again, the conflict resolved in the same transaction.
    ingest.replacePlaced(checked, () => endResolutionInTransaction(db, c.id));
    // The object the index held under another key (other Study or Series UIDs): its bytes go too.
    if (before && before !== key) await archive.remove(before);
  }

  /**
   * The object at `at` checked as the conflict's received copy (its SOP Instance UID, the object key `key`
   * its UIDs give, its data set's SHA-256 the recorded one), with its hash set; undefined when it is not.
   */
  async #verified(c: ConflictView, at: string, key: string): Promise<Checked | undefined> {
    const { archive, ingest } = this.#o;
    try {
      const checked = await checkArchived(ingest, archive, at, c.callingAet);
      if (checked.attrs.sopInstanceUid !== c.sopInstanceUid || checked.key !== key) return undefined;
      const sha256 = await datasetHash(archive, {
        path: at,
        datasetOffset: checked.received.fileSize - checked.received.datasetSize,
        datasetSize: checked.received.datasetSize,
      });
      if (sha256 !== c.receivedSha256) return undefined;
      checked.received.datasetSha256 = sha256;
      return checked;
    } catch {
      return undefined;
    }
  }
}

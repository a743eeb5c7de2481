/**
 * The de-identification stage: the worker for `deid:<route>` queue rows. Ingest (or a transfer's send)
 * only queues one stage row per object, so receiving stays as fast as without de-identification. For each
 * row the worker writes the de-identified copy to a staging file (synced), places it in the archive as
 * `deid/<route hash>/<SOP>.dcm`, then in one transaction marks the row done, records the copy and
 * queues it for the route's destinations. A crash before that transaction leaves at most a stray copy,
 * removed at the next start, and the row in flight, redone then: the engine is deterministic, so the
 * redone copy is the same bytes. What is forwarded, on every attempt, is that one recorded copy.
 *
 * An object that may carry burned-in text is held back (its row goes to the dead letter with the
 * reason) unless the route or transfer allows it.
 */
import { createHash } from "node:crypto";
import { hashUid, type Logger } from "@conduit/shared/log";
import type { TrialAttributes } from "@conduit/shared/deid";
import type { DeidProfile } from "../deid/profile.ts";
import { type Archive, withObject } from "../archive/archive.ts";
import type { ClaimedRow } from "../queue/rows.ts";
import type { Copies } from "../queue/copies.ts";
import { HELD_PREFIX } from "../queue/keys.ts";
import { loadProfile } from "../deid/load_profile.ts";
import { loadPart } from "../lazy_part.ts";

/** What the stage needs to de-identify a route's objects. */
export interface StageSettings {
  profile: DeidProfile;
  key: Uint8Array;
  allowBurnedIn: boolean;
  /** Original Patient ID -> pseudonym (a batch's pseudonym column). */
  pseudonyms?: ReadonlyMap<string, string>;
  /** Clinical Trial attributes set on every copy (a transfer's `deid.clinicalTrial`). */
  trial?: TrialAttributes;
  destinations: string[];
}

/** The outcome of one stage row, for the forwarder to record. */
export type StageOutcome =
  | { outcome: "done"; destinations: string[] }
  | { outcome: "held"; reason: string }
  | { outcome: "failed"; reason: string; permanent: boolean }
  /** The row was reset or canceled while it was worked on: nothing to record. */
  | { outcome: "stale" };

/** Where the stage keeps a route's copies in the archive. */
const COPIES = "deid/";

/** The key of a route's copy: under a hash of the route, since route names are free text. */
function copyKey(route: string, sopInstanceUid: string): string {
  return `${COPIES}${createHash("sha256").update(route).digest("hex").slice(0, 16)}/${sopInstanceUid}.dcm`;
}

export class DeidStage {
  constructor(
    private readonly copies: Copies,
    private readonly archive: Archive,
    private readonly log: Logger,
    /** The settings of a route, or a sentence saying why it cannot be de-identified here. */
    private readonly settingsFor: (route: string) => StageSettings | string,
  ) {}

  /** De-identifies the object of one claimed stage row and records the result. */
  async run(row: ClaimedRow): Promise<StageOutcome> {
    await loadProfile(); // the settings of a transfer's route build its profile
    const settings = this.settingsFor(row.route);
    if (typeof settings === "string") return { outcome: "failed", reason: settings, permanent: true };
    // The engine is loaded by the first object to de-identify (about 1 MB of RSS):
    // an agent without de-identification never pays its memory.
    const { deidentify } = await loadPart("deid/engine");
    const tmp = this.archive.staging();
    const result = await withObject(this.archive, row.key, (source) =>
      deidentify(source, tmp, {
        key: settings.key,
        profile: settings.profile,
        pseudonyms: settings.pseudonyms,
        allowBurnedIn: settings.allowBurnedIn,
        trial: settings.trial,
        sync: this.archive.sync,
        // The copy's index row needs its data set's place and hash: taken as it is written, not read back.
        hashDataset: true,
      }));
    if (result.status === "held") {
      this.log.warn("object held back by the burned-in text policy", {
        sop: hashUid(row.sopInstanceUid),
        route: row.route,
        reason: result.reason,
      });
      return { outcome: "held", reason: `${HELD_PREFIX}${result.reason}` };
    }
    if (result.status === "failed") {
      await this.archive.discardStaged(tmp);
      // The engine's reading and rewriting are deterministic: the same object fails the same way again.
      const permanent = /^(not a readable DICOM file|cannot de-identify)/.test(result.reason);
      return { outcome: "failed", reason: `de-identification failed: ${result.reason}`, permanent };
    }
    let key: string | undefined;
    try {
      if (!result.dataset) throw new Error("the engine did not hash the copy");
      const { offset: datasetOffset, size: datasetSize, sha256 } = result.dataset;
      key = copyKey(row.route, result.sopInstanceUid);
      await this.archive.place(tmp, key);
      const ids = result.identifiers;
      const recorded = this.copies.complete(row.id, {
        route: row.route,
        sourceSopInstanceUid: row.sopInstanceUid,
        sopInstanceUid: result.sopInstanceUid,
        sopClassUid: ids.sopClassUid,
        transferSyntaxUid: result.transferSyntax,
        path: key,
        fileSize: result.bytes,
        datasetOffset,
        datasetSize,
        sha256,
        patientId: ids.patientId,
        patientName: ids.patientName,
        studyInstanceUid: ids.studyInstanceUid,
        seriesInstanceUid: ids.seriesInstanceUid,
      }, settings.destinations);
      if (!recorded) {
        if (!this.copies.livePaths().has(key)) await this.archive.remove(key);
        return { outcome: "stale" };
      }
      return { outcome: "done", destinations: settings.destinations };
    } catch (err) {
      await this.archive.discardStaged(tmp);
      return {
        outcome: "failed",
        reason: `cannot place the de-identified copy: ${(err as Error).message}`,
        permanent: false,
      };
    }
  }

  /** Removes the files of copies every row of which is done; returns how many. */
  async sweep(): Promise<number> {
    let removed = 0;
    for (const c of this.copies.finished()) {
      // Each one checked again: the sweep awaits each removal, and a copy may be made again meanwhile.
      if (!this.copies.markRemoved(c.id)) continue;
      await this.archive.remove(c.path);
      removed++;
    }
    return removed;
  }

  /**
   * At start: removes the copies a crash left between placing and recording them (copies in the archive
   * that no live record names); their stage rows are redone. Staged files an earlier run left are the
   * archive's to remove (Archive.prepare). Resolves with how many copies.
   */
  async reconcile(): Promise<number> {
    let removed = 0;
    const live = this.copies.livePaths();
    for await (const key of this.archive.list(COPIES)) {
      if (live.has(key)) continue;
      await this.archive.remove(key);
      removed++;
    }
    return removed;
  }
}

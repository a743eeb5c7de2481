/**
 * The de-identification stage: the worker for `deid:<route>` queue rows. Ingest (or a transfer's send)
 * only queues one stage row per object, so receiving stays as fast as without de-identification. For each
 * row the worker writes the de-identified copy under a temporary name (synced), moves it to
 * `<data>/deid/<route hash>/<SOP>.dcm`, then in one transaction marks the row done, records the copy and
 * queues it for the route's destinations. A crash before that transaction leaves at most a stray file,
 * removed at the next start, and the row in flight, redone then: the engine is deterministic, so the
 * redone copy is the same bytes. What is forwarded, on every attempt, is that one recorded file.
 *
 * An object that may carry burned-in text is held back (its row goes to the dead letter with the
 * reason) unless the route or transfer allows it.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Logger } from "@conduit/shared/log.ts";
import { hashUid } from "@conduit/shared/log.ts";
import { deidentifyFile } from "../deid/engine.ts";
import type { DeidProfile } from "../deid/profile.ts";
import type { Archive } from "../archive/archive.ts";
import { readFileHeader } from "../part10/header.ts";
import type { ClaimedRow } from "../queue/queue.ts";
import type { Copies } from "../queue/copies.ts";
import { HELD_PREFIX } from "../queue/keys.ts";

/** What the stage needs to de-identify a route's objects. */
export interface StageSettings {
  profile: DeidProfile;
  key: Uint8Array;
  allowBurnedIn: boolean;
  /** Original Patient ID -> pseudonym (a batch's pseudonym column). */
  pseudonyms?: ReadonlyMap<string, string>;
  destinations: string[];
}

/** The outcome of one stage row, for the forwarder to record. */
export type StageOutcome =
  | { outcome: "done"; destinations: string[] }
  | { outcome: "held"; reason: string }
  | { outcome: "failed"; reason: string; permanent: boolean }
  /** The row was reset or canceled while it was worked on: nothing to record. */
  | { outcome: "stale" };

/** The folder of a route's copies: a hash, since route names are free text. */
function routeDir(route: string): string {
  return createHash("sha256").update(route).digest("hex").slice(0, 16);
}

async function hashRange(file: string, start: number, size: number): Promise<string> {
  const hash = createHash("sha256");
  if (size > 0) {
    for await (
      const c of fs.createReadStream(file, { start, end: start + size - 1, highWaterMark: 1 << 20 })
    ) {
      hash.update(c as Uint8Array);
    }
  }
  return hash.digest("hex");
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
    const settings = this.settingsFor(row.route);
    if (typeof settings === "string") return { outcome: "failed", reason: settings, permanent: true };
    const tmp = path.join(this.archive.tmpDir, `deid-${row.id}.dcm`);
    const result = await deidentifyFile(this.archive.absolute(row.path), tmp, {
      key: settings.key,
      profile: settings.profile,
      pseudonyms: settings.pseudonyms,
      allowBurnedIn: settings.allowBurnedIn,
      sync: this.archive.sync,
    });
    if (result.status === "held") {
      this.log.warn("object held back by the burned-in text policy", {
        sop: hashUid(row.sopInstanceUid),
        route: row.route,
        reason: result.reason,
      });
      return { outcome: "held", reason: `${HELD_PREFIX}${result.reason}` };
    }
    if (result.status === "failed") {
      await fs.promises.rm(tmp, { force: true });
      // The engine's reading and rewriting are deterministic: the same object fails the same way again.
      const permanent = /^(not a readable DICOM file|cannot de-identify)/.test(result.reason);
      return { outcome: "failed", reason: `de-identification failed: ${result.reason}`, permanent };
    }
    let relative: string | undefined;
    try {
      const header = await readFileHeader(tmp);
      const datasetOffset = header.header.datasetOffset;
      const datasetSize = header.fileSize - datasetOffset;
      const sha256 = await hashRange(tmp, datasetOffset, datasetSize);
      relative = path.join("deid", routeDir(row.route), `${result.sopInstanceUid}.dcm`);
      await this.archive.place(tmp, relative);
      const ids = result.identifiers;
      const recorded = this.copies.complete(row.id, {
        route: row.route,
        sourceSopInstanceUid: row.sopInstanceUid,
        sopInstanceUid: result.sopInstanceUid,
        sopClassUid: ids.sopClassUid,
        transferSyntaxUid: result.transferSyntax,
        path: relative,
        fileSize: header.fileSize,
        datasetOffset,
        datasetSize,
        sha256,
        patientId: ids.patientId,
        patientName: ids.patientName,
        studyInstanceUid: ids.studyInstanceUid,
        seriesInstanceUid: ids.seriesInstanceUid,
      }, settings.destinations);
      if (!recorded) {
        if (!this.copies.livePaths().has(relative)) {
          await fs.promises.rm(this.archive.absolute(relative), { force: true });
        }
        return { outcome: "stale" };
      }
      return { outcome: "done", destinations: settings.destinations };
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      return {
        outcome: "failed",
        reason: `cannot place the de-identified copy: ${(err as Error).message}`,
        permanent: false,
      };
    }
  }

  /** Removes the files of copies every row of which is done; returns how many. */
  async sweep(): Promise<number> {
    const finished = this.copies.finished();
    for (const c of finished) {
      this.copies.markRemoved(c.id);
      await fs.promises.rm(this.archive.absolute(c.path), { force: true });
    }
    return finished.length;
  }

  /**
   * At start: removes what a crash left between writing a copy and recording it (temporary copies, and
   * copies under `<data>/deid` that no live record names); their stage rows are redone. Returns how many.
   */
  reconcile(): number {
    let removed = 0;
    for (const name of safeList(this.archive.tmpDir)) {
      if (!/^deid-\d+\.dcm(\.part)?$/.test(name)) continue;
      fs.rmSync(path.join(this.archive.tmpDir, name), { force: true });
      removed++;
    }
    const root = this.archive.absolute("deid");
    const live = this.copies.livePaths();
    for (const dir of safeList(root)) {
      for (const name of safeList(path.join(root, dir))) {
        const relative = path.join("deid", dir, name);
        if (live.has(relative)) continue;
        fs.rmSync(this.archive.absolute(relative), { force: true });
        removed++;
      }
    }
    return removed;
  }
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Erasure: a study, a series or one instance taken out of the site for good, on request (a study sent to
 * the wrong site, a patient's request to be forgotten). Unlike retention, which leaves a tombstone, nothing
 * of the objects stays: their archived files and index rows, the series, studies and patients left empty
 * (the counts of those that remain recomputed), their forward queue rows (in flight ones too: a
 * destination may still receive the one being sent), the de-identified copies made of them, the
 * conflict records with the copies kept aside, and their thumbnails in the site's cache (those named before
 * the object's tag are removed at start: `finish`). Objects answered Success before the request are erased
 * with the others; what arrives after it is kept.
 *
 * Crash safety, with a journal `<data>/erasing/<id>.json` written and synced before the index changes:
 * 1. the journal lists every file's key and where it goes (`erasing/<id>/<n>`);
 * 2. one index transaction deletes the rows;
 * 3. with the archive held (`Ingest.exclusive`: nothing placed meanwhile, so no copy received now can be
 *    at a listed key), each file is moved out of its place, and the journal marked `moved` (synced);
 * 4. the moved files are removed, then the journal.
 * A start after a crash finishes what a journal names before it accepts work (`finishErasures`): keys no
 * row points at any more are moved out (only when the journal is not marked `moved`: after that, an object
 * received since may be at such a key), then the moved files removed. A crash before step 2 leaves every
 * row, so nothing is removed: the erasure did not happen, and can be asked again.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { randomUUID } from "node:crypto";
import { hashUid, type Logger } from "@conduit/shared/log";
import { quoted } from "@conduit/shared/quote";
import type { Archive } from "../archive/archive.ts";
import type { Database } from "../index/db.ts";
import { loadPart } from "../lazy_part.ts";

/** What to erase: a study, one series of it, or one instance of that series. */
export interface ErasureTarget {
  studyInstanceUid: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
}

/** What an erasure removed. */
export interface ErasureResult {
  /** Index rows of instances removed (retention's tombstones among them). */
  instances: number;
  /** Of those, the ones whose file was still archived. */
  files: number;
  bytes: number;
  series: number;
  studies: number;
  patients: number;
  /** Forward queue rows deleted, and of those the ones being sent at the time. */
  queueRows: number;
  inFlight: number;
  /** De-identified copies and conflict records removed. */
  copies: number;
  conflicts: number;
  /** Thumbnails of the objects removed from the site's thumbnail cache. */
  thumbnails: number;
}

/** A request that names no erasure (see `erasureTarget`). */
export class ErasureRequestError extends Error {
  override name = "ErasureRequestError";
}

/** Nothing matched the target. */
export class NothingToEraseError extends Error {
  override name = "NothingToEraseError";
}

/** One file an erasure moves out and removes. */
interface Entry {
  key: string;
  moved: string;
}

/** The rows of an erasure's objects, and the files of their copies. */
interface Found {
  target: ErasureTarget;
  instances: { sop: string; series: string; path: string; size: number }[];
  /** Keys of de-identified copies and of kept-aside conflict copies. */
  copies: string[];
  kept: string[];
}

interface Journal {
  entries: Entry[];
  moved?: true;
}

const DIR = "erasing";

/** The journal's folder under the data directory. */
function journalDir(dataDir: string): string {
  return path.join(path.resolve(dataDir), DIR);
}

/** Holds the archive while `fn` runs (Ingest.exclusive); runs it at once where nothing else places objects. */
export type Hold = <T>(fn: () => Promise<T>) => Promise<T>;

export class Eraser {
  constructor(
    private readonly db: Database,
    private readonly archive: Archive,
    private readonly dataDir: string,
    private readonly log: Logger,
    private readonly hold: Hold = (fn) => fn(),
  ) {}

  /** Erases `target`; throws NothingToEraseError when the index holds none of it. */
  async erase(target: ErasureTarget): Promise<ErasureResult> {
    // Objects answered Success before the request are committed first, so they are erased too.
    await this.db.caughtUp();
    const sops: string[] = [];
    const { result, id, journal } = await this.hold(async () => {
      const found = this.#select(target);
      if (found.instances.length === 0) {
        throw new NothingToEraseError(`no ${levelOf(target)} with that UID at this site`);
      }
      for (const i of found.instances) sops.push(i.sop);
      const id = randomUUID();
      const objects = new Set(found.instances.map((i) => i.path).filter((k) => k !== ""));
      const keys = [...new Set([...objects, ...found.copies, ...found.kept])];
      const journal: Journal = { entries: keys.map((key, n) => ({ key, moved: `${DIR}/${id}/${n}` })) };
      this.#writeJournal(id, journal);
      const result = this.#deleteRows(found);
      // From here the erasure has happened (its rows are gone): a file that cannot be taken out now is
      // left to the next start, which finishes the journal; the answer still says what was done.
      let stuck = 0;
      for (const entry of journal.entries) {
        try {
          if (await this.archive.takeOut(entry.key, entry.moved) && objects.has(entry.key)) result.files++;
        } catch (err) {
          stuck++;
          this.log.error("an erased object's file could not be taken out; the next start removes it", {
            code: (err as { code?: string }).code ?? (err as Error).name,
          });
        }
      }
      if (!stuck) this.#writeJournal(id, { ...journal, moved: true });
      // No folder named by an erased UID stays (those still holding other objects do).
      for (const key of keys) {
        await this.archive.prune(key).catch((err) =>
          this.log.warn("an erased object's empty folder could not be removed", {
            code: (err as { code?: string }).code ?? (err as Error).name,
          })
        );
      }
      return { result, id, journal: stuck ? undefined : journal };
    });
    // The archive is free again: what was moved out is at names no object takes.
    if (journal) await this.#removeMoved(id, journal);
    // Loaded here: the agent's start loads nothing of rendering (tests/tools/start_graph_test.ts).
    const { ThumbnailCache } = await loadPart("render/cache");
    result.thumbnails = await ThumbnailCache.removeObjects(
      path.join(path.resolve(this.dataDir), "thumbnails"),
      sops,
    ).catch(() => 0);
    this.log.info("erased", {
      scope: levelOf(target),
      study: hashUid(target.studyInstanceUid),
      ...(target.seriesInstanceUid ? { series: hashUid(target.seriesInstanceUid) } : {}),
      ...(target.sopInstanceUid ? { instance: hashUid(target.sopInstanceUid) } : {}),
      ...result,
    });
    return result;
  }

  /**
   * At start, before any work: finishes the erasures a stop interrupted (see the module's comment);
   * resolves with how many journals it found.
   */
  async finish(): Promise<number> {
    await this.#removeUntaggedThumbnails();
    const dir = journalDir(this.dataDir);
    let names: string[];
    try {
      names = fs.readdirSync(dir).filter((n) => n.endsWith(".json"));
    } catch {
      return 0;
    }
    for (const name of names) {
      const id = name.slice(0, -".json".length);
      let journal: Journal;
      try {
        journal = JSON.parse(fs.readFileSync(path.join(dir, name), "utf8")) as Journal;
        if (!Array.isArray(journal.entries)) throw new Error("no entries");
      } catch {
        // Cut short while it was first written (before the index changed): nothing of it happened.
        fs.rmSync(path.join(dir, name), { force: true });
        fs.rmSync(path.join(dir, id), { recursive: true, force: true });
        continue;
      }
      if (!journal.moved) {
        for (const entry of journal.entries) {
          if (!this.#referenced(entry.key)) {
            await this.archive.takeOut(entry.key, entry.moved).catch(() => false);
          }
        }
      }
      await this.#removeMoved(id, journal);
    }
    if (names.length) this.log.warn("finished erasures a stop interrupted", { count: names.length });
    return names.length;
  }

  /**
   * Thumbnails named before their object's tag (versions before 2026-12-05) cannot be attributed to an
   * object, so no erasure finds them: removed at start, before the cache is opened (they are made again
   * when asked). Their folder absent (no thumbnail ever made), rendering is not loaded.
   */
  async #removeUntaggedThumbnails(): Promise<void> {
    const dir = path.join(path.resolve(this.dataDir), "thumbnails");
    if (!fs.existsSync(dir)) return;
    try {
      const { ThumbnailCache } = await loadPart("render/cache");
      const removed = await ThumbnailCache.removeUntagged(dir);
      if (removed) this.log.info("removed thumbnails named before their object's tag", { count: removed });
    } catch (err) {
      this.log.warn("could not remove thumbnails named before their object's tag", {
        code: (err as { code?: string }).code ?? (err as Error).name,
      });
    }
  }

  /** Whether an index row still points at `key` (an instance, a de-identified copy, a kept-aside copy). */
  #referenced(key: string): boolean {
    return Boolean(
      this.db.statement("SELECT 1 FROM instances WHERE path = ?").get(key) ??
        this.db.statement("SELECT 1 FROM deid_copies WHERE path = ? AND removed_at IS NULL").get(key) ??
        this.db.statement("SELECT 1 FROM conflicts WHERE kept_path = ?").get(key),
    );
  }

  #select(target: ErasureTarget): Found {
    const where = ["study_instance_uid = ?"];
    const args = [target.studyInstanceUid];
    if (target.seriesInstanceUid) {
      where.push("series_instance_uid = ?");
      args.push(target.seriesInstanceUid);
    }
    if (target.sopInstanceUid) {
      where.push("sop_instance_uid = ?");
      args.push(target.sopInstanceUid);
    }
    const instances = this.db.statement(
      `SELECT sop_instance_uid AS sop, series_instance_uid AS series, path, file_size AS size
      FROM instances WHERE ${where.join(" AND ")}`,
    ).all(...args) as { sop: string; series: string; path: string; size: number }[];
    const copies: string[] = [];
    const kept: string[] = [];
    const copiesOf = this.db.statement(
      "SELECT path FROM deid_copies WHERE source_sop_instance_uid = ? AND removed_at IS NULL",
    );
    const keptOf = this.db.statement("SELECT kept_path AS path FROM conflicts WHERE sop_instance_uid = ?");
    for (const i of instances) {
      for (const row of copiesOf.all(i.sop) as { path: string }[]) copies.push(row.path);
      for (const row of keptOf.all(i.sop) as { path: string | null }[]) if (row.path) kept.push(row.path);
    }
    return { target, instances, copies, kept };
  }

  /** Step 2: every row of the objects, in one transaction; the counts of what remains recomputed. */
  #deleteRows(found: Found): ErasureResult {
    const db = this.db;
    const run = (sql: string, ...args: (string | number)[]) => db.statement(sql).run(...args).changes;
    const result: ErasureResult = {
      instances: 0,
      files: 0,
      bytes: 0,
      series: 0,
      studies: 0,
      patients: 0,
      queueRows: 0,
      inFlight: 0,
      copies: 0,
      conflicts: 0,
      thumbnails: 0,
    };
    const study = found.target.studyInstanceUid;
    const patientPk = (db.statement("SELECT patient_pk AS pk FROM studies WHERE study_instance_uid = ?")
      .get(study) as { pk: number } | undefined)?.pk;
    const seriesTouched = new Set(found.instances.map((i) => i.series));
    db.write(() => {
      for (const i of found.instances) {
        result.inFlight += (db.statement(
          "SELECT count(*) AS n FROM queue WHERE sop_instance_uid = ? AND state = 'in_flight'",
        ).get(i.sop) as { n: number }).n;
        const copyIds = db.statement("SELECT id FROM deid_copies WHERE source_sop_instance_uid = ?")
          .all(i.sop) as { id: number }[];
        for (const { id } of copyIds) result.queueRows += run("DELETE FROM queue WHERE copy_id = ?", id);
        result.queueRows += run("DELETE FROM queue WHERE sop_instance_uid = ? AND copy_id IS NULL", i.sop);
        result.copies += run("DELETE FROM deid_copies WHERE source_sop_instance_uid = ?", i.sop);
        result.conflicts += run("DELETE FROM conflicts WHERE sop_instance_uid = ?", i.sop);
        result.instances += run("DELETE FROM instances WHERE sop_instance_uid = ?", i.sop);
        if (i.path) result.bytes += i.size;
      }
      for (const series of seriesTouched) {
        const left = run(
          `UPDATE series SET num_instances = (SELECT count(*) FROM instances WHERE series_instance_uid = ?1)
          WHERE series_instance_uid = ?1 AND EXISTS (SELECT 1 FROM instances WHERE series_instance_uid = ?1)`,
          series,
        );
        if (!left) result.series += run("DELETE FROM series WHERE series_instance_uid = ?", series);
      }
      const studyLeft = run(
        `UPDATE studies SET num_instances = (SELECT count(*) FROM instances WHERE study_instance_uid = ?1),
          num_series = (SELECT count(*) FROM series WHERE study_instance_uid = ?1),
          modalities_in_study = coalesce((SELECT group_concat(m, '\\') FROM (SELECT DISTINCT modality AS m
            FROM series WHERE study_instance_uid = ?1 AND modality <> '' ORDER BY m)), ''),
          sop_classes_in_study = coalesce((SELECT group_concat(c, '\\') FROM (SELECT DISTINCT sop_class_uid AS c
            FROM instances WHERE study_instance_uid = ?1 ORDER BY c)), ''),
          updated_at = ?2
        WHERE study_instance_uid = ?1 AND EXISTS (SELECT 1 FROM series WHERE study_instance_uid = ?1)`,
        study,
        Date.now(),
      );
      if (!studyLeft) result.studies += run("DELETE FROM studies WHERE study_instance_uid = ?", study);
      if (patientPk !== undefined) {
        const patientLeft = run(
          `UPDATE patients SET
            num_studies = (SELECT count(*) FROM studies WHERE patient_pk = ?1),
            num_series = (SELECT count(*) FROM series se JOIN studies st
              ON st.study_instance_uid = se.study_instance_uid WHERE st.patient_pk = ?1),
            num_instances = (SELECT count(*) FROM instances i JOIN studies st
              ON st.study_instance_uid = i.study_instance_uid WHERE st.patient_pk = ?1)
          WHERE pk = ?1 AND EXISTS (SELECT 1 FROM studies WHERE patient_pk = ?1)`,
          patientPk,
        );
        if (!patientLeft) result.patients += run("DELETE FROM patients WHERE pk = ?", patientPk);
      }
    });
    return result;
  }

  /** Writes (and with `archive.sync`, syncs) the journal `id`. */
  #writeJournal(id: string, journal: Journal): void {
    const dir = journalDir(this.dataDir);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${id}.json`);
    const temp = `${file}.part`;
    const fd = fs.openSync(temp, "w", 0o640);
    try {
      fs.writeFileSync(fd, JSON.stringify(journal));
      if (this.archive.sync) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
    if (this.archive.sync) syncFolder(dir);
  }

  /** Step 4: removes what the journal moved out, then the journal. */
  async #removeMoved(id: string, journal: Journal): Promise<void> {
    for (const entry of journal.entries) await this.archive.remove(entry.moved);
    const dir = journalDir(this.dataDir);
    fs.rmSync(path.join(dir, id), { recursive: true, force: true });
    fs.rmSync(path.join(dir, `${id}.json`), { force: true });
  }
}

/** `study`, `series` or `instance`: what a target names. */
export function levelOf(target: ErasureTarget): "study" | "series" | "instance" {
  return target.sopInstanceUid ? "instance" : target.seriesInstanceUid ? "series" : "study";
}

function syncFolder(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

const UID = /^[0-9]+(\.[0-9]+)*$/;

/**
 * An erasure's target from a request's fields (`study`, `series`, `instance`: UIDs, each at most 64
 * characters; a series needs its study, an instance its series), or a sentence saying what is wrong.
 */
export function erasureTarget(
  input: { study?: unknown; series?: unknown; instance?: unknown },
): ErasureTarget | string {
  const fields = [["study", input.study], ["series", input.series], ["instance", input.instance]] as const;
  for (const [name, value] of fields) {
    if (value === undefined) continue;
    if (typeof value !== "string" || !UID.test(value) || value.length > 64) {
      return `${name} is a UID (digits and dots, at most 64 characters), not ${quoted(value)}`;
    }
  }
  if (input.study === undefined) return "study is required (the Study Instance UID)";
  if (input.instance !== undefined && input.series === undefined) {
    return "an instance is named with its series (series and instance)";
  }
  return {
    studyInstanceUid: input.study as string,
    ...(input.series !== undefined ? { seriesInstanceUid: input.series as string } : {}),
    ...(input.instance !== undefined ? { sopInstanceUid: input.instance as string } : {}),
  };
}

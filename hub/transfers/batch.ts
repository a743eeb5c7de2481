/**
 * Batch query and batch transfer: rows from a CSV or XLSX file, each searched on the chosen sites
 * (study level); for a transfer, every study found at the source becomes a task of one transfer job (only
 * the series rows name, when every row that finds the study names one).
 * A bad row, or a row nothing matches, gets its own result line with the reason; the rest go on.
 * Results download as CSV or XLSX.
 *
 * A batch runs in the hub that took it, writing its results so far (and so its progress) every few
 * seconds: that is also its heartbeat. `running`, then `done`; `canceled` when an operator stopped it (what
 * it found until then stays, no transfer is made); `failed` when it stopped on an error, or when its hub
 * stopped before it finished (found at start, or by another hub of a cluster, a minute after its last
 * beat): upload the file again.
 */
import { randomBytes } from "node:crypto";
import { and, desc, eq, lt } from "drizzle-orm";
import type { Logger } from "@conduit/shared/log";
import { jsonText } from "@conduit/shared/dicom";
import type { HubDb } from "../db/db.ts";
import { batches } from "../db/schema.ts";
import { type BackendProvider, BackendUnavailableError } from "../dicomweb/services.ts";
import { SiteBusyError, SiteUnavailableError } from "../tunnel/errors.ts";
import { SessionClosedError } from "@conduit/shared/tunnel";
import { type BatchRow, parseBatchFile, resultsFile } from "./rows.ts";
import { type BatchSummary, resultColumns, summarize } from "./batch_summary.ts";
import { resultsCsv } from "./results_csv.ts";
import type { CsvEncoding } from "@conduit/shared/csv-text";
import { resultsXlsx } from "./results_xlsx.ts";
import { type Endpoint, TransferError, type TransferService } from "./service.ts";
import { PseudonymTable, type TransferDeidRequest } from "@conduit/shared/deid";
import { deidProblem } from "./deid.ts";
import { entry } from "../auth/audit.ts";

/**
 * The same batch started again (the same file, rows, kind and sites, by the same caller) while the first
 * still runs: a second click or a resent request, refused (CONFLICT) rather than searched and moved twice.
 */
export class BatchStartedError extends Error {
  override name = "BatchStartedError";
  constructor(readonly batchId: string, filename: string) {
    super(
      `${filename} is running already as batch ${batchId} with the same rows and sites: follow it, or ` +
        "cancel it before starting it again",
    );
  }
}

/** How often a running batch writes its results so far (its progress and heartbeat). */
const BEAT_MS = 5_000;
/** A running batch whose last beat is older than this lost its hub. */
const ORPHAN_MS = 60_000;

/** Batches read at a time for a list page of a principal that reaches only some sites. */
const LIST_CHUNK = 200;

/** A batch as the list shows it. */
function listed(b: {
  id: string;
  kind: string;
  filename: string;
  status: string;
  sites: string;
  transferId: string | null;
  createdBy: string;
  createdAt: number;
}) {
  const where = JSON.parse(b.sites) as { sites: string[]; destination?: Endpoint };
  return {
    id: b.id,
    kind: b.kind,
    filename: b.filename,
    status: b.status,
    sites: where.sites,
    destination: where.destination ?? null,
    transferId: b.transferId,
    createdBy: b.createdBy,
    createdAt: new Date(b.createdAt).toISOString(),
  };
}

/** An operator canceled the batch: its run stops at the next row. */
class Canceled extends Error {}

/**
 * Whether a search failed because its site cannot be asked at all (offline, never enrolled, its link gone
 * meanwhile), not because of the row: for a batch transfer's one source, no later row could be searched.
 * A site busy (every stream in use) is not: the next row may get through.
 */
function siteAway(err: unknown): boolean {
  return err instanceof BackendUnavailableError || err instanceof SessionClosedError ||
    (err instanceof SiteUnavailableError && !(err instanceof SiteBusyError));
}

/**
 * A batch transfer stopped at the row where its source could not be asked: the batch is `failed` with this
 * reason, and every row after it says it was not searched.
 */
class SourceAwayError extends Error {
  override name = "SourceAwayError";
}

export interface BatchInput {
  kind: "query" | "transfer";
  filename: string;
  content: Uint8Array;
  /** A CSV's encoding (shared/csv_text.ts); absent or `auto`: detected. */
  encoding?: CsvEncoding;
  /** Sites to search (query); for a transfer, the source. */
  sites: string[];
  node?: string;
  destination?: Endpoint;
  /**
   * For a transfer: de-identify at the source. The file's Pseudonym column becomes the transfer's
   * per-patient table (the Patient ID of each study found, to its row's pseudonym).
   */
  deid?: Omit<TransferDeidRequest, "pseudonyms">;
}

const RESULT_KEYS = [
  "PatientID",
  "PatientName",
  "PatientBirthDate",
  "AccessionNumber",
  "StudyDate",
  "ModalitiesInStudy",
  "StudyDescription",
  "StudyInstanceUID",
  "NumberOfStudyRelatedInstances",
];

export class BatchService {
  constructor(
    private readonly db: HubDb,
    private readonly provider: BackendProvider,
    private readonly transfers: TransferService,
    private readonly log: Logger,
  ) {}

  async upload(input: BatchInput, createdBy: string): Promise<{ id: string; rows: number; badRows: number }> {
    if (input.kind === "transfer" && (!input.destination || input.sites.length !== 1)) {
      throw new TransferError("a batch transfer needs one source site and a destination");
    }
    if (!input.sites.length) throw new TransferError("name at least one site");
    if (input.deid) {
      if (input.kind !== "transfer") throw new TransferError("de-identification applies to a batch transfer");
      const problem = deidProblem(input.deid);
      if (problem) throw new TransferError(problem);
    }
    // What would stop its transfer is said now, not after every row was searched.
    if (input.kind === "transfer") {
      const source = { site: input.sites[0], ...(input.node ? { node: input.node } : {}) };
      await this.transfers.checkEndpoints(source, input.destination!);
    }
    const rows = await parseBatchFile(input.filename, input.content, input.encoding);
    if (!rows.length) {
      throw new TransferError("the file has its header row only: add one row per search below it");
    }
    const id = randomBytes(8).toString("hex");
    const sites = JSON.stringify({ sites: input.sites, node: input.node, destination: input.destination });
    // One start at a time here, so that two of the same batch at once cannot both pass the check.
    const turn = this.#starting.then(async () => {
      const same = await this.db.select({ id: batches.id }).from(batches).where(and(
        eq(batches.status, "running"),
        eq(batches.createdBy, createdBy),
        eq(batches.kind, input.kind),
        eq(batches.filename, input.filename),
        eq(batches.sites, sites),
        eq(batches.rows, JSON.stringify(rows)),
      )).limit(1);
      if (same.length) throw new BatchStartedError(same[0].id, input.filename);
      const now = Date.now();
      await this.db.insert(batches).values({
        id,
        kind: input.kind,
        filename: input.filename,
        status: "running",
        sites,
        rows: JSON.stringify(rows),
        summary: JSON.stringify(summarize(rows, [])),
        createdBy,
        createdAt: now,
        updatedAt: now,
      });
    });
    this.#starting = turn.catch(() => {});
    await turn;
    const results: Record<string, unknown>[] = [];
    this.#running.add(id);
    void this.#run(id, input, rows, createdBy, results).catch(async (err) => {
      if (err instanceof Canceled) return await this.#stopped(id, "canceled", rows, results);
      if (err instanceof SourceAwayError) {
        this.log.warn("batch transfer stopped: its source is away", { batch: id });
      } else this.log.error("batch stopped on an error", { batch: id, reason: (err as Error).name });
      results.push({ row: 0, site: "", error: `the batch stopped: ${(err as Error).message}` });
      await this.#stopped(id, "failed", rows, results);
    }).finally(() => this.#running.delete(id));
    return { id, rows: rows.length, badRows: rows.filter((r) => r.error).length };
  }

  /** The start under way (upload's check and insert), which the next one waits for. */
  #starting: Promise<void> = Promise.resolve();

  /** Batches this process runs, and those an operator canceled here (stopped at their next row). */
  readonly #running = new Set<string>();
  readonly #canceled = new Set<string>();

  /**
   * Stops a running batch: `canceled` at once (audited); its run stops at the next row, keeping what it
   * found. Anything else is left as it is and said so (a batch done is not undone).
   */
  async cancel(id: string, actor: string): Promise<{ id: string; status: string }> {
    const b = await this.db.query.batches.findFirst({ where: eq(batches.id, id) });
    if (!b) throw new TransferError(`no batch ${id}`);
    if (b.status !== "running") throw new TransferError(`batch ${id} is ${b.status}, not running`);
    const changed = await this.db.update(batches).set({ status: "canceled", updatedAt: Date.now() })
      .where(and(eq(batches.id, id), eq(batches.status, "running"))).returning({ id: batches.id });
    if (!changed.length) throw new TransferError(`batch ${id} finished meanwhile`);
    await entry(this.db, actor, "batch.cancel", id);
    this.#canceled.add(id);
    this.log.info("batch canceled", { batch: id });
    return { id, status: "canceled" };
  }

  /**
   * Marks `failed` the batches left running by a hub that stopped (no beat for a minute): at start, and
   * from time to time for the other hubs of a cluster.
   */
  async recover(now = Date.now()): Promise<number> {
    const orphans = await this.db.select({ id: batches.id, rows: batches.rows, results: batches.results })
      .from(batches)
      .where(and(eq(batches.status, "running"), lt(batches.updatedAt, now - ORPHAN_MS)));
    for (const o of orphans) {
      if (this.#running.has(o.id)) continue;
      const results = o.results ? JSON.parse(o.results) as Record<string, unknown>[] : [];
      results.push({
        row: 0,
        site: "",
        error: "the batch was interrupted: its hub stopped before it finished; upload the file again",
      });
      await this.db.update(batches).set({
        status: "failed",
        ...resultColumns(JSON.parse(o.rows) as BatchRow[], results),
        updatedAt: now,
      })
        .where(and(eq(batches.id, o.id), eq(batches.status, "running")));
      this.log.warn("batch interrupted by a hub that stopped", { batch: o.id });
    }
    return orphans.length;
  }

  /** Writes a stopped batch's results so far; its status is `status` (canceled: already so). */
  async #stopped(
    id: string,
    status: "canceled" | "failed",
    rows: BatchRow[],
    results: Record<string, unknown>[],
  ) {
    try {
      await this.db.update(batches).set({ status, ...resultColumns(rows, results), updatedAt: Date.now() })
        .where(eq(batches.id, id));
    } catch (err) {
      this.log.error("batch state not recorded", { batch: id, reason: (err as Error).name });
    } finally {
      this.#canceled.delete(id);
    }
  }

  async #run(
    id: string,
    input: BatchInput,
    rows: BatchRow[],
    createdBy: string,
    results: Record<string, unknown>[],
  ): Promise<void> {
    // When the last beat was written, on the monotonic clock (a wall clock step neither skips beats nor
    // writes one at every row); the row's updatedAt, read by other hubs, stays wall-clock time.
    let beatAt = performance.now();
    /** Writes the results so far (the progress, and the beat); stops a batch canceled here or elsewhere. */
    const beat = async (force = false) => {
      if (this.#canceled.has(id)) throw new Canceled();
      if (!force && performance.now() - beatAt < BEAT_MS) return;
      beatAt = performance.now();
      const written = await this.db.update(batches).set({
        ...resultColumns(rows, results),
        updatedAt: Date.now(),
      })
        .where(and(eq(batches.id, id), eq(batches.status, "running"))).returning({ id: batches.id });
      if (!written.length) throw new Canceled(); // canceled through another hub (or recovered)
    };
    // A row's search may take long (a site's C-FIND): the beat goes on meanwhile.
    const timer = setInterval(() => {
      if (performance.now() - beatAt >= BEAT_MS) {
        beatAt = performance.now();
        this.db.update(batches).set({ updatedAt: Date.now() })
          .where(and(eq(batches.id, id), eq(batches.status, "running"))).catch(() => {});
      }
    }, BEAT_MS);
    try {
      await this.#search(id, input, rows, createdBy, results, beat);
    } finally {
      clearInterval(timer);
    }
  }

  async #search(
    id: string,
    input: BatchInput,
    rows: BatchRow[],
    createdBy: string,
    results: Record<string, unknown>[],
    beat: (force?: boolean) => Promise<void>,
  ): Promise<void> {
    const found: string[] = [];
    /** Every study found, in the order of the rows that first found it: the order of the job's tasks. */
    const order = new Set<string>();
    /** Studies found by rows that name a series of them: those series. */
    const someSeries = new Map<string, Set<string>>();
    /** Original Patient ID -> pseudonym, and the row that gave each. */
    const table = new PseudonymTable<number>();
    const applies = input.kind === "transfer" && input.deid !== undefined;
    /** Whether the row's pseudonym applies to a study found, or why not. */
    const pseudonymNote = (row: BatchRow, patientId: string): string | undefined => {
      if (!row.pseudonym) return undefined;
      if (!applies) {
        return input.kind === "transfer"
          ? "pseudonym not applied: the transfer does not de-identify"
          : "pseudonym not applied: a query moves nothing";
      }
      if (!patientId) return "pseudonym not applied: the study has no Patient ID";
      const clash = table.add(patientId, row.pseudonym, row.row);
      if (clash?.kind === "patient") {
        return `pseudonym not applied: row ${clash.where} gives this patient the pseudonym ${clash.pseudonym}`;
      }
      if (clash) {
        return `pseudonym not applied: row ${clash.where} gives the pseudonym ${row.pseudonym} to another patient`;
      }
      return undefined;
    };
    for (const [index, row] of rows.entries()) {
      await beat();
      if (row.error) {
        results.push({ row: row.row, site: "", error: row.error });
        continue;
      }
      let matched = 0;
      for (const site of input.sites) {
        try {
          const backend = await this.provider.backend(site, input.node);
          const keys: Record<string, string> = Object.fromEntries(RESULT_KEYS.map((k) => [k, ""]));
          Object.assign(keys, row.keys);
          for await (
            const ds of backend.qido.search({ level: "STUDY", keys }, AbortSignal.timeout(120_000))
          ) {
            matched++;
            const out: Record<string, unknown> = { row: row.row, site, error: "" };
            for (const k of RESULT_KEYS) out[k] = jsonText(ds, k);
            if (row.series) out.SeriesInstanceUID = row.series;
            if (row.pseudonym) out.Pseudonym = row.pseudonym;
            const note = pseudonymNote(row, String(out.PatientID ?? ""));
            if (note) out.note = note;
            results.push(out);
            const study = String(out.StudyInstanceUID ?? "");
            if (study) order.add(study);
            if (study && row.series) {
              someSeries.set(study, (someSeries.get(study) ?? new Set()).add(row.series));
            } else if (study) found.push(study);
          }
        } catch (err) {
          results.push({ row: row.row, site, error: (err as Error).message });
          if (input.kind === "transfer" && siteAway(err)) {
            this.#sourceAway(site, row, rows.slice(index + 1), results);
          }
        }
      }
      if (matched === 0 && !results.some((r) => r.row === row.row && r.error)) {
        results.push({ row: row.row, site: input.sites.join(" "), error: "no study matches this row" });
      }
    }
    // The last word of an operator who canceled it meanwhile: no transfer then.
    await beat(true);
    let transferId: string | null = null;
    // A study a row finds whole goes whole, even if another row names one of its series.
    const whole = new Set(found);
    const series = [...someSeries].filter(([study]) => !whole.has(study))
      .map(([study, uids]) => ({ study, series: [...uids] }));
    if (input.kind === "transfer" && (whole.size || series.length)) {
      try {
        transferId = (await this.transfers.create({
          source: { site: input.sites[0], ...(input.node ? { node: input.node } : {}) },
          destination: input.destination!,
          ...(whole.size ? { studies: [...whole] } : {}),
          ...(series.length ? { series } : {}),
          studyOrder: [...order],
          ...(input.deid
            ? {
              deid: {
                ...input.deid,
                ...(table.size ? { pseudonyms: Object.fromEntries(table.toMap()) } : {}),
              },
            }
            : {}),
        }, createdBy)).id;
      } catch (err) {
        results.push({
          row: 0,
          site: input.sites[0],
          error: `transfer not created: ${(err as Error).message}`,
        });
      }
    }
    const done = await this.db.update(batches).set({
      status: "done",
      ...resultColumns(rows, results),
      transferId,
      updatedAt: Date.now(),
    }).where(and(eq(batches.id, id), eq(batches.status, "running"))).returning({ id: batches.id });
    // Canceled while its transfer was being made: the transfer is there, and the batch names it.
    if (!done.length && transferId) {
      await this.db.update(batches).set({ transferId }).where(eq(batches.id, id));
    }
    this.log.info("batch done", {
      batch: id,
      rows: rows.length,
      results: results.length,
      transfer: transferId,
    });
  }

  /**
   * The latest batches, the newest first (ties by id), `offset` of them skipped, of those whose every
   * site `reach` allows (all without it): a scoped principal's page is never emptied by others' batches.
   */
  /**
   * A batch transfer's source could not be asked at `row`: every row after it gets one line saying it was not
   * searched (a bad row its own reason), rather than each being searched to fail the same way, and the batch
   * stops (`failed`, no transfer made: upload the file again once the source is back).
   */
  #sourceAway(site: string, row: BatchRow, rest: BatchRow[], results: Record<string, unknown>[]): never {
    const why = `the source site ${site} could not be asked from row ${row.row} on`;
    for (const r of rest) {
      results.push({ row: r.row, site: r.error ? "" : site, error: r.error ?? `not searched: ${why}` });
    }
    throw new SourceAwayError(`${why}; upload the file again once ${site} is back online`);
  }

  async list(limit = 50, offset = 0, reach?: (site: string) => boolean) {
    // A page of the index (batches_created), without their rows and results (megabytes each): without
    // `reach`, exactly the page asked; with it, pages of LIST_CHUNK until the page is full.
    const page = (from: number, n: number) =>
      this.db.select({
        id: batches.id,
        kind: batches.kind,
        filename: batches.filename,
        status: batches.status,
        sites: batches.sites,
        transferId: batches.transferId,
        createdBy: batches.createdBy,
        createdAt: batches.createdAt,
      }).from(batches).orderBy(desc(batches.createdAt), desc(batches.id)).limit(n).offset(from);
    const out: ReturnType<typeof listed>[] = [];
    let skip = reach ? offset : 0;
    const chunk = reach ? LIST_CHUNK : limit;
    for (let from = reach ? 0 : offset;; from += chunk) {
      const rows = await page(from, chunk);
      for (const b of rows.map(listed)) {
        if (reach && ![...b.sites, ...(b.destination ? [b.destination.site] : [])].every(reach)) continue;
        if (skip > 0) {
          skip--;
          continue;
        }
        out.push(b);
        if (out.length >= limit) return out;
      }
      if (rows.length < chunk) return out;
    }
  }

  /**
   * A batch's counts and errors: from its summary alone (neither its rows nor its results are read), or
   * summed from both for a batch from before summaries.
   */
  async status(id: string) {
    const [b] = await this.db.select({
      id: batches.id,
      kind: batches.kind,
      filename: batches.filename,
      status: batches.status,
      sites: batches.sites,
      summary: batches.summary,
      transferId: batches.transferId,
    }).from(batches).where(eq(batches.id, id)).limit(1);
    if (!b) return undefined;
    const where = JSON.parse(b.sites) as { sites: string[]; destination?: Endpoint };
    const summary: BatchSummary = b.summary ? JSON.parse(b.summary) : await this.#summed(id);
    return {
      id: b.id,
      /** Every site the batch searched or moved studies to. */
      sites: [...where.sites, ...(where.destination ? [where.destination.site] : [])],
      kind: b.kind,
      filename: b.filename,
      status: b.status,
      rows: summary.rows,
      /** Rows searched so far (every row searched has at least one result line). */
      rowsDone: summary.rowsDone,
      badRows: summary.badRows,
      /** Studies found, each once: two rows (or a row and its duplicate) finding one study count it once. */
      matches: summary.matches,
      errors: summary.errors,
      transferId: b.transferId,
    };
  }

  /** The summary of a batch from before summaries, from its rows and results. */
  async #summed(id: string): Promise<BatchSummary> {
    const [b] = await this.db.select({ rows: batches.rows, results: batches.results }).from(batches)
      .where(eq(batches.id, id)).limit(1);
    return summarize(JSON.parse(b?.rows ?? "[]"), b?.results ? JSON.parse(b.results) : []);
  }

  /**
   * The results as one CSV or XLSX file, whole (the tRPC procedure's, base64): the CSV built from the results
   * parsed whole, the XLSX gathered from resultsXlsx(). The console downloads both streamed instead.
   */
  async results(id: string, format: "csv" | "xlsx"): Promise<Uint8Array | undefined> {
    const text = await this.#resultsText(id);
    if (text === undefined) return undefined;
    // XLSX: the streamed workbook gathered (still whole in the answer, but never parsed whole to make it).
    if (format === "xlsx") return new Uint8Array(await new Response(resultsXlsx(text)).arrayBuffer());
    return await resultsFile(JSON.parse(text), "csv");
  }

  /**
   * The results as CSV, the same bytes as results(id, "csv"), in pieces written as the results are read
   * (results_csv.ts): what the download route streams. Undefined when the batch has none yet; a SyntaxError
   * when its results cannot be read (before any piece).
   */
  async resultsCsv(id: string): Promise<Iterable<string> | undefined> {
    const text = await this.#resultsText(id);
    return text === undefined ? undefined : resultsCsv(text);
  }

  /**
   * The results as an XLSX workbook, streamed as it is made (results_xlsx.ts): what the download route sends,
   * and what results(id, "xlsx") gathers. Undefined when the batch has none yet; a SyntaxError when its
   * results cannot be read (before any byte).
   */
  async resultsXlsx(id: string): Promise<ReadableStream<Uint8Array> | undefined> {
    const text = await this.#resultsText(id);
    return text === undefined ? undefined : resultsXlsx(text);
  }

  /** The results column alone (not the rows uploaded), as written: JSON text. */
  async #resultsText(id: string): Promise<string | undefined> {
    const [b] = await this.db.select({ results: batches.results }).from(batches).where(eq(batches.id, id))
      .limit(1);
    return b?.results || undefined;
  }
}

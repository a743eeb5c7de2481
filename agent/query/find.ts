/**
 * The C-FIND SCP's backend: matches an identifier against the index and streams one response
 * identifier per match, holding every requested key (empty when we have no value for it).
 */
import { type SQL, sql } from "drizzle-orm";
import { attributeByTag, tagByKeyword } from "@conduit/shared/dicom";
import type { Identifier, QueryHandler, QueryModel } from "../dimse/handlers.ts";
import { DimseStatusError, Status } from "../dimse/handlers.ts";
import type { Database } from "../index/db.ts";
import {
  ATTRIBUTE_BY_KEYWORD,
  type Level,
  levelRank,
  type QueryAttribute,
  UNIQUE_KEYS,
} from "./attributes.ts";
import { identifierText, matchCondition, refuseOverlongKeys } from "./matching.ts";

const PAGE = 500;
/** Pages grow up to this many times the first. */
const MAX_PAGE_GROWTH = 8;
const LEVELS = new Set(["PATIENT", "STUDY", "SERIES", "IMAGE"]);
/** Keys that are part of the identifier's frame, not of matching. */
const FRAME_KEYS = new Set(["QueryRetrieveLevel", "SpecificCharacterSet", "RetrieveAETitle", "_vrMap"]);

export interface FindOptions {
  /** Our AE title, returned as RetrieveAETitle. */
  aet: string;
  /** At most this many matches are sent; a query with more ends with 0xA700 after them. */
  maxResults: number;
}

/** The column an attribute is answered and matched from at `level`: a study's own patient attributes below PATIENT. */
function columnAt(attr: QueryAttribute, level: Level): string {
  return level === "PATIENT" ? attr.column : attr.studyColumn ?? attr.column;
}

/** Runs one query over the index and yields rows of column values keyed by keyword. */
async function* queryIndex(
  db: Database,
  level: Level,
  filters: Record<string, string>,
  returnKeys: string[],
  options: { limit?: number; offset?: number; pageSize?: number } = {},
): AsyncGenerator<Record<string, unknown>> {
  const rank = levelRank(level);
  const conditions: SQL[] = [];
  for (const [keyword, value] of Object.entries(filters)) {
    const attr = ATTRIBUTE_BY_KEYWORD.get(keyword);
    if (!attr || levelRank(attr.level) > rank) continue;
    const cond = matchCondition(sql.raw(columnAt(attr, level)), attr.kind, value, keyword);
    if (cond) conditions.push(cond);
  }
  const columns = returnKeys
    .map((k) => ATTRIBUTE_BY_KEYWORD.get(k))
    .filter((a) => a && levelRank(a.level) <= rank)
    .map((a) => sql.raw(`${columnAt(a!, level)} AS "${a!.keyword}"`));
  if (columns.length === 0) columns.push(sql.raw("1 AS one"));
  const from = {
    PATIENT: sql.raw("patients p"),
    STUDY: sql.raw("studies st JOIN patients p ON p.pk = st.patient_pk"),
    SERIES: sql.raw(
      "series se JOIN studies st ON st.study_instance_uid = se.study_instance_uid JOIN patients p ON p.pk = st.patient_pk",
    ),
    IMAGE: sql.raw(
      "instances i JOIN series se ON se.series_instance_uid = i.series_instance_uid " +
        "JOIN studies st ON st.study_instance_uid = se.study_instance_uid JOIN patients p ON p.pk = st.patient_pk",
    ),
  }[level];
  const order = {
    PATIENT: sql.raw("p.pk"),
    STUDY: sql.raw("st.study_date, st.study_time, st.study_instance_uid"),
    SERIES: sql.raw("st.study_instance_uid, CAST(se.series_number AS INTEGER), se.series_instance_uid"),
    IMAGE: sql.raw("se.series_instance_uid, CAST(i.instance_number AS INTEGER), i.sop_instance_uid"),
  }[level];
  // Instances removed by retention are tombstones: known to the index, no longer held or listed.
  if (level === "IMAGE") conditions.push(sql.raw("i.removed_at IS NULL"));
  const where = conditions.length ? sql`WHERE ${sql.join(conditions, sql` AND `)}` : sql``;
  let pageSize = options.pageSize ?? PAGE;
  const largest = pageSize * MAX_PAGE_GROWTH;
  let offset = options.offset ?? 0;
  let left = options.limit ?? Number.MAX_SAFE_INTEGER;
  for (let first = true; left > 0; first = false) {
    // Each page is the query again: one whose plan sorts its matches (a name's patients, then their studies
    // by date) sorts them all again for every page. Pages after the first double, so that a long answer
    // costs a few sorts rather than one per 500 matches (10 000 matches of `S*` at 300 000 studies: 1.5 s).
    if (!first) pageSize = Math.min(pageSize * 2, largest);
    const take = Math.min(pageSize, left);
    const rows = await db.read.all<Record<string, unknown>>(
      sql`SELECT ${
        sql.join(columns, sql`, `)
      } FROM ${from} ${where} ORDER BY ${order} LIMIT ${take} OFFSET ${offset}`,
    );
    for (const row of rows) yield row;
    if (rows.length < take) return;
    offset += rows.length;
    left -= rows.length;
  }
}

export class IndexQueryHandler implements QueryHandler {
  constructor(private readonly db: Database, private readonly options: FindOptions) {}

  async *find(
    model: QueryModel,
    identifier: Identifier,
    signal: AbortSignal,
    page: { offset?: number } = {},
  ): AsyncIterable<Identifier> {
    const level = identifierText(identifier.QueryRetrieveLevel).toUpperCase() as Level;
    if (!LEVELS.has(level)) {
      throw new DimseStatusError(
        Status.DataSetMismatch,
        `QueryRetrieveLevel ${JSON.stringify(level)} not valid`,
      );
    }
    if (model === "study" && level === "PATIENT") {
      throw new DimseStatusError(Status.DataSetMismatch, "Study Root has no PATIENT level");
    }
    const requested = Object.keys(identifier).filter((k) => !FRAME_KEYS.has(k));
    const filters: Record<string, string> = {};
    for (const k of requested) filters[k] = identifierText(identifier[k]);
    refuseOverlongKeys(filters);
    const returnKeys = [...new Set([...requested, ...UNIQUE_KEYS[level]])];
    const max = this.options.maxResults;
    let n = 0;
    // Objects answered Success before this query match it, although their group commit may be pending.
    await this.db.caughtUp();
    // An offset is the index query's own (one query per page): the skipped matches are never read out, and
    // `max` counts the matches after them, so that a site's matches past `max` can still be paged to.
    const rows = queryIndex(this.db, level, filters, returnKeys, { limit: max + 1, offset: page.offset });
    for await (const row of rows) {
      if (signal.aborted) return;
      if (++n > max) {
        // The SCU gets the first `max` matches, then a failure that says the list is incomplete.
        throw new DimseStatusError(Status.OutOfResources, `more than ${max} matches; refine the query`);
      }
      yield this.#response(level, returnKeys, row, identifier);
    }
  }

  #response(level: Level, keys: string[], row: Record<string, unknown>, identifier: Identifier): Identifier {
    const out: Identifier = { QueryRetrieveLevel: level, RetrieveAETitle: this.options.aet };
    let nonAscii = false;
    for (const k of keys) {
      const attr = ATTRIBUTE_BY_KEYWORD.get(k);
      const value = attr ? row[k] : undefined;
      if (value === undefined || value === null || value === "") {
        // Requested but unknown or empty: returned empty (zero length), as PS3.4 C.2.2.1.2 allows. A
        // sequence's zero length is no items: the library writes "" as one empty item, which would
        // claim an item we do not have.
        out[k] = isSequence(k) ||
            (Array.isArray(identifier[k]) && typeof (identifier[k] as unknown[])[0] === "object")
          ? []
          : "";
        continue;
      }
      const text = String(value);
      if (!isAscii(text)) nonAscii = true;
      if (attr!.kind === "pn") out[k] = [personName(text)];
      else if (attr!.numeric) out[k] = Number(text);
      else if (attr!.multi) out[k] = text.split("\\");
      else out[k] = text;
    }
    if (nonAscii) out.SpecificCharacterSet = "ISO_IR 192";
    return out;
  }
}

/** Whether the dictionary gives `keyword` the VR SQ. */
function isSequence(keyword: string): boolean {
  const tag = tagByKeyword(keyword);
  return tag !== undefined && attributeByTag(tag)?.vr === "SQ";
}

/**
 * A stored name as the library's naturalized form has it, one member per component group: a name
 * written whole into Alphabetic would reach DICOM JSON (QIDO-RS) as one alphabetic group holding `=`.
 */
function personName(text: string): Record<string, string> {
  const [alphabetic, ideographic, phonetic] = text.split("=");
  const pn: Record<string, string> = { Alphabetic: alphabetic };
  if (ideographic) pn.Ideographic = ideographic;
  if (phonetic) pn.Phonetic = phonetic;
  return pn;
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

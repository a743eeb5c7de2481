/**
 * C-FIND matching (PS3.4 C.2.2.2) turned into SQL conditions: single value, universal (empty),
 * wildcard (`*`, `?`), range (dates and times), and UID list matching. Person names match without
 * regard to case (of A-Z), as most archives do.
 */
import { type SQL, sql } from "drizzle-orm";
import { attributeByTag, keyValueTooLong, tagByKeyword } from "@conduit/shared/dicom";
import { DimseStatusError, Status } from "../dimse/handlers.ts";

/** How an attribute's value is matched. */
export type MatchKind = "uid" | "text" | "pn" | "date" | "time" | "code" | "number" | "list";

/** Normalizes a dcmjs naturalized value to the DICOM string form (`a\b`, PN as its alphabetic group). */
export function identifierText(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) return value.map(identifierText).join("\\");
  if (typeof value === "object") {
    const pn = value as { Alphabetic?: string; Ideographic?: string; Phonetic?: string };
    const groups = [pn.Alphabetic ?? "", pn.Ideographic ?? "", pn.Phonetic ?? ""];
    while (groups.length > 1 && groups[groups.length - 1] === "") groups.pop();
    return groups.join("=");
  }
  return String(value).trim();
}

/**
 * Refuses (0xA900, the reason as Error Comment) a key longer than its VR allows (PS3.5 Table 6.2-1): no
 * stored value can match it, and a long wildcard pattern is more than SQLite's GLOB takes.
 * `keys` are keyword -> value as identifierText() gives them.
 */
export function refuseOverlongKeys(keys: Record<string, string>): void {
  for (const [keyword, value] of Object.entries(keys)) {
    const tag = tagByKeyword(keyword);
    const vr = tag === undefined ? undefined : attributeByTag(tag)?.vr;
    const tooLong = vr && keyValueTooLong(keyword, vr, value);
    if (tooLong) throw new DimseStatusError(Status.DataSetMismatch, tooLong);
  }
}

/** Lower case for A-Z only, as SQLite's lower() without ICU. */
function asciiLower(v: string): string {
  return v.replace(/[A-Z]+/g, (c) => c.toLowerCase());
}

function hasWildcard(v: string): boolean {
  return v.includes("*") || v.includes("?");
}

/** SQLite GLOB pattern for a DICOM wildcard value ([ and ] are literal in DICOM). */
function globPattern(v: string): string {
  return v.replace(/[[\]]/g, (c) => `[${c}]`);
}

/**
 * `expr` within the values that begin with `prefix` (SQLite compares text byte by byte, UTF-8 in code point
 * order): undefined without a prefix, or when its last character has no next one.
 */
function prefixRange(expr: SQL, prefix: string): SQL | undefined {
  const chars = Array.from(prefix);
  const last = chars.pop()?.codePointAt(0);
  if (last === undefined || last >= 0x10ffff || (last >= 0xd7ff && last <= 0xdfff)) return undefined;
  const after = chars.join("") + String.fromCodePoint(last + 1);
  return sql`${expr} >= ${prefix} AND ${expr} < ${after}`;
}

/**
 * Person name matching, by component group (PS3.5 6.2.1): each group the key gives (not empty, not `*`) is
 * matched against the same group of the stored name, all of them: `Yamada^Tarou` and `Yamada*` against the
 * alphabetic group (A-Z in either case), `=山田^太郎` against the ideographic group only, `==やまだ*` the
 * phonetic. A stored name lacking a group the key gives does not match. Undefined when no group is given.
 * A key of one group beyond ASCII (`山田*`, `やまだ*`, `김*`: what a user at a Japanese, Korean or Chinese
 * site types) is matched against each group of the stored name, any of them, as dcm4chee does for every key
 * of one group; an ASCII key stays on the alphabetic group, a range of the patients_name_folded index.
 */
function personNameCondition(column: SQL, value: string): SQL | undefined {
  const [alphabetic = "", ideographic = "", phonetic = ""] = value.split("=").map((g) => g.trim());
  const given = (g: string) => g !== "" && g !== "*";
  // SQLite's lower() folds A-Z only: the key is folded the same way, or a name with a capital outside
  // ASCII (Ä, Л, Δ) could never match, not even as stored. The stored side is the expression of the
  // patients_name_folded index, so that both forms of nameGroupCondition are a range of it.
  const alphabeticOf = sql`lower(substr(${column}, 1, instr(${column} || '=', '=') - 1))`;
  // The groups after the first '=': ideographic up to the next '=', phonetic after it (case as stored).
  const rest = sql`substr(${column}, instr(${column} || '=', '=') + 1)`;
  const ideographicOf = sql`substr(${rest}, 1, instr(${rest} || '=', '=') - 1)`;
  const phoneticOf = sql`substr(${rest}, instr(${rest} || '=', '=') + 1)`;
  if (!value.includes("=") && given(alphabetic) && /[\u0080-\uffff]/.test(alphabetic)) {
    const any = [
      nameGroupCondition(alphabeticOf, asciiLower(alphabetic)),
      nameGroupCondition(ideographicOf, alphabetic),
      nameGroupCondition(phoneticOf, alphabetic),
    ];
    return sql`(${sql.join(any, sql` OR `)})`;
  }
  const conds: SQL[] = [];
  if (given(alphabetic)) conds.push(nameGroupCondition(alphabeticOf, asciiLower(alphabetic)));
  if (given(ideographic)) conds.push(nameGroupCondition(ideographicOf, ideographic));
  if (given(phonetic)) conds.push(nameGroupCondition(phoneticOf, phonetic));
  if (conds.length === 0) return undefined;
  return conds.length === 1 ? conds[0] : sql`(${sql.join(conds, sql` AND `)})`;
}

/** One component group of a stored name against the key's: wildcard, or exact with trailing '^' ignored. */
function nameGroupCondition(stored: SQL, key: string): SQL {
  if (hasWildcard(key)) {
    const glob = sql`${stored} GLOB ${globPattern(key)}`;
    const range = prefixRange(stored, key.slice(0, key.search(/[*?]/)));
    return range ? sql`(${range} AND ${glob})` : glob;
  }
  // The name, or the name and empty trailing components ('^' sorts just before '_').
  const bare = key.replace(/\^+$/, "");
  return sql`(${stored} >= ${bare} AND ${stored} < ${bare + "_"} AND rtrim(${stored}, '^') = ${bare})`;
}

/**
 * A condition on `column` for a matching key value; undefined when the key matches everything. Throws
 * DimseStatusError (0xA900, naming `keyword`) for a value its kind cannot match (a number key that is none).
 */
export function matchCondition(column: SQL, kind: MatchKind, raw: string, keyword?: string): SQL | undefined {
  const value = raw.trim();
  if (value === "" || value === "*") return undefined;
  switch (kind) {
    case "uid": {
      const uids = value.split("\\").map((u) => u.trim()).filter(Boolean);
      if (uids.length === 0) return undefined; // only separators (`\`, a QIDO `,`): as empty, universal
      if (uids.length === 1) return sql`${column} = ${uids[0]}`;
      return sql`${column} IN (${sql.join(uids.map((u) => sql`${u}`), sql`, `)})`;
    }
    case "date":
      return dateCondition(column, value);
    case "time":
      return timeCondition(column, value);
    case "pn":
      return personNameCondition(column, value);
    case "list": {
      // Value in a backslash-separated list column (ModalitiesInStudy): any of the asked values.
      const wanted = value.split("\\").map((v) => v.trim()).filter(Boolean);
      if (wanted.length === 0) return undefined;
      const parts = wanted.map((w) =>
        hasWildcard(w)
          ? sql`('\\' || ${column} || '\\') GLOB ${"*\\" + globPattern(w) + "\\*"}`
          : sql`instr('\\' || ${column} || '\\', ${"\\" + w + "\\"}) > 0`
      );
      return parts.length === 1 ? parts[0] : sql`(${sql.join(parts, sql` OR `)})`;
    }
    case "number": {
      // Single value matching (PS3.4 C.2.2.2.1; no wildcards for IS, DS and the binary VRs), or a list.
      const values = value.split("\\").map((v) => v.trim()).filter(Boolean);
      const bad = values.find((v) => !Number.isFinite(Number(v)));
      if (bad !== undefined) {
        throw new DimseStatusError(
          Status.DataSetMismatch,
          `${keyword ?? "a key"}: ${JSON.stringify(bad)} is not a number`,
        );
      }
      if (values.length === 0) return undefined;
      const parts = values.map((v) => sql`CAST(${column} AS REAL) = ${Number(v)}`);
      return parts.length === 1 ? parts[0] : sql`(${sql.join(parts, sql` OR `)})`;
    }
    default: {
      const values = kind === "code" ? value.split("\\").map((v) => v.trim()).filter(Boolean) : [value];
      if (values.length === 0) return undefined;
      const parts = values.map((v) =>
        hasWildcard(v) ? sql`${column} GLOB ${globPattern(v)}` : sql`${column} = ${v}`
      );
      return parts.length === 1 ? parts[0] : sql`(${sql.join(parts, sql` OR `)})`;
    }
  }
}

/**
 * A time (HHMMSS.FFFFFF, any precision, `:` of the old form allowed) as the first and last instants
 * it names, each 12 digits: `0727` is 072700000000 to 072759999999 (PS3.5 6.2 TM).
 */
function timeBounds(v: string): [first: string, last: string] {
  const digits = v.replace(/[:.]/g, "").slice(0, 12);
  return [digits.padEnd(12, "0"), digits + LAST_INSTANT.slice(digits.length)];
}
const LAST_INSTANT = "235959999999";

/** timeBounds() in SQL, for a stored column. */
function storedTimeBounds(column: SQL): [first: SQL, last: SQL] {
  const digits = sql`replace(replace(${column}, ':', ''), '.', '')`;
  return [
    sql`substr(${digits} || '000000000000', 1, 12)`,
    sql`substr(${digits} || substr(${LAST_INSTANT}, length(${digits}) + 1), 1, 12)`,
  ];
}

/**
 * Time matching (PS3.4 C.2.2.2.5): times are compared as the intervals they name, so a value of
 * lower precision, stored or asked, covers all of its interval. One value matches a stored time whose
 * interval meets its own (`072730.000` matches `072730`, `10` matches `1030`); a range matches one
 * that meets `[first of a, last of b]` (`072700-` matches `0727`).
 */
function timeCondition(column: SQL, value: string): SQL {
  const [storedFirst, storedLast] = storedTimeBounds(column);
  const parts = value.split("\\").map((v) => {
    const dash = v.indexOf("-");
    const lo = (dash < 0 ? v : v.slice(0, dash)).trim();
    const hi = (dash < 0 ? v : v.slice(dash + 1)).trim();
    const conds: SQL[] = [sql`${column} <> ''`];
    if (lo) conds.push(sql`${storedLast} >= ${timeBounds(lo)[0]}`);
    if (hi) conds.push(sql`${storedFirst} <= ${timeBounds(hi)[1]}`);
    return sql`(${sql.join(conds, sql` AND `)})`;
  });
  return parts.length === 1 ? parts[0] : sql`(${sql.join(parts, sql` OR `)})`;
}

/** Date (YYYYMMDD) range matching: `a-b`, `a-`, `-b`, or one value. */
function dateCondition(column: SQL, value: string): SQL | undefined {
  const norm = (v: string) => v.replace(/[.-]/g, "").trim();
  const values = value.split("\\");
  const parts: SQL[] = [];
  for (const v of values) {
    const dash = v.indexOf("-");
    if (dash < 0) {
      parts.push(sql`${column} = ${norm(v)}`);
      continue;
    }
    const lo = norm(v.slice(0, dash));
    const hi = norm(v.slice(dash + 1));
    const conds: SQL[] = [sql`${column} <> ''`];
    if (lo) conds.push(sql`${column} >= ${lo}`);
    if (hi) conds.push(sql`${column} <= ${hi}`);
    parts.push(sql`(${sql.join(conds, sql` AND `)})`);
  }
  return parts.length === 1 ? parts[0] : sql`(${sql.join(parts, sql` OR `)})`;
}

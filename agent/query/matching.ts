/**
 * C-FIND matching (PS3.4 C.2.2.2) turned into SQL conditions: single value, universal (empty),
 * wildcard (`*`, `?`), range (dates and times), and UID list matching. Person names match without
 * regard to case (of A-Z), as most archives do.
 */
import { type SQL, sql } from "drizzle-orm";

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

/** A condition on `column` for a matching key value; undefined when the key matches everything. */
export function matchCondition(column: SQL, kind: MatchKind, raw: string): SQL | undefined {
  const value = raw.trim();
  if (value === "" || value === "*") return undefined;
  switch (kind) {
    case "uid": {
      const uids = value.split("\\").map((u) => u.trim()).filter(Boolean);
      if (uids.length === 1) return sql`${column} = ${uids[0]}`;
      return sql`${column} IN (${sql.join(uids.map((u) => sql`${u}`), sql`, `)})`;
    }
    case "date":
    case "time":
      return rangeCondition(column, kind, value);
    case "pn": {
      // A name with only the alphabetic group queried; trailing '^' components may be absent.
      // SQLite's lower() folds A-Z only: the query is folded the same way, or a name with a capital
      // outside ASCII (Ä, Л, Δ) could never match, not even as stored.
      const alpha = asciiLower(value.split("=")[0]);
      // ... matched against the stored name's alphabetic group: Yamada^Tarou=山田^太郎 is Yamada^Tarou.
      const stored = sql`lower(substr(${column}, 1, instr(${column} || '=', '=') - 1))`;
      if (hasWildcard(alpha)) return sql`${stored} GLOB ${globPattern(alpha)}`;
      const bare = alpha.replace(/\^+$/, "");
      return sql`(${stored} = ${bare} OR rtrim(${stored}, '^') = ${bare})`;
    }
    case "list": {
      // Value in a backslash-separated list column (ModalitiesInStudy): any of the asked values.
      const wanted = value.split("\\").map((v) => v.trim()).filter(Boolean);
      const parts = wanted.map((w) =>
        hasWildcard(w)
          ? sql`('\\' || ${column} || '\\') GLOB ${"*\\" + globPattern(w) + "\\*"}`
          : sql`instr('\\' || ${column} || '\\', ${"\\" + w + "\\"}) > 0`
      );
      return parts.length === 1 ? parts[0] : sql`(${sql.join(parts, sql` OR `)})`;
    }
    case "number":
      return sql`CAST(${column} AS REAL) = ${Number(value)}`;
    default: {
      const values = kind === "code" ? value.split("\\").map((v) => v.trim()).filter(Boolean) : [value];
      const parts = values.map((v) =>
        hasWildcard(v) ? sql`${column} GLOB ${globPattern(v)}` : sql`${column} = ${v}`
      );
      return parts.length === 1 ? parts[0] : sql`(${sql.join(parts, sql` OR `)})`;
    }
  }
}

/** Date (YYYYMMDD) and time (HHMMSS.ffffff) range matching: `a-b`, `a-`, `-b`, or one value. */
function rangeCondition(column: SQL, kind: "date" | "time", value: string): SQL | undefined {
  const norm = (v: string) => kind === "date" ? v.replace(/[.-]/g, "").trim() : v.replace(/:/g, "").trim();
  const values = value.split("\\");
  const parts: SQL[] = [];
  for (const v of values) {
    const dash = v.indexOf("-");
    if (dash < 0) {
      const single = norm(v);
      if (kind === "time") parts.push(sql`substr(${column}, 1, ${single.length}) = ${single}`);
      else parts.push(sql`${column} = ${single}`);
      continue;
    }
    const lo = norm(v.slice(0, dash));
    const hi = norm(v.slice(dash + 1));
    const conds: SQL[] = [sql`${column} <> ''`];
    if (lo) conds.push(sql`${column} >= ${lo}`);
    if (hi) {
      // inclusive upper bound, whatever precision the stored value has
      conds.push(
        kind === "time" ? sql`substr(${column}, 1, ${hi.length}) <= ${hi}` : sql`${column} <= ${hi}`,
      );
    }
    parts.push(sql`(${sql.join(conds, sql` AND `)})`);
  }
  return parts.length === 1 ? parts[0] : sql`(${sql.join(parts, sql` OR `)})`;
}

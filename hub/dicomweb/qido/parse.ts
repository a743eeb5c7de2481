/**
 * QIDO-RS parameters (PS3.18 8.3.4 and 10.6): attribute matching, `includefield`, `fuzzymatching`,
 * `limit` and `offset`, and the attributes each level returns (PS3.18 Tables 10.6.3-3 to -5). The
 * matching itself is C-FIND's (PS3.4 C.2.2.2): single value, `*` and `?` wildcards, `a-b` ranges on
 * dates and times, and lists of UIDs or code strings (comma-separated in QIDO, backslash-separated in
 * C-FIND). Date and time values (./dates.ts) and numbers (./numbers.ts) are checked here: a bad one is
 * refused with the reason, and so is a value longer than its VR allows (PS3.5 Table 6.2-1: a PN component
 * group 64 characters, LO 64, UI 64 bytes...).
 */
import { attributeByTag, keyValueTooLong, resolveTag } from "@conduit/shared/dicom";
import type { QidoLevel, QidoQuery } from "../services.ts";
import { checkDateMatch } from "./dates.ts";
import { checkNumberMatch } from "./numbers.ts";

export class QidoParameterError extends Error {
  override name = "QidoParameterError";
}

/** What each level returns by default (the PS3.18 required return attributes we can answer). */
export const DEFAULT_KEYS: Record<QidoLevel, string[]> = {
  STUDY: [
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ModalitiesInStudy",
    "ReferringPhysicianName",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
  ],
  SERIES: [
    "StudyInstanceUID",
    "Modality",
    "SeriesDescription",
    "SeriesInstanceUID",
    "SeriesNumber",
    "NumberOfSeriesRelatedInstances",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
  ],
  IMAGE: [
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
  ],
};

/** What `includefield=all` adds: the upper levels' attributes too. */
const ALL_KEYS: Record<QidoLevel, string[]> = {
  STUDY: [...DEFAULT_KEYS.STUDY, "InstitutionName", "PatientAge"],
  SERIES: [...DEFAULT_KEYS.STUDY, ...DEFAULT_KEYS.SERIES, "BodyPartExamined"],
  IMAGE: [...DEFAULT_KEYS.STUDY, ...DEFAULT_KEYS.SERIES, ...DEFAULT_KEYS.IMAGE],
};

export interface ParsedQido {
  query: QidoQuery;
  limit?: number;
  offset: number;
  fuzzymatching: boolean;
  /** The `limit` asked for when it was above MAX_LIMIT (and cut to it). */
  limitAsked?: number;
  /**
   * Tags given that the dictionary does not name (private ones, say): not matched on, nor returned, since
   * neither a site's index nor a C-FIND key can be made of them. The route names them in a `Warning`.
   */
  unknownTags: string[];
}

/** The most matches one QIDO-RS answer holds; `offset` pages past it. */
export const MAX_LIMIT = 10_000;

/** The keyword of a parameter's attribute, or undefined for a tag (`00091001`) the dictionary does not name. */
function keywordOf(name: string): string | undefined {
  const tag = resolveTag(name);
  if (tag === undefined) throw new QidoParameterError(`${name} is not a DICOM keyword or tag`);
  return attributeByTag(tag)?.keyword;
}

/**
 * The largest `offset` (as tRPC's pages): past it no archive holds a match, and a larger number is no integer
 * a site's index query takes (until 2026-12-06 `offset=99999999999999999999` reached the site and came back
 * 502, `datatype mismatch`).
 */
export const MAX_OFFSET = 1_000_000_000;

function integer(name: string, value: string, min: number, max = Infinity): number {
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new QidoParameterError(
      `${name} must be an integer of at least ${min}, not ${JSON.stringify(value)}`,
    );
  }
  if (Number(value) > max) {
    throw new QidoParameterError(`${name} must be at most ${max}, not ${value}`);
  }
  return Number(value);
}

const UID = /^[0-9]+(\.[0-9]+)*$/;

/**
 * A UID matching value (PS3.4 C.2.2.2.2): one UID or a list of them (by commas, or C-FIND's backslash as
 * the typed client's filters may send: `1.2\1.3`; an empty item is passed over, as the site does). Wildcards
 * and ranges are not UID matching, so `1.2.3,abc` or `1.2.*` could only match nothing. Empty (asked back) and
 * a lone `*` (universal matching) are fine. Returns the reason it is refused, or undefined.
 */
function checkUidMatch(vr: string, value: string): string | undefined {
  const v = value.trim();
  if (vr !== "UI" || v === "" || v === "*") return undefined;
  const uids = v.split(/[,\\]/).map((u) => u.trim()).filter(Boolean);
  if (!uids.length) return `${JSON.stringify(value)} names no UID`;
  const bad = uids.find((u) => !UID.test(u));
  if (bad === undefined) return undefined;
  return `${JSON.stringify(bad)} is not a UID (digits separated by dots; a list of UIDs is comma-separated)`;
}

/**
 * A control parameter (`limit`, `offset`, `fuzzymatching`) given twice must say the same: the answer
 * cannot follow both.
 */
function once(seen: Map<string, string>, name: string, value: string): void {
  const before = seen.get(name);
  if (before !== undefined && before !== value) {
    throw new QidoParameterError(
      `${name} is given twice with different values (${JSON.stringify(before)}, ${JSON.stringify(value)})`,
    );
  }
  seen.set(name, value);
}

/** Reads the query string of a QIDO request at `level`, with the UIDs its path fixes. */
export function parseQido(
  params: URLSearchParams,
  level: QidoLevel,
  fixed: { StudyInstanceUID?: string; SeriesInstanceUID?: string },
): ParsedQido {
  const keys: Record<string, string> = {};
  // PS3.18 10.6.3.3 (Tables 10.6.3-4, -5): a search not scoped to a study also returns each match's study
  // attributes, one not scoped to a series its series' (until 2026-12-07 `/series` gave no patient name).
  const upper: QidoLevel[] = level === "SERIES" && !fixed.StudyInstanceUID ? ["STUDY"] : level === "IMAGE"
    ? [
      ...(fixed.StudyInstanceUID ? [] : ["STUDY" as const]),
      ...(fixed.SeriesInstanceUID ? [] : ["SERIES" as const]),
    ]
    : [];
  for (const l of [...upper, level]) for (const k of DEFAULT_KEYS[l]) keys[k] = "";
  let limit: number | undefined;
  let limitAsked: number | undefined;
  let offset = 0;
  let fuzzymatching = false;
  /** The matching keys given, by keyword (a key given twice must agree, or list UIDs or codes). */
  const given = new Map<string, string>();
  const unknownTags = new Set<string>();
  const controls = new Map<string, string>();
  /** The keyword of `name`, or undefined (and `name` noted) for a tag the dictionary does not name. */
  const known = (name: string) => {
    const keyword = keywordOf(name);
    if (!keyword) unknownTags.add(name.toUpperCase());
    return keyword;
  };
  for (const [name, value] of params) {
    switch (name) {
      case "limit":
        once(controls, name, value);
        limit = integer(name, value, 1);
        if (limit > MAX_LIMIT) [limitAsked, limit] = [limit, MAX_LIMIT];
        break;
      case "offset":
        once(controls, name, value);
        offset = integer(name, value, 0, MAX_OFFSET);
        break;
      case "accept":
        // Content negotiation (PS3.18 8.3.3.1), the route's: not an attribute to match.
        break;
      case "fuzzymatching":
        once(controls, name, value);
        if (value !== "true" && value !== "false") {
          throw new QidoParameterError("fuzzymatching must be true or false");
        }
        fuzzymatching = value === "true";
        break;
      case "includefield":
        for (const field of value.split(",").map((s) => s.trim()).filter(Boolean)) {
          if (field === "all") { for (const k of ALL_KEYS[level]) keys[k] ??= ""; }
          else {
            const keyword = known(field);
            if (keyword) keys[keyword] ??= "";
          }
        }
        break;
      default: {
        if (name.includes(".")) {
          throw new QidoParameterError(`${name}: matching on attributes inside sequences is not supported`);
        }
        const keyword = known(name);
        if (!keyword) break;
        const vr = attributeByTag(resolveTag(keyword)!)?.vr;
        const refused = checkDateMatch(vr ?? "", value) ?? checkNumberMatch(vr ?? "", value);
        if (refused) throw new QidoParameterError(`${name}: ${refused}`);
        // A comma lists values (any of them matches) where no value can hold one: UIDs and code strings.
        const listed = vr === "UI" || vr === "CS";
        const notUid = checkUidMatch(vr ?? "", value);
        if (notUid) throw new QidoParameterError(`${name}: ${notUid}`);
        let match = listed ? value.split(",").map((s) => s.trim()).join("\\") : value;
        const tooLong = keyValueTooLong(name, vr ?? "", match);
        if (tooLong) throw new QidoParameterError(`${tooLong} (PS3.5 Table 6.2-1)`);
        const before = given.get(keyword);
        if (before && match && before !== match) {
          // Given twice (`Modality=CT&Modality=MR`, or by keyword and by tag): for UIDs and codes any
          // of the values matches, as with a comma; other values cannot be combined into one match.
          if (!listed) {
            throw new QidoParameterError(
              `${keyword} is given twice with different values: a query matches one value per attribute`,
            );
          }
          match = [...new Set([...before.split("\\"), ...match.split("\\")])].join("\\");
        }
        if (match || !before) given.set(keyword, match);
        keys[keyword] = given.get(keyword)!;
      }
    }
  }
  if (fixed.StudyInstanceUID) keys.StudyInstanceUID = fixed.StudyInstanceUID;
  if (fixed.SeriesInstanceUID) keys.SeriesInstanceUID = fixed.SeriesInstanceUID;
  return {
    query: { level, keys, limit: limit === undefined ? undefined : limit + offset },
    limit,
    offset,
    fuzzymatching,
    ...(limitAsked ? { limitAsked } : {}),
    unknownTags: [...unknownTags],
  };
}

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

function integer(name: string, value: string, min: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min) {
    throw new QidoParameterError(
      `${name} must be an integer of at least ${min}, not ${JSON.stringify(value)}`,
    );
  }
  return Number(value);
}

/** Reads the query string of a QIDO request at `level`, with the UIDs its path fixes. */
export function parseQido(
  params: URLSearchParams,
  level: QidoLevel,
  fixed: { StudyInstanceUID?: string; SeriesInstanceUID?: string },
): ParsedQido {
  const keys: Record<string, string> = {};
  for (const k of DEFAULT_KEYS[level]) keys[k] = "";
  let limit: number | undefined;
  let limitAsked: number | undefined;
  let offset = 0;
  let fuzzymatching = false;
  /** The matching keys given, by keyword (a key given twice must agree, or list UIDs or codes). */
  const given = new Map<string, string>();
  const unknownTags = new Set<string>();
  /** The keyword of `name`, or undefined (and `name` noted) for a tag the dictionary does not name. */
  const known = (name: string) => {
    const keyword = keywordOf(name);
    if (!keyword) unknownTags.add(name.toUpperCase());
    return keyword;
  };
  for (const [name, value] of params) {
    switch (name) {
      case "limit":
        limit = integer(name, value, 1);
        if (limit > MAX_LIMIT) [limitAsked, limit] = [limit, MAX_LIMIT];
        break;
      case "offset":
        offset = integer(name, value, 0);
        break;
      case "accept":
        // Content negotiation (PS3.18 8.3.3.1), the route's: not an attribute to match.
        break;
      case "fuzzymatching":
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

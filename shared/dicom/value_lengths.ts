/**
 * The longest value each string VR may hold (PS3.5 6.2, Table 6.2-1), for matching keys: a C-FIND or
 * QIDO-RS key longer than its VR allows is a bad request, refused before it reaches a query (a 50 000
 * character wildcard pattern is more than SQLite's GLOB takes, and more than any stored value can be).
 */

/** Per value: `bytes` for the VRs of a default repertoire, `characters` for the others. */
const MAX: Record<string, { max: number; unit: "bytes" | "characters" }> = {
  AE: { max: 16, unit: "bytes" },
  AS: { max: 4, unit: "bytes" },
  CS: { max: 16, unit: "bytes" },
  DA: { max: 8, unit: "bytes" },
  DS: { max: 16, unit: "bytes" },
  DT: { max: 26, unit: "bytes" },
  IS: { max: 12, unit: "bytes" },
  LO: { max: 64, unit: "characters" },
  LT: { max: 10240, unit: "characters" },
  PN: { max: 64, unit: "characters" },
  SH: { max: 16, unit: "characters" },
  ST: { max: 1024, unit: "characters" },
  TM: { max: 14, unit: "bytes" },
  UI: { max: 64, unit: "bytes" },
};

/** In a query with range matching (`a-b`), PS3.5 Table 6.2-1 allows these for DA, DT and TM. */
const RANGE_MAX: Record<string, number> = { DA: 18, DT: 54, TM: 28 };

/** VRs whose value is one text, where a backslash is a character, not a separator. */
const SINGLE = new Set(["LT", "ST"]);

const encoder = new TextEncoder();

function length(text: string, unit: "bytes" | "characters"): number {
  if (unit === "bytes") return encoder.encode(text).length;
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * Why `value`, a matching key of `keyword` with VR `vr`, is longer than PS3.5 allows, or undefined when it
 * is not (and for VRs without a limit: UC, UR, UT, binary ones). The reason names the key and the limit in
 * under 64 characters for most keywords, so it fits an Error Comment (LO): `PatientName: longer than the
 * 64 characters a PN component group allows`. Wildcards count as characters, as they do in the value.
 */
export function keyValueTooLong(keyword: string, vr: string, value: string): string | undefined {
  const limit = MAX[vr];
  if (!limit || value.length === 0) return undefined;
  // Cheap first: no value this short can be too long (a UTF-16 unit is at most 3 bytes of UTF-8).
  if (value.length * (limit.unit === "bytes" ? 3 : 1) <= limit.max) return undefined;
  const values = SINGLE.has(vr) ? [value] : value.split("\\");
  for (const written of values) {
    // A date of the form before DICOM 3.0 (`yyyy.mm.dd`, PS3.5 Table 6.2-1) is matched without its dots.
    const v = vr === "DA" ? written.replace(/\./g, "") : written;
    if (vr === "PN") {
      if (v.split("=").some((group) => length(group, limit.unit) > limit.max)) {
        return `${keyword}: longer than the ${limit.max} ${limit.unit} a PN component group allows`;
      }
      continue;
    }
    const range = RANGE_MAX[vr];
    if (range !== undefined && v.includes("-")) {
      if (length(v, limit.unit) > range) {
        return `${keyword}: longer than the ${range} bytes a ${vr} range allows`;
      }
      continue;
    }
    if (length(v, limit.unit) > limit.max) {
      return `${keyword}: longer than the ${limit.max} ${limit.unit} ${vr} allows`;
    }
  }
  return undefined;
}

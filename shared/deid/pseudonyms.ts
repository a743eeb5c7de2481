/**
 * Keyed pseudonyms for de-identification (issue 4): HMAC-SHA-256 with a project key, so the same
 * input and key give the same output across series, studies, transfers, restarts and sites, and
 * without the key the mapping cannot be recomputed or reversed. No I/O here; keys come from the
 * caller.
 */
import { hmacSha256 } from "./hmac.ts";

/** The purposes keep the mappings apart: a UID and a patient ID with the same text map differently. */
type Purpose = "uid" | "patient-id" | "patient-name" | "accession" | "date-shift" | "label";

function hmac(key: Uint8Array, purpose: Purpose, value: string): Uint8Array {
  return hmacSha256(key, `${purpose}\u0000${value}`);
}

/**
 * A UID's pseudonym: `2.25.` and the decimal of the first 128 bits of the keyed hash (PS3.5 B.2), at
 * most 44 characters. Surrounding padding is ignored, so `1.2.3` and `1.2.3\0` map alike.
 */
export function pseudonymizeUid(key: Uint8Array, uid: string): string {
  const h = hmac(key, "uid", uid.replace(/[\0 ]+$/, "").trim());
  let hex = "0x";
  for (let i = 0; i < 16; i++) hex += (h[i] < 16 ? "0" : "") + h[i].toString(16);
  const n = BigInt(hex);
  return `2.25.${n.toString(10)}`;
}

/** A Patient ID's pseudonym: 16 upper-case base-32 characters (fits LO, no PHI left). */
export function pseudonymizePatientId(key: Uint8Array, patientId: string): string {
  return base32(hmac(key, "patient-id", patientId.trim()).subarray(0, 10));
}

/** A Patient Name's pseudonym, `<prefix>^<10 characters>` (derived from the Patient ID, not the name). */
export function pseudonymizePatientName(key: Uint8Array, patientId: string, prefix = "ANON"): string {
  return `${prefix}^${base32(hmac(key, "patient-name", patientId.trim()).subarray(0, 7)).slice(0, 10)}`;
}

/** An Accession Number's pseudonym: 16 characters (SH allows 16). */
export function pseudonymizeAccession(key: Uint8Array, accession: string): string {
  return base32(hmac(key, "accession", accession.trim()).subarray(0, 10));
}

/**
 * A label's pseudonym (an AE title, a station or network name kept under Retain Device Identity): `D`
 * and 15 base-32 characters, short enough for an AE title, the same for the same label under one key.
 */
export function pseudonymizeLabel(key: Uint8Array, label: string): string {
  return `D${base32(hmac(key, "label", label.trim()).subarray(0, 10)).slice(0, 15)}`;
}

/**
 * A per-patient date shift in whole days, in [-maxDays, -minDays] (always back in time, never zero when
 * minDays ≥ 1), the same for every object of the patient under one key.
 */
export function dateShiftDays(key: Uint8Array, patientId: string, minDays = 1, maxDays = 365): number {
  if (!(minDays >= 0 && maxDays >= minDays)) {
    throw new RangeError(`bad date shift range ${minDays}..${maxDays}`);
  }
  const h = hmac(key, "date-shift", patientId.trim());
  const span = maxDays - minDays + 1;
  const first = ((h[0] << 24) | (h[1] << 16) | (h[2] << 8) | h[3]) >>> 0;
  return -(minDays + (first % span));
}

/** `y`-`m`-`d` moved by `days`, or undefined when it is no calendar date or leaves years 1-9999. */
function shiftedDay(y: number, m: number, d: number, days: number): Date | undefined {
  // setUTCFullYear, not Date.UTC, which reads years 0-99 as 1900-1999; a day that rolls over (20240231 into
  // March) is no date.
  const day = new Date(0);
  const t = day.setUTCFullYear(y, m - 1, d);
  if (
    Number.isNaN(t) || day.getUTCFullYear() !== y || day.getUTCMonth() !== m - 1 || day.getUTCDate() !== d
  ) {
    return undefined;
  }
  const shifted = new Date(t + days * 86_400_000);
  const year = shifted.getUTCFullYear();
  return year >= 1 && year <= 9999 ? shifted : undefined;
}

/**
 * A DA value with each of its dates moved by whole days (Retain Longitudinal Temporal Information with
 * Modified Dates), each in its own form: `YYYYMMDD`, the `YYYY.MM.DD` of ACR-NEMA files, or the `YYYY-MM-DD`
 * some systems write although PS3.5 does not allow it. Undefined when a value is none of these (nor empty):
 * the caller gives a dummy rather than let a date it cannot move out as it came (QA 2026-12-07: `2024-04-01`
 * left unshifted in an object marked MODIFIED).
 */
export function shiftedDate(value: string, days: number): string | undefined {
  const out: string[] = [];
  for (const raw of value.split("\\")) {
    const v = raw.trim();
    if (v === "") {
      out.push("");
      continue;
    }
    const m = /^(\d{4})([.-]?)(\d{2})\2(\d{2})$/.exec(v);
    const shifted = m && shiftedDay(Number(m[1]), Number(m[3]), Number(m[4]), days);
    if (!m || !shifted) return undefined;
    const iso = shifted.toISOString().slice(0, 10); // YYYY-MM-DD
    out.push(m[2] === "-" ? iso : iso.replace(/-/g, m[2]));
  }
  return out.join("\\");
}

/**
 * A DT value moved by whole days at its own precision (PS3.5 allows `YYYY`, `YYYYMM`, `YYYYMMDD`, then the
 * time): a reduced one is moved from its first day (`202404` by -240 days is `202308`); the time, fraction and
 * offset from UTC stay. Undefined when it is not a date-time (nor empty).
 */
export function shiftedDateTime(value: string, days: number): string | undefined {
  const v = value.trim();
  if (v === "") return "";
  const m = /^(\d{4})(\d{2})?(\d{2})?((?:\d{2}(?:\d{2}(?:\d{2}(?:\.\d{1,6})?)?)?)?)([+-]\d{4})?$/.exec(v);
  if (!m || (m[4] && !m[3])) return undefined;
  const shifted = shiftedDay(Number(m[1]), Number(m[2] ?? "01"), Number(m[3] ?? "01"), days);
  if (!shifted) return undefined;
  const ymd = shifted.toISOString().slice(0, 10).replace(/-/g, "");
  const precision = m[3] ? 8 : m[2] ? 6 : 4;
  return ymd.slice(0, precision) + m[4] + (m[5] ?? "");
}

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

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

/** Shifts a DA value (YYYYMMDD, or a range/list of them) by whole days; other forms are returned as they are. */
export function shiftDate(value: string, days: number): string {
  // YYYYMMDD, and the YYYY.MM.DD of ACR-NEMA files (kept in its own form).
  return value.replace(/\b(\d{4})(\.?)(\d{2})\2(\d{2})\b/g, (all, y, dot, m, d) => {
    const t = Date.UTC(Number(y), Number(m) - 1, Number(d));
    if (Number.isNaN(t)) return all;
    const shifted = new Date(t + days * 86_400_000);
    if (shifted.getUTCFullYear() < 1 || shifted.getUTCFullYear() > 9999) return all;
    return shifted.toISOString().slice(0, 10).replace(/-/g, dot);
  });
}

/** Shifts the date part of a DT value (YYYYMMDD[HHMMSS[.F]][&ZZXX]); the time and offset stay. */
export function shiftDateTime(value: string, days: number): string {
  return value.replace(/^(\d{8})/, (date) => shiftDate(date, days));
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

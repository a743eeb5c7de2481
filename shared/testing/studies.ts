/**
 * Deterministic patients, studies, series and instances for the generator, and the keyed UIDs and
 * picks they are made of.
 */
import type { GenerateStudiesOptions, InstanceSpec } from "./spec.ts";

/** Four independent 32-bit lanes of a multiply-rotate hash with a murmur3 finalizer: 128 bits. */
function hash128(key: string): bigint {
  const seeds = [0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f];
  const lanes = seeds.map((s) => s ^ key.length);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    for (let l = 0; l < 4; l++) {
      let h = lanes[l] ^ Math.imul(c + l + 1, 0xcc9e2d51);
      h = (h << 13) | (h >>> 19);
      lanes[l] = (Math.imul(h, 5) + 0xe6546b64 + l) | 0;
    }
  }
  // cross the lanes so every output bit depends on all of them
  let [a, b, c, d] = lanes;
  for (let round = 0; round < 2; round++) {
    a = fmix32(a ^ d);
    b = fmix32(b ^ a);
    c = fmix32(c ^ b);
    d = fmix32(d ^ c);
  }
  return [a, b, c, d].reduce((acc, v) => (acc << 32n) | BigInt(v >>> 0), 0n);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/**
 * A `2.25.<decimal>` UID (at most 44 characters) that is a pure function of `key`. The 128-bit integer
 * is a version 8 (custom) RFC 9562 UUID, as PS3.5 B.2 expects of 2.25 UIDs.
 */
export function uidFromKey(key: string): string {
  let n = hash128(key);
  n = (n & ~(0xfn << 76n)) | (0x8n << 76n); // version 8
  n = (n & ~(0x3n << 62n)) | (0x2n << 62n); // RFC variant
  return `2.25.${n}`;
}

/** A deterministic integer in [0, n) for a key. */
function pick(key: string, n: number): number {
  return Number(hash128(key) % BigInt(n));
}

const FAMILY = [
  "DOE",
  "ROE",
  "SMITH",
  "MILLER",
  "MUSTERMANN",
  "DUPONT",
  "ROSSI",
  "NOVAK",
  "KOWALSKI",
  "JANSEN",
  "SILVA",
  "TANAKA",
  "NGUYEN",
  "OKAFOR",
  "LARSEN",
  "BROWN",
];
const GIVEN_F = ["JANE", "MARY", "ANNA", "ERIKA", "SOFIA", "MARIE", "LENA", "EMMA", "CLARA", "IDA"];
const GIVEN_M = ["JOHN", "RICHARD", "MAX", "PAUL", "LUCA", "JAN", "OSKAR", "KARL", "TOM", "HUGO"];
const CT_SERIES = ["AXIAL 1.25MM", "THORAX NATIVE", "ABDOMEN PV", "SOFT TISSUE"];
const MR_SERIES = ["T1 SE AX", "T2 TSE AX", "FLAIR AX", "PD SE AX"];
const PHYSICIANS = ["HOUSE^GREGORY", "GREY^MEREDITH", "KILDARE^JAMES", "QUINN^MICHAELA"];

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** YYYYMMDD of a day count since 1970-01-01 (UTC, so independent of the time zone). */
function dateOfDay(day: number): string {
  const d = new Date(day * 86_400_000);
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}`;
}

function timeOfSeconds(s: number): string {
  return `${pad(Math.floor(s / 3600), 2)}${pad(Math.floor(s / 60) % 60, 2)}${pad(s % 60, 2)}`;
}

function checkCount(name: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) throw new RangeError(`${name} must be an integer >= ${min}: ${n}`);
}

/**
 * Deterministic patients, studies, series and instances: the same options give the same specs (UIDs,
 * names, IDs `PAT0001`…, dates, accession numbers). Instances come patient by patient, study by study,
 * series by series, lazily, so huge collections cost no memory.
 */
export function* generateStudies(opts: GenerateStudiesOptions): Generator<InstanceSpec, void, undefined> {
  checkCount("patients", opts.patients, 0);
  checkCount("studiesPerPatient", opts.studiesPerPatient, 0);
  opts.series.forEach((s, i) => checkCount(`series[${i}].instances`, s.instances, 0));
  const seed = opts.seed;
  const epoch2020 = Date.UTC(2020, 0, 1) / 86_400_000;
  for (let p = 0; p < opts.patients; p++) {
    const pk = `${seed}/patient/${p}`;
    const sex = pick(`${pk}/sex`, 2) === 0 ? "F" : "M";
    const given = sex === "F" ? GIVEN_F : GIVEN_M;
    const middle = pick(`${pk}/middle`, 4) === 0
      ? `^${String.fromCharCode(65 + pick(`${pk}/initial`, 26))}`
      : "";
    const patientName = `${FAMILY[pick(`${pk}/family`, FAMILY.length)]}^${
      given[pick(`${pk}/given`, given.length)]
    }${middle}`;
    const patientId = `PAT${pad(p + 1, 4)}`;
    // born 1935..2004
    const patientBirthDate = dateOfDay(Date.UTC(1935, 0, 1) / 86_400_000 + pick(`${pk}/birth`, 70 * 365));
    for (let s = 0; s < opts.studiesPerPatient; s++) {
      const sk = `${pk}/study/${s}`;
      const studyInstanceUid = uidFromKey(sk);
      const studyDay = epoch2020 + pick(`${sk}/date`, 5 * 365);
      const studyDate = dateOfDay(studyDay);
      const studySeconds = 7 * 3600 + pick(`${sk}/time`, 10 * 3600);
      const accessionNumber = `ACC${pad(p * opts.studiesPerPatient + s + 1, 7)}`;
      const modalities = [...new Set(opts.series.map((x) => x.modality))].join("/");
      const studyDescription = `${modalities} ${s % 2 === 0 ? "ROUTINE" : "FOLLOW-UP"}`;
      const referringPhysicianName = PHYSICIANS[pick(`${sk}/physician`, PHYSICIANS.length)];
      for (let k = 0; k < opts.series.length; k++) {
        const series = opts.series[k];
        const ck = `${sk}/series/${k}`;
        const seriesInstanceUid = uidFromKey(ck);
        const frameOfReferenceUid = uidFromKey(`${ck}/frame-of-reference`);
        const names = series.modality === "CT" ? CT_SERIES : MR_SERIES;
        const seriesTime = timeOfSeconds(Math.min(studySeconds + 300 * k, 86_399));
        for (let i = 0; i < series.instances; i++) {
          yield {
            modality: series.modality,
            patientName,
            patientId,
            patientBirthDate,
            patientSex: sex,
            studyInstanceUid,
            studyDate,
            studyTime: timeOfSeconds(studySeconds),
            studyId: pad(s + 1, 4),
            accessionNumber,
            studyDescription,
            referringPhysicianName,
            seriesInstanceUid,
            seriesNumber: k + 1,
            seriesDescription: names[k % names.length],
            seriesDate: studyDate,
            seriesTime,
            bodyPartExamined: series.modality === "CT" ? "CHEST" : "HEAD",
            frameOfReferenceUid,
            sopInstanceUid: uidFromKey(`${ck}/instance/${i}`),
            instanceNumber: i + 1,
            rows: opts.rows,
            columns: opts.columns,
          };
        }
      }
    }
  }
}

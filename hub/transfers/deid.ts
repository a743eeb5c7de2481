/**
 * De-identification at a transfer's source, as the hub sees it: it checks the request, keeps it with the
 * job (profile, options, burned-in policy) and hands it to the source with each study's send. The key
 * never comes here: each site de-identifies with its own (`deid.keyFile` in its agent configuration). A
 * per-patient pseudonym table (a batch's Pseudonym column, or the API caller's) travels with the sends
 * and is dropped from the job once every study has reached its source, which keeps it with the queue
 * rows; the job then holds only the pseudonymous identifiers the source reports back.
 */
import {
  type DeidOption,
  MAX_CUSTOM_PROFILE,
  optionsProblem,
  type TransferDeidRequest,
  trialProblem,
} from "@conduit/shared/deid";
import { parseProfile, ProfileError } from "@conduit/shared/deid/profile-file";
import type { TransferRow, TransferTaskRow } from "../db/schema.ts";
import type { DetailOf } from "@conduit/shared/tunnel";

/** The most pseudonyms one transfer carries (each send request must fit one tunnel record). */
const MAX_PSEUDONYMS = 5000;

/** What a job shows of its de-identification. */
export interface DeidView {
  profile: "basic";
  options: DeidOption[];
  allowBurnedIn: boolean;
  /** How many patients the pseudonym table named, when one was given. */
  pseudonyms?: number;
  /** The custom profile, as given (a profile file's object). */
  custom?: Record<string, unknown>;
  /** The Clinical Trial attributes set on every object. */
  clinicalTrial?: TransferDeidRequest["clinicalTrial"];
}

/** The name a transfer's custom profile is checked under when it names none (errors do not quote it). */
const CUSTOM = "transfer custom profile";

/** Whether a request asks what only an agent naming `transfer-deid-custom` understands. */
export function needsCustomFeature(deid: TransferDeidRequest | undefined): boolean {
  return Boolean(deid?.custom || deid?.clinicalTrial);
}

/** What the job row keeps (JSON in transfers.deid). */
interface Stored extends TransferDeidRequest {
  options: DeidOption[];
  /** Entries in the table given, kept after the table itself is dropped. */
  pseudonymCount?: number;
}

/** Checks a transfer's de-identification request; returns a sentence saying what is wrong, if anything. */
export function deidProblem(deid: TransferDeidRequest): string | undefined {
  if (deid.profile !== "basic") {
    return `unknown de-identification profile ${
      JSON.stringify(deid.profile)
    }: the profile is "basic" (PS3.15 E.1)`;
  }
  let customOptions: string[] = [];
  if (deid.custom !== undefined) {
    const size = JSON.stringify(deid.custom).length;
    if (size > MAX_CUSTOM_PROFILE) {
      return `the custom profile is ${size} characters of JSON; a transfer takes at most ${MAX_CUSTOM_PROFILE}`;
    }
    try {
      customOptions = parseProfile(deid.custom, CUSTOM).options;
    } catch (err) {
      if (err instanceof ProfileError) return `custom profile: ${err.message}`;
      throw err;
    }
  }
  const problem = optionsProblem([...customOptions, ...(deid.options ?? [])]);
  if (problem) {
    return deid.custom && customOptions.length ? `custom profile and options: ${problem}` : problem;
  }
  if (deid.clinicalTrial) {
    const trial = trialProblem(deid.clinicalTrial as Record<string, unknown>);
    if (trial) return trial;
  }
  const entries = Object.entries(deid.pseudonyms ?? {});
  if (entries.length > MAX_PSEUDONYMS) {
    return `the pseudonym table names ${entries.length} patients; one transfer takes at most ${MAX_PSEUDONYMS}`;
  }
  const bad = entries.find(([id, p]) => !id.trim() || !p.trim() || p.length > 64 || id.length > 64);
  if (bad) {
    return `the pseudonym table's entry for ${JSON.stringify(bad[0])} is empty or longer than 64 characters`;
  }
  const patients = new Map<string, number>();
  for (const [, p] of entries) patients.set(p, (patients.get(p) ?? 0) + 1);
  const shared = [...patients].find(([, n]) => n > 1);
  if (shared) {
    return `the pseudonym table gives the pseudonym ${JSON.stringify(shared[0])} to ${shared[1]} patients: ` +
      "each patient needs their own (the destination would take them for one patient)";
  }
  return undefined;
}

/** What a valid custom profile holds, for the console to confirm it (`transfers.checkDeid`). */
export interface CustomSummary {
  name: string;
  method?: string;
  /** Entries of its `actions`. */
  entries: number;
  options: string[];
}

/** The summary of a custom profile `deidProblem` accepted. */
export function customSummary(custom: Record<string, unknown>): CustomSummary {
  const { options, layer } = parseProfile(custom, CUSTOM);
  return {
    name: layer.name,
    ...(layer.method !== undefined ? { method: layer.method } : {}),
    entries: Object.keys((custom.actions ?? {}) as Record<string, unknown>).length,
    options,
  };
}

/** The JSON the job row keeps. */
export function storedDeid(deid: TransferDeidRequest): string {
  const n = Object.keys(deid.pseudonyms ?? {}).length;
  const stored: Stored = {
    profile: "basic",
    options: [...(deid.options ?? [])],
    allowBurnedIn: deid.allowBurnedIn ?? false,
    ...(n ? { pseudonyms: deid.pseudonyms, pseudonymCount: n } : {}),
    ...(deid.custom ? { custom: deid.custom } : {}),
    ...(deid.clinicalTrial ? { clinicalTrial: deid.clinicalTrial } : {}),
  };
  return JSON.stringify(stored);
}

function parse(t: TransferRow): Stored | undefined {
  return t.deid ? JSON.parse(t.deid) as Stored : undefined;
}

/** The `deid` of a study's send request, or undefined for a job without de-identification. */
export function sendDeid(t: TransferRow): TransferDeidRequest | undefined {
  const d = parse(t);
  if (!d) return undefined;
  return {
    profile: "basic",
    ...(d.options.length ? { options: d.options } : {}),
    ...(d.allowBurnedIn ? { allowBurnedIn: true } : {}),
    ...(d.pseudonyms ? { pseudonyms: d.pseudonyms } : {}),
    ...(d.custom ? { custom: d.custom } : {}),
    ...(d.clinicalTrial ? { clinicalTrial: d.clinicalTrial } : {}),
  };
}

/** The job's de-identification as the API shows it (no pseudonym table, only its size). */
export function deidView(t: TransferRow): DeidView | undefined {
  const d = parse(t);
  if (!d) return undefined;
  return {
    profile: "basic",
    options: d.options,
    allowBurnedIn: d.allowBurnedIn ?? false,
    ...(d.pseudonymCount ? { pseudonyms: d.pseudonymCount } : {}),
    ...(d.custom ? { custom: d.custom } : {}),
    ...(d.clinicalTrial ? { clinicalTrial: d.clinicalTrial } : {}),
  };
}

/**
 * The job's `deid` without its pseudonym table, once every study has reached its source (each has an
 * object count: `someNotAtSource` false); undefined while the table is still needed or already gone.
 */
export function withoutTable(t: TransferRow, someNotAtSource: boolean): string | undefined {
  const d = parse(t);
  if (!d?.pseudonyms || someNotAtSource) return undefined;
  const { pseudonyms: _, ...rest } = d;
  return JSON.stringify(rest);
}

/** A task's pseudonymous identifiers as the API shows them, once the source has reported them. */
export function pseudonymized(
  k: TransferTaskRow,
): { patientId: string; patientName: string; studyInstanceUid: string } | undefined {
  if (k.pseudoStudyInstanceUid === null) return undefined;
  return {
    patientId: k.pseudoPatientId ?? "",
    patientName: k.pseudoPatientName ?? "",
    studyInstanceUid: k.pseudoStudyInstanceUid,
  };
}

/** The identifiers in a source's progress report, if it sent well-formed ones. */
export function reportedIdentifiers(
  p: DetailOf<"progress">,
): { patientId: string; patientName: string; studyInstanceUid: string } | undefined {
  const ids = p.identifiers;
  if (!ids) return undefined;
  return {
    patientId: ids.patientId.slice(0, 64),
    patientName: ids.patientName.slice(0, 64),
    studyInstanceUid: ids.studyInstanceUid.slice(0, 64),
  };
}

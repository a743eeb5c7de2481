/**
 * The names of the PS3.15 de-identification options as the API, the console and the agent's configuration
 * spell them (the Table E.1-1 column titles in kebab case), with their titles, for the hub and the console,
 * which do not load the agent's profile. tests/deid/options_test.ts checks this list against the profile
 * generated from the standard's table, so the two cannot drift apart.
 */

/** The options, in the standard's column order. */
export const DEID_OPTIONS = [
  "retain-safe-private",
  "retain-uids",
  "retain-device-identity",
  "retain-institution-identity",
  "retain-patient-characteristics",
  "retain-long-full-dates",
  "retain-long-modified-dates",
  "clean-descriptors",
  "clean-structured-content",
  "clean-graphics",
] as const;

export type DeidOption = (typeof DEID_OPTIONS)[number];

/** Each option's title in PS3.15 Table E.1-1. */
export const DEID_OPTION_TITLES: Record<DeidOption, string> = {
  "retain-safe-private": "Retain Safe Private Option",
  "retain-uids": "Retain UIDs Option",
  "retain-device-identity": "Retain Device Identity Option",
  "retain-institution-identity": "Retain Institution Identity Option",
  "retain-patient-characteristics": "Retain Patient Characteristics Option",
  "retain-long-full-dates": "Retain Longitudinal Temporal Information with Full Dates Option",
  "retain-long-modified-dates": "Retain Longitudinal Temporal Information with Modified Dates Option",
  "clean-descriptors": "Clean Descriptors Option",
  "clean-structured-content": "Clean Structured Content Option",
  "clean-graphics": "Clean Graphics Option",
};

/** A sentence saying why a set of options cannot be used, or undefined when it can. */
export function optionsProblem(options: readonly string[]): string | undefined {
  const unknown = options.find((o) => !(DEID_OPTIONS as readonly string[]).includes(o));
  if (unknown !== undefined) {
    return `unknown de-identification option ${JSON.stringify(unknown)}; the options are ${
      DEID_OPTIONS.join(", ")
    }`;
  }
  if (options.includes("retain-long-full-dates") && options.includes("retain-long-modified-dates")) {
    return "retain-long-full-dates and retain-long-modified-dates exclude each other (PS3.15 E.3.6)";
  }
  return undefined;
}

export { TRIAL_ATTRIBUTES, type TrialAttributes, type TrialKey, trialProblem } from "./trial.ts";
export { type PseudonymClash, pseudonymProblem, PseudonymTable } from "./pseudonym_value.ts";
import type { TrialAttributes } from "./trial.ts";

/** The most characters of a transfer's custom profile, as JSON (it travels in each study's send request). */
export const MAX_CUSTOM_PROFILE = 64 * 1024;

/** What a transfer asks of its source's de-identification (the key stays at the source). */
export interface TransferDeidRequest {
  profile: "basic";
  options?: DeidOption[];
  /** Let objects that may carry burned-in text through (held back at the source otherwise). */
  allowBurnedIn?: boolean;
  /** Original Patient ID -> pseudonym (Patient ID and Patient Name become it), e.g. a batch's column. */
  pseudonyms?: Record<string, string>;
  /**
   * A custom profile, the object a profile file holds (`{ name?, method?, options?, shiftDates?, actions }`,
   * `shared/deid/profile_file.ts`), layered on the Basic profile at the source. Only to a source agent that
   * names the `transfer-deid-custom` feature.
   */
  custom?: Record<string, unknown>;
  /** Clinical Trial attributes set on every object (Subject ID: the pseudonymous Patient ID). */
  clinicalTrial?: Omit<TrialAttributes, "subjectId">;
}

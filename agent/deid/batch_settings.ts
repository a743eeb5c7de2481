/**
 * What a batch of de-identifications shares, in a form that crosses to a worker (plain data: no Maps,
 * no functions): the options, a custom layer, the key, a pseudonym table and the request flags.
 */
import type { DeidRequest, TrialAttributes } from "./engine.ts";
import { type Action, type CustomLayer, standardProfile } from "./profile.ts";

export interface BatchSettings {
  options: string[];
  custom?: {
    name: string;
    method?: string;
    actions: [number, Action][];
    values?: [number, string][];
    ranges?: CustomLayer["ranges"];
    privateActions?: CustomLayer["privateActions"];
    shiftDates?: CustomLayer["shiftDates"];
  };
  key: Uint8Array;
  pseudonyms?: [string, string][];
  patientNamePrefix?: string;
  allowBurnedIn?: boolean;
  trial?: TrialAttributes;
  sync?: boolean;
}

/** Turns settings into a request (builds the profile; throws ProfileError on bad options). */
export function requestOf(s: BatchSettings): DeidRequest {
  const custom = s.custom
    ? { ...s.custom, actions: new Map(s.custom.actions), values: new Map(s.custom.values ?? []) }
    : undefined;
  return {
    key: s.key,
    profile: standardProfile(s.options, custom),
    pseudonyms: s.pseudonyms ? new Map(s.pseudonyms) : undefined,
    patientNamePrefix: s.patientNamePrefix,
    allowBurnedIn: s.allowBurnedIn,
    trial: s.trial,
    sync: s.sync,
  };
}

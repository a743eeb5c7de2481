/**
 * The PS3.15 profile table (profile.ts: the generated table, indexed at load, about 1 MB of memory) is
 * loaded when a route or a transfer first needs it, not with every agent (issue 16: an idle agent from
 * source). Code that builds profiles synchronously (route compilation, the stage's settings) runs after
 * {@link loadProfile} resolved and reaches the module through {@link loadedProfile}.
 */
import type * as Profile from "./profile.ts";
import { loadPart } from "../lazy_part.ts";

let loaded: typeof Profile | undefined;

/** Loads the profile module once; later calls resolve at once. */
export async function loadProfile(): Promise<typeof Profile> {
  return loaded ??= await loadPart("deid/profile");
}

/** The profile module once {@link loadProfile} has resolved; throws before, naming the mistake. */
export function loadedProfile(): typeof Profile {
  if (!loaded) throw new Error("the de-identification profile table is used before loadProfile() resolved");
  return loaded;
}

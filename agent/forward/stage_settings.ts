/**
 * Where the de-identification stage finds a route's settings: a configured route's from the
 * configuration in force (compiled at start, and again by a reload on SIGHUP), a transfer's from what its send request left at this site
 * (deid_routes), always with this site's key, which never leaves it.
 */
import type { DeidProfile } from "../deid/profile.ts";
import { loadedProfile } from "../deid/load_profile.ts";
import type { CompiledRoute } from "../routing/rules.ts";
import { isTransferRoute } from "../queue/keys.ts";
import type { Copies } from "../queue/copies.ts";
import type { StageSettings } from "./deid_stage.ts";

/** Why a transfer cannot be de-identified at a site without a key. */
export const NO_KEY =
  "this site has no de-identification key: set deid.keyFile in its agent configuration (the same file at " +
  "every site whose pseudonyms must agree)";

const CACHE_LIMIT = 1000;

/** The name of a transfer's custom profile that names none (in De-identification Method). */
export const TRANSFER_PROFILE = "transfer custom profile";

/**
 * Builds the stage's settings lookup. `routes`: the compiled routes in force; `siteKey`: the key of
 * `deid.keyFile`, when configured.
 */
export function stageSettings(
  routes: () => CompiledRoute[],
  copies: Copies,
  siteKey: Uint8Array | undefined,
): (route: string) => StageSettings | string {
  let compiled: CompiledRoute[] | undefined;
  let configured = new Map<string, StageSettings>();
  const configuredNow = () => {
    if (compiled === routes()) return configured;
    compiled = routes();
    configured = new Map();
    for (const r of compiled) {
      if (!r.deid) continue;
      configured.set(r.name, {
        profile: r.deid.profile,
        key: r.deid.key,
        allowBurnedIn: r.deid.allowBurnedIn,
        destinations: r.destinations,
      });
    }
    return configured;
  };
  const transfers = new Map<string, StageSettings>();
  const profiles = new Map<string, DeidProfile>();
  return (route) => {
    const own = configuredNow().get(route) ?? transfers.get(route);
    if (own) return own;
    if (!isTransferRoute(route)) {
      return `the route ${route} does not de-identify in the configuration now; replay its rows once it does`;
    }
    const asked = copies.transfer(route);
    if (!asked) return "the transfer's de-identification request is not recorded at this site";
    if (!siteKey) return NO_KEY;
    let profile: DeidProfile;
    try {
      // A custom profile's own options first, as `deid --profile-file` takes them.
      const custom = asked.custom ? loadedProfile().parseProfile(asked.custom, TRANSFER_PROFILE) : undefined;
      const options = [...(custom?.options ?? []), ...asked.options];
      const name = JSON.stringify([options, asked.custom ?? null]);
      profile = profiles.get(name) ?? loadedProfile().standardProfile(options, custom?.layer);
      if (profiles.size >= CACHE_LIMIT) profiles.clear();
      profiles.set(name, profile);
    } catch (err) {
      return (err as Error).message;
    }
    const settings: StageSettings = {
      profile,
      key: siteKey,
      allowBurnedIn: asked.allowBurnedIn,
      ...(asked.pseudonyms ? { pseudonyms: new Map(Object.entries(asked.pseudonyms)) } : {}),
      ...(asked.clinicalTrial ? { trial: asked.clinicalTrial } : {}),
      destinations: asked.destinations,
    };
    if (transfers.size >= CACHE_LIMIT) transfers.clear();
    transfers.set(route, settings);
    return settings;
  };
}

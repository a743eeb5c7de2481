/**
 * What the hub's configuration file read again (SIGHUP) changes: the keys a running hub takes at once
 * (`log.level`, `dicomweb.cors.origins`, `dicomweb.cors.maxAgeSeconds`, `tunnel.relays`,
 * `dicomweb.maxStowMegabytes`, `dicomweb.stowIdleSeconds`) and those it takes only at its next start (every other one: its address and
 * port, the data directory, the database, TLS file paths, heartbeats...). Pure: hub/reload.ts applies it.
 */
import { differing, sameValue } from "@conduit/shared/config-diff";
import type { HubConfig } from "./config.ts";

/** The keys a reload applies; every other one takes effect at the next restart. */
export const HUB_RELOADABLE = [
  "log.level",
  "dicomweb.cors.origins",
  "dicomweb.cors.maxAgeSeconds",
  "tunnel.relays",
  "dicomweb.maxStowMegabytes",
  "dicomweb.stowIdleSeconds",
] as const;

export type HubReloadable = typeof HUB_RELOADABLE[number];

/** What a file read again changes, against the configuration in force. */
export interface HubConfigChanges {
  /** The reloadable keys whose value differs, in the order of {@link HUB_RELOADABLE}. */
  applied: HubReloadable[];
  /** Keys (dotted, sorted) the file changes that a reload does not apply: they wait for a restart. */
  atRestart: string[];
}

const valueOf = (c: HubConfig, key: HubReloadable): unknown =>
  key.split(".").reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], c);

/** The configuration without its reloadable keys: what only a restart applies. */
export function restartOnly(c: HubConfig) {
  return {
    ...c,
    log: { ...c.log, level: undefined },
    dicomweb: { ...c.dicomweb, cors: undefined, maxStowMegabytes: undefined, stowIdleSeconds: undefined },
    tunnel: { ...c.tunnel, relays: undefined },
  };
}

/** What `next` (the file read again, validated) changes against `current` (the configuration in force). */
export function hubConfigChanges(current: HubConfig, next: HubConfig): HubConfigChanges {
  return {
    applied: HUB_RELOADABLE.filter((key) => !sameValue(valueOf(current, key), valueOf(next, key))),
    atRestart: differing(restartOnly(current), restartOnly(next), "", 2).sort(),
  };
}

/**
 * The hub's configuration file read again on SIGHUP (docs/operations.md, "Changing the hub's settings
 * without a restart"): with the loader and checks of the start (flags and CONDUIT_HUB_* variables still
 * win), then `log.level`, `dicomweb.cors.*`, `tunnel.relays`, `dicomweb.maxStowMegabytes` and
 * `dicomweb.stowIdleSeconds` replaced at once (an upload in progress keeps the idle bound it started with), everything else kept until the next restart. A file that does not load or validate changes nothing.
 * One log line per outcome; keys, origins and site names only (no PHI).
 */
import type { Logger } from "@conduit/shared/log";
import type { HubConfig } from "./config.ts";
import type { RestartNotices } from "@conduit/shared/config-diff";
import { hubConfigChanges, restartOnly } from "./config_reload.ts";

/** The messages of a reload: docs/operations.md quotes them. */
export const HUB_CONFIG_RELOAD_MESSAGES = {
  reloaded: "configuration reloaded: the next requests and relays take its settings",
  unchanged:
    "configuration reloaded: log.level, dicomweb.cors, tunnel.relays, dicomweb.maxStowMegabytes and dicomweb.stowIdleSeconds are as they were",
  kept: "configuration not reloaded: the hub keeps the one it had",
  atRestart: "configuration changed in the file, takes effect at the next restart",
  noFile: "configuration not reloaded: the hub was started without a configuration file, none to read again",
} as const;

/** The parts of a running hub a reload changes. */
export interface HubReloadTarget {
  /** The configuration in force: its reloadable keys are replaced in place. */
  config: HubConfig;
  /** Lines from now on are written from this level up, by every part of the hub. */
  setLogLevel(level: HubConfig["log"]["level"]): void;
  /** The next preflight and response under /dicomweb answer with these. */
  setCors(cors: HubConfig["dicomweb"]["cors"]): void;
  /** The next relay is judged by this policy (undefined: any enrolled site to any other). */
  setRelays(relays: HubConfig["tunnel"]["relays"]): void;
  /** The next STOW-RS request is held to this. */
  setMaxStowMegabytes(megabytes: number): void;
  /** The next STOW-RS request is dropped (408) when its client sends nothing this long; those under way keep theirs. */
  setStowIdleSeconds(seconds: number): void;
  /** What the earlier reloads said waits for a restart: said once per change, not at every SIGHUP. */
  restartNotices: RestartNotices;
}

/**
 * Reads the file again (`load`, which throws ConfigError on a bad one) and applies what a running hub can.
 * True when the file's reloadable settings are in force afterwards.
 */
export function reloadHubConfig(hub: HubReloadTarget, load: () => HubConfig, log: Logger): boolean {
  const current = hub.config;
  let next: HubConfig;
  try {
    next = load();
  } catch (err) {
    if ((err as Error).name !== "ConfigError") throw err;
    log.error(HUB_CONFIG_RELOAD_MESSAGES.kept, { reason: (err as Error).message });
    return false;
  }
  const changes = hubConfigChanges(current, next);
  const waiting = hub.restartNotices.toSay(changes.atRestart, restartOnly(next));
  if (waiting.length) log.warn(HUB_CONFIG_RELOAD_MESSAGES.atRestart, { settings: waiting });
  if (!changes.applied.length) {
    log.info(HUB_CONFIG_RELOAD_MESSAGES.unchanged);
    return true;
  }
  const applied = new Set(changes.applied);
  // One turn of the event loop: no request or relay sees half of it.
  if (applied.has("dicomweb.cors.origins") || applied.has("dicomweb.cors.maxAgeSeconds")) {
    current.dicomweb.cors = next.dicomweb.cors;
    hub.setCors(next.dicomweb.cors);
  }
  if (applied.has("tunnel.relays")) {
    current.tunnel.relays = next.tunnel.relays;
    hub.setRelays(next.tunnel.relays);
  }
  if (applied.has("dicomweb.maxStowMegabytes")) {
    current.dicomweb.maxStowMegabytes = next.dicomweb.maxStowMegabytes;
    hub.setMaxStowMegabytes(next.dicomweb.maxStowMegabytes);
  }
  if (applied.has("dicomweb.stowIdleSeconds")) {
    current.dicomweb.stowIdleSeconds = next.dicomweb.stowIdleSeconds;
    hub.setStowIdleSeconds(next.dicomweb.stowIdleSeconds);
  }
  log.info(HUB_CONFIG_RELOAD_MESSAGES.reloaded, {
    settings: changes.applied,
    ...(applied.has("log.level") ? { logLevel: next.log.level } : {}),
    ...(applied.has("dicomweb.cors.origins") ? { corsOrigins: next.dicomweb.cors.origins } : {}),
    ...(applied.has("dicomweb.cors.maxAgeSeconds")
      ? { corsMaxAgeSeconds: next.dicomweb.cors.maxAgeSeconds }
      : {}),
    ...(applied.has("tunnel.relays") ? { relays: next.tunnel.relays ?? "any" } : {}),
    ...(applied.has("dicomweb.maxStowMegabytes") ? { maxStowMegabytes: next.dicomweb.maxStowMegabytes } : {}),
    ...(applied.has("dicomweb.stowIdleSeconds") ? { stowIdleSeconds: next.dicomweb.stowIdleSeconds } : {}),
  });
  // Last, so that the line saying so is written whatever the new level.
  if (applied.has("log.level")) {
    current.log.level = next.log.level;
    hub.setLogLevel(next.log.level);
  }
  return true;
}

/**
 * The configuration file read again on SIGHUP (docs/operations.md, "Changing nodes and routes without a
 * restart"): with the loader and checks of the start, then `nodes`, `routes`, `dimse.allowedCallingAets` and
 * `log.level` replaced at once, everything else kept until the next restart. A file that does not load or check
 * changes nothing. One log line per outcome; node names, AE titles and route names only (no PHI).
 */
import { refusedCommitmentNodes, refusedCommitmentText } from "./config/shared_aets.ts";
import type { Logger } from "@conduit/shared/log";
import type { AgentConfig } from "./config/schema.ts";
import type { RestartNotices } from "@conduit/shared/config-diff";
import { applies, type ConfigChanges, configChanges, restartOnly } from "./config/reload.ts";
import { nodeTlsMaterial } from "./config/tls_files.ts";
import { type CompiledRoute, compileRoutes } from "./routing/rules.ts";
import { loadProfile } from "./deid/load_profile.ts";

/** The messages of a reload: docs/operations.md quotes them. */
export const CONFIG_RELOAD_MESSAGES = {
  reloaded:
    "configuration reloaded: objects received from now on take its routes, new associations its nodes",
  unchanged: "configuration reloaded: nodes, routes, dimse.allowedCallingAets and log.level are as they were",
  kept: "configuration not reloaded: the agent keeps the one it had",
  atRestart: "configuration changed in the file, takes effect at the next restart",
} as const;

/** The parts of a running agent a reload changes. */
export interface Reloadable {
  /**
   * The configuration in force, shared by every part of the agent: its `nodes`, `routes` and
   * `dimse.allowedCallingAets` are replaced in place, in one turn of the event loop.
   */
  config: AgentConfig;
  /** Loads what the nodes of `next` need and the agent has not loaded (Storage Commitment requests). */
  prepare(next: { nodes: AgentConfig["nodes"] }): Promise<void>;
  /** Objects received from now on take these routes (ingest, the de-identification stage). */
  replaceRoutes(routes: CompiledRoute[]): void;
  /** Association requests from now on are checked against these. */
  replaceAllowedCallingAets(aets: string[]): void;
  /** Lines from now on are written from this level up, by every part of the agent. */
  setLogLevel(level: AgentConfig["log"]["level"]): void;
  /** These destinations' workers give way to new ones that read the nodes in force. */
  reconfigureDestinations(changed: string[]): void;
  /** What the earlier reloads said waits for a restart: said once per change, not at every SIGHUP. */
  restartNotices: RestartNotices;
}

/** The names of the routes whose settings differ, or that came or went. */
function changedRoutes(current: AgentConfig, next: AgentConfig): string[] {
  const before = new Map(current.routes.map((r) => [r.name, JSON.stringify(r)]));
  const after = new Map(next.routes.map((r) => [r.name, JSON.stringify(r)]));
  return [...new Set([...before.keys(), ...after.keys()])]
    .filter((name) => before.get(name) !== after.get(name)).sort();
}

/** Logs the keys that wait for a restart, those an earlier reload has not said with the same value. */
function sayAtRestart(notices: RestartNotices, waiting: string[], next: AgentConfig, log: Logger): void {
  const settings = notices.toSay(waiting, restartOnly(next));
  if (settings.length) log.warn(CONFIG_RELOAD_MESSAGES.atRestart, { settings });
}

/**
 * Reads the file again (`load`, which throws ConfigError on a bad one), checks what changed as the start
 * would (routes compiled against the nodes they name, the TLS files of nodes added or changed), and applies
 * it. True when the file's nodes, routes and allowed calling AE titles are in force afterwards.
 */
export async function reloadConfig(
  agent: Reloadable,
  load: () => AgentConfig,
  log: Logger,
): Promise<boolean> {
  const current = agent.config;
  let next: AgentConfig;
  let changes: ConfigChanges;
  let routes: CompiledRoute[];
  try {
    next = load();
    changes = configChanges(current, next);
    if (!applies(changes)) {
      sayAtRestart(agent.restartNotices, changes.atRestart, next, log);
      log.info(CONFIG_RELOAD_MESSAGES.unchanged);
      return true;
    }
    // Checked as at start, against what is in force for every key a reload does not change (hub.url, deid).
    const candidate: AgentConfig = { ...current, nodes: changes.nextNodes, routes: next.routes };
    if (candidate.routes.some((r) => r.deid)) await loadProfile();
    routes = compileRoutes(candidate);
    for (const name of [...changes.nodes.added, ...changes.nodes.changed]) {
      nodeTlsMaterial(name, changes.nextNodes[name]);
    }
    await agent.prepare({ nodes: changes.nextNodes });
  } catch (err) {
    const name = (err as Error).name;
    if (!["ConfigError", "RouteConfigError", "TlsFileError", "KeyFileError"].includes(name)) throw err;
    let reason = (err as Error).message;
    // The file's own top-level key is not the one in force: a reload keeps the running one (until
    // 2026-12-08 the reason said to set what the file already set).
    if (
      /deid needs a key/.test(reason) && next! && next.deid.keyFile &&
      next.deid.keyFile !== current.deid.keyFile
    ) {
      reason +=
        ` (the file's top-level deid.keyFile is new and takes effect at the next restart: restart the ` +
        `agent, or set deid.keyFile on the route to reload now)`;
    }
    log.error(CONFIG_RELOAD_MESSAGES.kept, { reason });
    return false;
  }
  sayAtRestart(agent.restartNotices, changes.atRestart, next, log);
  const routesChanged = changedRoutes(current, next);
  // One turn: no object, association or worker sees half of it.
  current.nodes = changes.nextNodes;
  current.routes = next.routes;
  agent.replaceRoutes(routes);
  if (changes.allowedCallingAets) {
    current.dimse.allowedCallingAets = next.dimse.allowedCallingAets;
    agent.replaceAllowedCallingAets(next.dimse.allowedCallingAets);
  }
  if (changes.logLevel) {
    current.log.level = next.log.level;
    agent.setLogLevel(next.log.level);
  }
  const { added, removed, changed } = changes.nodes;
  agent.reconfigureDestinations([...added, ...removed, ...changed]);
  log.info(CONFIG_RELOAD_MESSAGES.reloaded, {
    ...(added.length ? { nodesAdded: added } : {}),
    ...(removed.length ? { nodesRemoved: removed } : {}),
    ...(changed.length ? { nodesChanged: changed } : {}),
    ...(routesChanged.length ? { routes: routesChanged } : {}),
    ...(changes.allowedCallingAets ? { allowedCallingAets: next.dimse.allowedCallingAets } : {}),
    ...(changes.logLevel ? { logLevel: next.log.level } : {}),
  });
  if (changes.allowedCallingAets || added.length || changed.length) {
    for (const r of refusedCommitmentNodes(current)) log.warn(refusedCommitmentText(r));
  }
  return true;
}

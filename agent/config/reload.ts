/**
 * What a configuration file read again (SIGHUP) changes: the keys a running agent takes at once (`nodes`,
 * `routes`, `dimse.allowedCallingAets`, `log.level`) and those it takes only at its next start (every other one: ports,
 * addresses, the data directory, the site, the hub, the queue's settings...). Pure: the agent applies it.
 */
import { differing, sameValue as same } from "@conduit/shared/config-diff";
import type { AgentConfig, NodeConfig } from "./schema.ts";

/** The keys a reload applies; every other one takes effect at the next restart. */
export const RELOADABLE = ["nodes", "routes", "dimse.allowedCallingAets", "log.level"] as const;

/** What a file read again changes, against the configuration in force. */
export interface ConfigChanges {
  /** Node names, sorted. */
  nodes: { added: string[]; removed: string[]; changed: string[] };
  /** The routes differ (any route's name, match, exclude, destinations or deid). */
  routes: boolean;
  allowedCallingAets: boolean;
  logLevel: boolean;
  /** Keys (dotted, sorted) the file changes that a reload does not apply: they wait for a restart. */
  atRestart: string[];
  /** The nodes in force after the reload: the objects in force for the nodes that did not change. */
  nextNodes: Record<string, NodeConfig>;
}

/** The configuration without its reloadable keys: what only a restart applies. */
export const restartOnly = (c: AgentConfig) => ({
  ...c,
  nodes: undefined,
  routes: undefined,
  dimse: { ...c.dimse, allowedCallingAets: undefined },
  log: { ...c.log, level: undefined },
});

/** What `next` (the file read again, validated) changes against `current` (the configuration in force). */
export function configChanges(current: AgentConfig, next: AgentConfig): ConfigChanges {
  const names = [...new Set([...Object.keys(current.nodes), ...Object.keys(next.nodes)])].sort();
  const nodes = { added: [] as string[], removed: [] as string[], changed: [] as string[] };
  const nextNodes: Record<string, NodeConfig> = {};
  for (const name of names) {
    const was = current.nodes[name];
    const now = next.nodes[name];
    if (!now) nodes.removed.push(name);
    else if (!was) nodes.added.push(name);
    else if (!same(was, now)) nodes.changed.push(name);
    if (now) nextNodes[name] = was && same(was, now) ? was : now;
  }
  return {
    nodes,
    routes: !same(current.routes, next.routes),
    allowedCallingAets: !same(current.dimse.allowedCallingAets, next.dimse.allowedCallingAets),
    logLevel: current.log.level !== next.log.level,
    atRestart: differing(restartOnly(current), restartOnly(next), "", 2).sort(),
    nextNodes,
  };
}

/** True when a reload has something to apply. */
export function applies(c: ConfigChanges): boolean {
  return c.routes || c.allowedCallingAets || c.logLevel || c.nodes.added.length + c.nodes.removed.length +
          c.nodes.changed.length > 0;
}

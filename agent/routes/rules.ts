/**
 * Routing rules: which destinations an object goes to. Rules come from the configuration and are
 * compiled once at start (tags resolved, globs and regexes built, destinations checked), so a bad
 * rule stops the agent with a message naming it instead of misrouting at run time.
 */
import { resolveTag } from "@conduit/shared/dicom/dictionary.ts";
import type { AgentConfig } from "../config/schema.ts";

type RouteConfig = AgentConfig["routes"][number];
type Condition = NonNullable<RouteConfig["match"]["tags"]>[string];

/** What a rule can look at for one object. */
export interface RoutingFacts {
  callingAet: string;
  calledAet: string;
  modality: string;
  sopClassUid: string;
  /** A top-level element's value as text (multi-values joined with `\`), undefined when absent. */
  value(tag: number): string | undefined;
}

export interface CompiledRoute {
  name: string;
  /** Destination names (configured nodes). */
  destinations: string[];
  matches(facts: RoutingFacts): boolean;
}

/** A routing rule that cannot be used; the message names the route and the reason. */
export class RouteConfigError extends Error {
  override name = "RouteConfigError";
}

function glob(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "s");
}

function compileCondition(route: string, key: string, c: Condition): (v: string | undefined) => boolean {
  if ("equals" in c) return (v) => v === c.equals;
  if ("oneOf" in c) return (v) => v !== undefined && c.oneOf.includes(v);
  if ("glob" in c) {
    const re = glob(c.glob);
    return (v) => v !== undefined && re.test(v);
  }
  if ("regex" in c) {
    let re: RegExp;
    try {
      re = new RegExp(c.regex, "s");
    } catch (err) {
      throw new RouteConfigError(`routes: ${route}: tag ${key}: bad regex: ${(err as Error).message}`);
    }
    return (v) => v !== undefined && re.test(v);
  }
  if ("present" in c) return (v) => (v !== undefined) === c.present;
  return (v) => (v === undefined) === c.absent;
}

/** The queue's name for a node at another site, reached through the hub: `@site/node` (or `@site`). */
export function remoteDestination(site: string, node?: string): string {
  return node ? `@${site}/${node}` : `@${site}`;
}

/** The site and node of a remote destination name, or undefined for a local node. */
export function parseRemoteDestination(destination: string): { site: string; node?: string } | undefined {
  const m = /^@([^/]+)(?:\/(.+))?$/.exec(destination);
  return m ? { site: m[1], node: m[2] } : undefined;
}

/** Compiles and checks every route; throws RouteConfigError on the first unusable one. */
export function compileRoutes(config: AgentConfig): CompiledRoute[] {
  const names = new Set<string>();
  return config.routes.map((r) => {
    if (names.has(r.name)) throw new RouteConfigError(`routes: ${r.name}: two routes have this name`);
    names.add(r.name);
    if (r.deid) {
      throw new RouteConfigError(
        `routes: ${r.name}: deid is not available yet (the de-identification engine is not built)`,
      );
    }
    const destinations = r.to.map((t) => {
      if ("site" in t) {
        if (!config.hub.url) {
          throw new RouteConfigError(`routes: ${r.name}: site destinations need hub.url (the hub tunnel)`);
        }
        return remoteDestination(t.site, t.node);
      }
      if (!config.nodes[t.node]) {
        throw new RouteConfigError(`routes: ${r.name}: no node named ${JSON.stringify(t.node)} under nodes`);
      }
      return t.node;
    });
    const m = r.match;
    const tagChecks = Object.entries(m.tags ?? {}).map(([key, cond]) => {
      const tag = resolveTag(key);
      if (tag === undefined) {
        throw new RouteConfigError(
          `routes: ${r.name}: ${JSON.stringify(key)} is not a keyword or (gggg,eeee) tag`,
        );
      }
      const test = compileCondition(r.name, key, cond);
      return (f: RoutingFacts) => test(f.value(tag));
    });
    const inList = (list: string[] | undefined, v: string) => !list || list.some((p) => glob(p).test(v));
    const notIn = (list: string[] | undefined, v: string) => !list || !list.some((p) => glob(p).test(v));
    return {
      name: r.name,
      destinations,
      matches: (f) =>
        inList(m.callingAet, f.callingAet) && inList(m.calledAet, f.calledAet) &&
        inList(m.modality, f.modality) &&
        inList(m.sopClass, f.sopClassUid) && notIn(r.exclude?.modality, f.modality) &&
        notIn(r.exclude?.sopClass, f.sopClassUid) && tagChecks.every((check) => check(f)),
    };
  });
}

/** The (route, destination) pairs an object takes. */
export function route(
  routes: CompiledRoute[],
  facts: RoutingFacts,
): { route: string; destination: string }[] {
  const out: { route: string; destination: string }[] = [];
  for (const r of routes) {
    if (!r.matches(facts)) continue;
    for (const destination of r.destinations) out.push({ route: r.name, destination });
  }
  return out;
}

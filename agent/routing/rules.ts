/**
 * Routing rules: which destinations an object goes to. Rules come from the configuration and are
 * compiled once at start (tags resolved, globs and regexes built, destinations checked), so a bad
 * rule stops the agent with a message naming it instead of misrouting at run time.
 */
import { checkWindow, isOpen, nextOpening, type Windows } from "@conduit/shared/transfer-window";
import { resolveTag } from "@conduit/shared/dicom";
import type { AgentConfig } from "../config/schema.ts";
import { KeyFileError, loadKeyFile } from "../config/key_file.ts";
import type { DeidProfile } from "../deid/profile.ts";
import { loadedProfile } from "../deid/load_profile.ts";
import type { readProfileFile } from "../deid/profile_file.ts";
import { parseRemoteDestination, remoteDestination, stageDestination } from "../queue/keys.ts";

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
  /** Destination names (configured nodes, `@site/node`). */
  destinations: string[];
  /** Set when the route de-identifies before it queues for its destinations. */
  deid?: RouteDeid;
  /** The hours it forwards in (`routes[].window`); always without one. */
  window?: Windows;
  matches(facts: RoutingFacts): boolean;
}

/** A route's de-identification step, ready to run (profile built, key read). */
export interface RouteDeid {
  profile: DeidProfile;
  key: Uint8Array;
  allowBurnedIn: boolean;
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

/** Compiles and checks every route; throws RouteConfigError on the first unusable one. */
export function compileRoutes(config: AgentConfig): CompiledRoute[] {
  const names = new Set<string>();
  return config.routes.map((r) => {
    if (names.has(r.name)) throw new RouteConfigError(`routes: ${r.name}: two routes have this name`);
    names.add(r.name);
    const deid = r.deid ? compileDeid(r.name, r.deid, config.deid.keyFile) : undefined;
    if (r.window) {
      try {
        checkWindow(r.window as Windows);
      } catch (err) {
        throw new RouteConfigError(`routes: ${r.name}: window: ${(err as Error).message}`);
      }
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
      ...(deid ? { deid } : {}),
      ...(r.window ? { window: r.window as Windows } : {}),
      matches: (f) =>
        inList(m.callingAet, f.callingAet) && inList(m.calledAet, f.calledAet) &&
        inList(m.modality, f.modality) &&
        inList(m.sopClass, f.sopClassUid) && notIn(r.exclude?.modality, f.modality) &&
        notIn(r.exclude?.sopClass, f.sopClassUid) && tagChecks.every((check) => check(f)),
    };
  });
}

function compileDeid(
  route: string,
  d: NonNullable<RouteConfig["deid"]>,
  siteKeyFile: string | undefined,
): RouteDeid {
  const { standardProfile, ProfileError, readProfileFile } = loadedProfile();
  let custom: ReturnType<typeof readProfileFile> | undefined;
  let profile: DeidProfile;
  try {
    if (d.profileFile) {
      try {
        custom = readProfileFile(d.profileFile);
      } catch (err) {
        if (err instanceof ProfileError) throw new ProfileError(`profile ${d.profileFile}: ${err.message}`);
        throw err;
      }
    }
    // The file's options first, as `deid --profile-file` takes them.
    profile = standardProfile([...(custom?.options ?? []), ...d.options], custom?.layer);
  } catch (err) {
    if (err instanceof ProfileError) throw new RouteConfigError(`routes: ${route}: deid: ${err.message}`);
    throw err;
  }
  const file = d.keyFile ?? siteKeyFile;
  if (!file) {
    throw new RouteConfigError(
      `routes: ${route}: deid needs a key: set deid.keyFile on the route or at the top`,
    );
  }
  try {
    return { profile, key: loadKeyFile(file), allowBurnedIn: d.allowBurnedIn };
  } catch (err) {
    if (err instanceof KeyFileError) throw new RouteConfigError(`routes: ${route}: deid: ${err.message}`);
    throw err;
  }
}

/**
 * One destination an object takes through one route; `deid` when the route de-identifies it first;
 * `notBefore` when the route's window is closed (its next opening: the row is held until then).
 */
export interface RouteTarget {
  route: string;
  destination: string;
  deid?: true;
  notBefore?: number;
}

/** The (route, destination) pairs an object takes. */
export function route(routes: CompiledRoute[], facts: RoutingFacts, now = Date.now()): RouteTarget[] {
  const out: RouteTarget[] = [];
  for (const r of routes) {
    if (!r.matches(facts)) continue;
    const notBefore = r.window && !isOpen(r.window, now) ? nextOpening(r.window, now) : undefined;
    for (const destination of r.destinations) {
      out.push({
        route: r.name,
        destination,
        ...(r.deid ? { deid: true as const } : {}),
        ...(notBefore !== undefined ? { notBefore } : {}),
      });
    }
  }
  return out;
}

/**
 * The queue rows for an object's targets: a plain target is one row per destination; a route that
 * de-identifies gets one row for its de-identification stage instead (`deid:<route>`), whose worker
 * writes the copy and then queues the copy for the route's destinations. A target held by its route's
 * window keeps `notBefore`.
 */
export function queueTargets(
  targets: RouteTarget[],
): { route: string; destination: string; notBefore?: number }[] {
  const out: { route: string; destination: string; notBefore?: number }[] = [];
  const staged = new Set<string>();
  const held = (t: RouteTarget) => (t.notBefore !== undefined ? { notBefore: t.notBefore } : {});
  for (const t of targets) {
    if (!t.deid) out.push({ route: t.route, destination: t.destination, ...held(t) });
    else if (!staged.has(t.route)) {
      staged.add(t.route);
      out.push({ route: t.route, destination: stageDestination(t.route), ...held(t) });
    }
  }
  return out;
}

/**
 * Some route sends the objects it takes, as received, to another site (through the hub), where they go
 * with their SHA-256; a route that de-identifies sends copies, hashed when they are made.
 */
export function sendsOriginalsToSites(routes: CompiledRoute[]): boolean {
  return routes.some((r) => !r.deid && r.destinations.some((d) => parseRemoteDestination(d) !== undefined));
}

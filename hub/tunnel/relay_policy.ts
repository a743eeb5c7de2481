/**
 * Which sites may relay to which (`tunnel.relays` in the hub's configuration). Without it, any enrolled
 * site may relay to any other (routes at a site name another site's nodes as they please). With it, a
 * site relays under a route of its own only to the sites listed for it (or for `"*"`); an object of a
 * transfer (route `transfer:<task>`) is relayed only from that transfer's source to its destination,
 * which an operator chose when creating it, whatever the list says.
 */

/** The reason a relay is refused, or undefined when it may go. */
export type RelayPolicy = (fromSite: string, toSite: string, route?: string) => Promise<string | undefined>;

/** The sites a transfer's route goes from and to, or undefined when no transfer has that route. */
export type RouteEnds = (route: string) => Promise<{ source: string; destination: string } | undefined>;

export function relayPolicy(
  relays: Record<string, string[]> | undefined,
  routeEnds: RouteEnds,
): RelayPolicy | undefined {
  if (!relays) return undefined;
  return async (fromSite, toSite, route) => {
    if (route) {
      const ends = await routeEnds(route);
      if (ends?.source === fromSite && ends.destination === toSite) return undefined;
      return `no transfer relays from site ${fromSite} to site ${toSite} under ${route}`;
    }
    const may = [...relays[fromSite] ?? [], ...relays["*"] ?? []];
    if (may.includes("*") || may.includes(toSite)) return undefined;
    return `site ${fromSite} may not relay to site ${toSite} (tunnel.relays in the hub's configuration)`;
  };
}

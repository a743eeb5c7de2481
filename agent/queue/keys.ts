/**
 * The names queue rows carry, built and read here and nowhere else. A row has a route (why it is queued)
 * and a destination (where it goes):
 * - routes: a configured route's name; `transfer:<id>` for a transfer the hub runs; `tunnel:@<site>` (or
 *   `tunnel:@hub`) for an object the hub sent to this site for one of its nodes.
 * - destinations: a configured node's name; `@<site>` or `@<site>/<node>` for another site, reached
 *   through the hub; `deid:<route>` for a route's de-identification stage, and `deid:transfers` for the one
 *   stage of every transfer that de-identifies here. That row's worker writes the de-identified copy and
 *   queues it for the real destinations. Node names cannot start with `deid:` or `@`, so the names never meet.
 * - last errors that mean a state: `canceled`, and `held back: <reason>` (the burned-in text policy).
 */

const STAGE_PREFIX = "deid:";
const TRANSFER_PREFIX = "transfer:";
const TUNNEL_PREFIX = "tunnel:";

/** The route of a transfer's rows at its source. */
export function transferRoute(transfer: string): string {
  return `${TRANSFER_PREFIX}${transfer}`;
}

/** True for a transfer's route (the hub applies its schedule and bandwidth cap by this name). */
export function isTransferRoute(route: string): boolean {
  return route.startsWith(TRANSFER_PREFIX);
}

/** Who an object that came through the tunnel is from, as the index and routing see it: `@site` or `@hub`. */
export function tunnelCaller(fromSite: string | undefined): string {
  return fromSite ? `@${fromSite}` : "@hub";
}

/** The route of an object the hub sent for a named node (`tunnel:@site`). */
export function tunnelRoute(caller: string): string {
  return `${TUNNEL_PREFIX}${caller}`;
}

/** True for the route of an object the hub sent for a named node. */
export function isTunnelRoute(route: string): boolean {
  return route.startsWith(TUNNEL_PREFIX);
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

/** The stage destination of a configured route. */
export function stageDestination(route: string): string {
  return `${STAGE_PREFIX}${route}`;
}

/**
 * The one stage destination of every transfer that de-identifies at this site: the worker takes each
 * row's settings from its route (`transfer:<task>`), so transfers share workers instead of starting
 * their own.
 */
export const TRANSFER_STAGE = `${STAGE_PREFIX}transfers`;

/** The route of a stage destination, or undefined for any other destination. */
export function stageRoute(destination: string): string | undefined {
  return destination.startsWith(STAGE_PREFIX) ? destination.slice(STAGE_PREFIX.length) : undefined;
}

/** SQL: the row `q` is a de-identification stage row. */
export const STAGE_ROW_SQL = `q.destination LIKE '${STAGE_PREFIX}%'`;

/** The last error of a row taken out by a cancel (and of one in flight when its route was canceled). */
export const CANCELED = "canceled";

/** The last error of a row the operator gave up on (`queue abandon`); `replay` brings it back. */
export const ABANDONED = "abandoned by the operator";

/** The queue's last_error prefix for an object held back by the burned-in text policy. */
export const HELD_PREFIX = "held back: ";

/** Whether rows of `state` are still to be delivered (pending, in flight, failed or committing). */
export function undelivered(state: string): boolean {
  return state === "pending" || state === "in_flight" || state === "failed" || state === "committing";
}

/**
 * The de-identification stage's queue destinations: a route that de-identifies queues each object once
 * for `deid:<route>` (a transfer, for `deid:transfers`); that row's worker writes the de-identified copy
 * and queues it for the real destinations. Node names cannot start with `deid:`, nor site destinations (`@site`), so the
 * names never meet.
 */

const PREFIX = "deid:";

/** The stage destination of a configured route. */
export function stageDestination(route: string): string {
  return `${PREFIX}${route}`;
}

/**
 * The one stage destination of every transfer that de-identifies at this site: the worker takes each
 * row's settings from its route (`transfer:<task>`), so transfers share workers instead of starting
 * their own.
 */
export const TRANSFER_STAGE = `${PREFIX}transfers`;

/** The route of a stage destination, or undefined for any other destination. */
export function stageRoute(destination: string): string | undefined {
  return destination.startsWith(PREFIX) ? destination.slice(PREFIX.length) : undefined;
}

/** The queue's last_error prefix for an object held back by the burned-in text policy. */
export const HELD_PREFIX = "held back: ";

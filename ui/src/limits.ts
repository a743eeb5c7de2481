/**
 * The bounds the hub puts on what the console's forms send (`hub/api/transfers.ts`, `hub/api/sites.ts`),
 * checked in the browser so that a value out of them is refused in words, before anything is sent.
 */

/** A bandwidth cap typed in Mbit/s (empty: none, `null`); an Error naming `what` when it is out of bounds. */
export function mbpsOf(value: string, what: string): number | null {
  const typed = value.trim();
  if (!typed) return null;
  const mbps = Number(typed);
  if (!(mbps >= 0.1 && mbps <= 100_000)) {
    throw new Error(`The ${what} is in Mbit/s, from 0.1 to 100000 (empty: none).`);
  }
  return mbps;
}

/** A transfer's priority as typed (empty: 0); an Error when it is not a whole number from -10 to 10. */
export function priorityOf(value: string): number {
  const typed = value.trim();
  const priority = typed ? Number(typed) : 0;
  if (!Number.isInteger(priority) || priority < -10 || priority > 10) {
    throw new Error(`The priority is a whole number from -10 to 10 (higher goes first), not "${typed}".`);
  }
  return priority;
}

/** Which failures are worth retrying, and how long to wait before the next attempt. */

/**
 * `permanent` for statuses that will not change by trying again (PS3.4 B.2.3: 0xA9xx data set does
 * not match, 0xCxxx cannot understand, 0x0122 SOP class not supported; PS3.7 Annex C: 0x0111 duplicate SOP
 * Instance, which another site answers when it keeps other bytes under the UID: agent/serve/store.ts);
 * `retry` for the rest: 0xA7xx out of resources, association failures (status null), timeouts, and anything
 * unexpected.
 */
export function classify(status: number | null): "retry" | "permanent" {
  if (status === null) return "retry";
  if (
    (status & 0xff00) === 0xa900 || (status & 0xf000) === 0xc000 || status === 0x0122 || status === 0x0111
  ) return "permanent";
  return "retry";
}

/** Exponential backoff with full jitter: a random wait in [0, min(cap, base × 2^(attempt−1))). */
export function backoffMs(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

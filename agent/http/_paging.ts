/**
 * The `limit` and `offset` of the loopback API's list routes, read strictly: a value out of range is a
 * sentence for a 400 (as the hub's API refuses it), never quietly clamped to something else.
 */

/** `limit`: rows from 1 to `max`, `fallback` when absent; a sentence saying what is wrong otherwise. */
export function pageLimit(raw: string | undefined, max: number, fallback = 100): number | string {
  const limit = raw === undefined ? fallback : Number(raw);
  if (raw === "" || !Number.isInteger(limit) || limit < 1 || limit > max) {
    return `limit is a number of rows from 1 to ${max}, not ${JSON.stringify(raw)}`;
  }
  return limit;
}

/** `offset`: rows to skip, 0 or more, 0 when absent; a sentence saying what is wrong otherwise. */
export function pageOffset(raw: string | undefined): number | string {
  const offset = raw === undefined ? 0 : Number(raw);
  if (raw === "" || !Number.isSafeInteger(offset) || offset < 0) {
    return `offset is a number of rows to skip (0 or more), not ${JSON.stringify(raw)}`;
  }
  return offset;
}

/**
 * Parts of the agent loaded at first use rather than at start (issue 16: what an idle agent holds). A part
 * that cannot be loaded (a damaged install, a file missing) fails the one request that needed it with a
 * LazyPartError naming the part and the reason, which the request's own error path answers (a DIMSE
 * failure status, an HTTP 500 problem); the agent runs on, and the next request tries again.
 */

/** A part of the agent could not be loaded when first needed. */
export class LazyPartError extends Error {
  override name = "LazyPartError";
  constructor(what: string, cause: unknown) {
    super(`${what} could not be loaded: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** `load()` (a dynamic import), its failure a LazyPartError naming `what`. */
export async function loadPart<T>(what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    throw new LazyPartError(what, err);
  }
}

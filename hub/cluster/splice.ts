/**
 * Joining two tunnel streams end to end: each frame's payload read from one is written to the other
 * as it comes, both ways, so a hub in the middle holds at most a window per direction (both streams
 * are flow-controlled). A reset on either side resets the other.
 */
import type { Stream } from "@conduit/shared/tunnel";

/** What one direction waits on before passing each chunk on (a site's downlink cap). */
interface Throttle {
  take(bytes: number, signal?: AbortSignal): Promise<void>;
}

async function copy(from: Stream, to: Stream, first: Uint8Array[] = [], throttle?: Throttle): Promise<void> {
  const pass = async (chunk: Uint8Array) => {
    await throttle?.take(chunk.byteLength, to.signal);
    await to.write(chunk);
  };
  for (const chunk of first) await pass(chunk);
  for (let chunk = await from.read(); chunk; chunk = await from.read()) await pass(chunk);
  await to.close();
}

/**
 * Copies `a` to `b` and `b` to `a` until both ends close; resolves then, or once either fails.
 * `first`: bytes already read from `a` (a channel's leftovers), written to `b` before the rest;
 * `throttle`: what each chunk from `a` to `b` waits on (none the other way).
 */
export async function splice(
  a: Stream,
  b: Stream,
  first: Uint8Array[] = [],
  why = "the other end failed",
  throttle?: Throttle,
) {
  try {
    await Promise.all([copy(a, b, first, throttle), copy(b, a)]);
  } catch {
    a.reset(why);
    b.reset(why);
  }
}

/**
 * Joining two tunnel streams end to end: each frame's payload read from one is written to the other
 * as it comes, both ways, so a hub in the middle holds at most a window per direction (both streams
 * are flow-controlled). A reset on either side resets the other.
 */
import type { Stream } from "@conduit/shared/tunnel";

async function copy(from: Stream, to: Stream, first: Uint8Array[] = []): Promise<void> {
  for (const chunk of first) await to.write(chunk);
  for (let chunk = await from.read(); chunk; chunk = await from.read()) await to.write(chunk);
  await to.close();
}

/**
 * Copies `a` to `b` and `b` to `a` until both ends close; resolves then, or once either fails.
 * `first`: bytes already read from `a` (a channel's leftovers), written to `b` before the rest.
 */
export async function splice(a: Stream, b: Stream, first: Uint8Array[] = [], why = "the other end failed") {
  try {
    await Promise.all([copy(a, b, first), copy(b, a)]);
  } catch {
    a.reset(why);
    b.reset(why);
  }
}

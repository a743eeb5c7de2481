/** Sending byte ranges of a stored object or file over a channel as bytes records, in order, one read per record. */
import { BULK_RECORD, type Channel } from "./channel.ts";

export class ShortFileError extends Error {
  override name = "ShortFileError";
}

/** Bytes read at positions (an archived object, a file). */
export interface RangeReader {
  /** Reads into `into` from `position`; resolves with the count read (0 at the end). */
  read(into: Uint8Array, position: number): Promise<number>;
}

/**
 * Sends `ranges` of `source`. sendBytes copies into frames before it resolves, so one buffer serves
 * every read. A source that ends before a range does throws ShortFileError.
 */
export async function sendRanges(
  channel: Pick<Channel, "sendBytes">,
  source: RangeReader,
  ranges: { offset: number; length: number }[],
): Promise<void> {
  const buffer = new Uint8Array(BULK_RECORD);
  for (const { offset, length } of ranges) {
    for (let sent = 0; sent < length;) {
      const n = await source.read(buffer.subarray(0, Math.min(buffer.length, length - sent)), offset + sent);
      if (n <= 0) throw new ShortFileError("the object is shorter than its header or index says");
      await channel.sendBytes(buffer.subarray(0, n));
      sent += n;
    }
  }
}

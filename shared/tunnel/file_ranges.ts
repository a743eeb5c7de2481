/** Sending byte ranges of a stored object or file over a channel as bytes records, in order, one read per record. */
import { BULK_RECORD, type Channel, RECORD_ROOM } from "./channel.ts";

export class ShortFileError extends Error {
  override name = "ShortFileError";
}

/** Bytes read at positions (an archived object, a file). */
export interface RangeReader {
  /** Reads into `into` from `position`; resolves with the count read (0 at the end). */
  read(into: Uint8Array, position: number): Promise<number>;
}

/**
 * Sends `ranges` of `source`. One buffer serves every read: a Channel takes it as a record in place
 * (`sendBytesRecord`: the bytes are read behind the room for the record's header and never copied
 * before the stream frames them; issue 16), any other sender through sendBytes, which copies before
 * it resolves. A source that ends before a range does throws ShortFileError.
 */
export async function sendRanges(
  channel: Pick<Channel, "sendBytes"> & Partial<Pick<Channel, "sendBytesRecord">>,
  source: RangeReader,
  ranges: { offset: number; length: number }[],
): Promise<void> {
  const inPlace = typeof channel.sendBytesRecord === "function";
  const room = inPlace ? RECORD_ROOM : 0;
  const buffer = new Uint8Array(room + BULK_RECORD);
  for (const { offset, length } of ranges) {
    for (let sent = 0; sent < length;) {
      const want = Math.min(BULK_RECORD, length - sent);
      const n = await source.read(buffer.subarray(room, room + want), offset + sent);
      if (n <= 0) throw new ShortFileError("the object is shorter than its header or index says");
      if (inPlace) await channel.sendBytesRecord!(buffer.subarray(0, room + n));
      else await channel.sendBytes(buffer.subarray(0, n));
      sent += n;
    }
  }
}

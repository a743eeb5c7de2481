/** Sending byte ranges of a file over a channel as bytes records, in order, one read per record. */
import * as fs from "node:fs";
import { BULK_RECORD, type Channel } from "./channel.ts";

export class ShortFileError extends Error {
  override name = "ShortFileError";
}

/**
 * Sends `ranges` of the file at `path`. sendBytes copies into frames before it resolves, so one
 * buffer serves every read. A file that ends before a range does throws ShortFileError.
 */
export async function sendFileRanges(
  channel: Channel,
  path: string,
  ranges: { offset: number; length: number }[],
): Promise<void> {
  const fd = await fs.promises.open(path, "r");
  try {
    const buffer = new Uint8Array(BULK_RECORD);
    for (const { offset, length } of ranges) {
      for (let sent = 0; sent < length;) {
        const { bytesRead } = await fd.read(buffer, 0, Math.min(buffer.length, length - sent), offset + sent);
        if (bytesRead === 0) throw new ShortFileError(`${path} is shorter than its header or index says`);
        await channel.sendBytes(buffer.subarray(0, bytesRead));
        sent += bytesRead;
      }
    }
  } finally {
    await fd.close();
  }
}

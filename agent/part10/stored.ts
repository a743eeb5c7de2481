/**
 * A stored Part 10 object as the index records it (where its data set lies, what it is), and its data
 * set as the DIMSE layer and the tunnel read it: positions count from the data set's first byte.
 */
import type { ByteSource } from "./source.ts";

export interface StoredObject {
  /** The object's key in the archive. */
  key: string;
  /** Offset of the data set in the object (just past group 0002). */
  datasetOffset: number;
  /** Bytes of the data set. */
  datasetSize: number;
  transferSyntax: string;
  sopClassUid: string;
  sopInstanceUid: string;
  /** SHA-256 (hex) of the data set, when the index has it. */
  sha256?: string;
}

/** The data set of a stored object in `source`; throws when the object is not as long as the index says. */
export function datasetOf(source: ByteSource, object: StoredObject): ByteSource {
  const expected = object.datasetOffset + object.datasetSize;
  if (source.size !== expected) {
    void source.close();
    throw new Error(`the archived object changed size (${source.size}, expected ${expected})`);
  }
  return {
    size: object.datasetSize,
    read: (into, position) => {
      const room = Math.max(0, object.datasetSize - position);
      return room === 0
        ? Promise.resolve(0)
        : source.read(into.length > room ? into.subarray(0, room) : into, object.datasetOffset + position);
    },
    close: () => source.close(),
  };
}

// deno-lint-ignore-file no-explicit-any
/**
 * A data set that stays on disk: the bytes after a Part 10 file's meta group, sent as they are.
 * The network layer streams it PDV by PDV (see `_network.ts`), so nothing is re-encoded and a
 * large object never sits whole in memory.
 */
import * as fs from "node:fs";
import { Dataset } from "./_library.ts";

export interface RawFileInfo {
  path: string;
  /** Offset of the data set in the file (just past group 0002). */
  datasetOffset: number;
  /** Bytes of the data set. */
  datasetSize: number;
  transferSyntax: string;
  sopClassUid: string;
  sopInstanceUid: string;
  /** SHA-256 (hex) of the data set, when the index has it. */
  sha256?: string;
}

export class RawFileDataset extends Dataset {
  readonly raw: RawFileInfo;
  constructor(info: RawFileInfo) {
    super({ SOPClassUID: info.sopClassUid, SOPInstanceUID: info.sopInstanceUid }, info.transferSyntax);
    this.raw = info;
  }

  /** Fallback for library paths that want the bytes at once; the streaming path never calls it. */
  getDenaturalizedDataset(): any {
    const fd = fs.openSync(this.raw.path, "r");
    try {
      const buf = Buffer.alloc(this.raw.datasetSize);
      fs.readSync(fd, buf, 0, buf.length, this.raw.datasetOffset);
      return buf;
    } finally {
      fs.closeSync(fd);
    }
  }
}

/** A stand-in data set handed to the library after a raw receive; it is never parsed. */
export class ReceivedStub extends Dataset {
  constructor(transferSyntax: string) {
    super({}, transferSyntax);
  }
}

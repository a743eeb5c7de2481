// deno-lint-ignore-file no-explicit-any
/**
 * A data set that stays where it is stored: the bytes after a Part 10 object's meta group, sent as they
 * are. The network layer streams it PDV by PDV (see `_network.ts`), so nothing is re-encoded and a large
 * object never sits whole in memory.
 */
import { Dataset } from "./_library.ts";
import type { OutgoingObject } from "./handlers.ts";

export class RawFileDataset extends Dataset {
  readonly raw: OutgoingObject;
  constructor(object: OutgoingObject) {
    super({ SOPClassUID: object.sopClassUid, SOPInstanceUID: object.sopInstanceUid }, object.transferSyntax);
    this.raw = object;
  }

  /**
   * The library calls this only from `_sendPDataTF`, which `ConduitNetwork` replaces for raw data sets;
   * a raw data set is read as it is sent, never whole.
   */
  getDenaturalizedDataset(): any {
    throw new Error("a raw data set is streamed, not encoded");
  }
}

/** A stand-in data set handed to the library after a raw receive; it is never parsed. */
export class ReceivedStub extends Dataset {
  constructor(transferSyntax: string) {
    super({}, transferSyntax);
  }
}

/**
 * The pixel decoder the DIMSE layer may use to send a compressed object to a peer that accepts none of
 * its compressed syntax (_reencode.ts): a Part 10 object in, the same object in Explicit VR Little Endian
 * out. The agent registers its WADO-RS transcoder (agent/transcode) at start; `dimse` imports no other
 * part of the agent, and without one compressed objects go as stored or not at all.
 */
export interface PixelDecoder {
  /** True when objects in this (compressed) transfer syntax can be decoded. */
  canDecode(transferSyntax: string): boolean;
  /** The Part 10 object `part10`, stored in `from`, decoded into Explicit VR Little Endian (Part 10). */
  decode(part10: Uint8Array, from: string): Promise<Uint8Array>;
}

let registered: PixelDecoder | undefined;

/** Sets (or, with undefined, removes) the decoder. */
export function registerPixelDecoder(decoder: PixelDecoder | undefined): void {
  registered = decoder;
}

/** The registered decoder, if any. */
export function pixelDecoder(): PixelDecoder | undefined {
  return registered;
}

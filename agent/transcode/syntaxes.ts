/**
 * The compressed transfer syntaxes whose frames dcmjs-codecs decodes one at a time (codec.ts): a light
 * module, so that the agent's thread can ask without loading the codecs.
 */

/** dcmjs-codecs' codec class for each compressed syntax it decodes (JPEG: libjpeg, see `JPEG`). */
export const FRAME_CODECS: Readonly<Record<string, string>> = {
  "1.2.840.10008.1.2.5": "RleLosslessCodec",
  "1.2.840.10008.1.2.4.80": "JpegLsLosslessCodec",
  "1.2.840.10008.1.2.4.81": "JpegLsLossyCodec",
  "1.2.840.10008.1.2.4.90": "Jpeg2000LosslessCodec",
  "1.2.840.10008.1.2.4.91": "Jpeg2000LossyCodec",
  "1.2.840.10008.1.2.4.201": "HtJpeg2000LosslessCodec",
  "1.2.840.10008.1.2.4.202": "HtJpeg2000LosslessRpclCodec",
  "1.2.840.10008.1.2.4.203": "HtJpeg2000LossyCodec",
};

/** JPEG syntaxes whose frames libjpeg (in the same WebAssembly) decodes: Baseline, Extended, Lossless. */
export const JPEG: ReadonlySet<string> = new Set([
  "1.2.840.10008.1.2.4.50",
  "1.2.840.10008.1.2.4.51",
  "1.2.840.10008.1.2.4.57",
  "1.2.840.10008.1.2.4.70",
]);

/** True when frames of `transferSyntax` can be decoded (codec.ts `decodeFrame`). */
export function canDecodeFrames(transferSyntax: string): boolean {
  return transferSyntax in FRAME_CODECS || JPEG.has(transferSyntax);
}

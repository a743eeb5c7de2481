/** Transfer syntaxes and SOP classes the gateway names in its code. */

export const TransferSyntax = {
  ImplicitVRLittleEndian: "1.2.840.10008.1.2",
  ExplicitVRLittleEndian: "1.2.840.10008.1.2.1",
  DeflatedExplicitVRLittleEndian: "1.2.840.10008.1.2.1.99",
  ExplicitVRBigEndian: "1.2.840.10008.1.2.2",
  JpegBaseline: "1.2.840.10008.1.2.4.50",
  JpegExtended: "1.2.840.10008.1.2.4.51",
  JpegLossless: "1.2.840.10008.1.2.4.57",
  JpegLosslessSV1: "1.2.840.10008.1.2.4.70",
  JpegLsLossless: "1.2.840.10008.1.2.4.80",
  JpegLsNearLossless: "1.2.840.10008.1.2.4.81",
  Jpeg2000Lossless: "1.2.840.10008.1.2.4.90",
  Jpeg2000: "1.2.840.10008.1.2.4.91",
  HtJpeg2000Lossless: "1.2.840.10008.1.2.4.201",
  HtJpeg2000LosslessRpcl: "1.2.840.10008.1.2.4.202",
  HtJpeg2000: "1.2.840.10008.1.2.4.203",
  Rle: "1.2.840.10008.1.2.5",
  Mpeg2: "1.2.840.10008.1.2.4.100",
  Mpeg4: "1.2.840.10008.1.2.4.102",
  Hevc: "1.2.840.10008.1.2.4.107",
} as const;

/** How a transfer syntax encodes the data set. */
export interface Encoding {
  explicit: boolean;
  littleEndian: boolean;
  deflated: boolean;
}

/** The data set encoding of a transfer syntax; unknown syntaxes are explicit little endian (PS3.5 A.4). */
export function encodingOf(transferSyntax: string): Encoding {
  switch (transferSyntax) {
    case TransferSyntax.ImplicitVRLittleEndian:
      return { explicit: false, littleEndian: true, deflated: false };
    case TransferSyntax.ExplicitVRBigEndian:
      return { explicit: true, littleEndian: false, deflated: false };
    case TransferSyntax.DeflatedExplicitVRLittleEndian:
      return { explicit: true, littleEndian: true, deflated: true };
    default:
      return { explicit: true, littleEndian: true, deflated: false };
  }
}

/** True for the syntaxes whose pixel data is not encapsulated. */
export function isNative(transferSyntax: string): boolean {
  return transferSyntax === TransferSyntax.ImplicitVRLittleEndian ||
    transferSyntax === TransferSyntax.ExplicitVRLittleEndian ||
    transferSyntax === TransferSyntax.ExplicitVRBigEndian ||
    transferSyntax === TransferSyntax.DeflatedExplicitVRLittleEndian;
}

export const SopClass = {
  Verification: "1.2.840.10008.1.1",
  PatientRootFind: "1.2.840.10008.5.1.4.1.2.1.1",
  PatientRootMove: "1.2.840.10008.5.1.4.1.2.1.2",
  PatientRootGet: "1.2.840.10008.5.1.4.1.2.1.3",
  StudyRootFind: "1.2.840.10008.5.1.4.1.2.2.1",
  StudyRootMove: "1.2.840.10008.5.1.4.1.2.2.2",
  StudyRootGet: "1.2.840.10008.5.1.4.1.2.2.3",
  CtImage: "1.2.840.10008.5.1.4.1.1.2",
  MrImage: "1.2.840.10008.5.1.4.1.1.4",
} as const;

/**
 * True for a storage SOP class UID: every class under 1.2.840.10008.5.1.4.1.1 (PS3.4 B.5), plus the
 * other storage roots (RT under .1.1.481, waveforms, DICOS, DICONDE use the same root; private classes
 * are accepted by configuration, not here).
 */
export function isStorageSopClass(uid: string): boolean {
  return uid.startsWith("1.2.840.10008.5.1.4.1.1.") || uid.startsWith("1.2.840.10008.5.1.4.34.") ||
    uid.startsWith("1.2.840.10008.5.1.4.38.") || uid.startsWith("1.2.840.10008.5.1.4.39.") ||
    uid.startsWith("1.2.840.10008.5.1.4.43.") || uid.startsWith("1.2.840.10008.5.1.4.44.") ||
    uid.startsWith("1.2.840.10008.5.1.4.45.") || uid.startsWith("1.2.840.10008.5.1.4.1.1.481.");
}

/** Our implementation identity, written into every File Meta group and association. */
export const Implementation = {
  classUid: "2.25.130733318727343580212295300276798191286",
  versionName: "CONDUIT_0_1",
} as const;

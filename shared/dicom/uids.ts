/** Transfer syntaxes and SOP classes the gateway names in its code. */

export const TransferSyntax = {
  ImplicitVRLittleEndian: "1.2.840.10008.1.2",
  ExplicitVRLittleEndian: "1.2.840.10008.1.2.1",
  DeflatedExplicitVRLittleEndian: "1.2.840.10008.1.2.1.99",
  /** JPIP Referenced Deflate: the data set is Deflated Explicit VR Little Endian (PS3.5 A.6). */
  JpipReferencedDeflate: "1.2.840.10008.1.2.4.95",
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

/**
 * The video transfer syntaxes (PS3.5 8.2.5 to 8.2.8) and the media type their bitstream goes in (PS3.18
 * Table 8.7.3-2): their pixel data is one stream, not frames, so bulk data gives it whole.
 */
const VIDEO_MEDIA_TYPES: Readonly<Record<string, string>> = {
  "1.2.840.10008.1.2.4.100": "video/mpeg", // MPEG2 Main Profile / Main Level
  "1.2.840.10008.1.2.4.100.1": "video/mpeg",
  "1.2.840.10008.1.2.4.101": "video/mpeg", // MPEG2 Main Profile / High Level
  "1.2.840.10008.1.2.4.101.1": "video/mpeg",
  "1.2.840.10008.1.2.4.102": "video/mp4", // MPEG-4 AVC/H.264 High Profile / Level 4.1
  "1.2.840.10008.1.2.4.102.1": "video/mp4",
  "1.2.840.10008.1.2.4.103": "video/mp4", // MPEG-4 AVC/H.264 BD-compatible
  "1.2.840.10008.1.2.4.103.1": "video/mp4",
  "1.2.840.10008.1.2.4.104": "video/mp4", // MPEG-4 AVC/H.264 for 2D video
  "1.2.840.10008.1.2.4.104.1": "video/mp4",
  "1.2.840.10008.1.2.4.105": "video/mp4", // MPEG-4 AVC/H.264 for 3D video
  "1.2.840.10008.1.2.4.105.1": "video/mp4",
  "1.2.840.10008.1.2.4.106": "video/mp4", // MPEG-4 AVC/H.264 Stereo High Profile
  "1.2.840.10008.1.2.4.106.1": "video/mp4",
  "1.2.840.10008.1.2.4.107": "video/H265", // HEVC/H.265 Main Profile / Level 5.1
  "1.2.840.10008.1.2.4.108": "video/H265", // HEVC/H.265 Main 10 Profile / Level 5.1
};

/** The media type of a video transfer syntax's bitstream; undefined for any other syntax. */
export function videoMediaType(transferSyntax: string): string | undefined {
  return Object.hasOwn(VIDEO_MEDIA_TYPES, transferSyntax) ? VIDEO_MEDIA_TYPES[transferSyntax] : undefined;
}

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
    case TransferSyntax.JpipReferencedDeflate:
      return { explicit: true, littleEndian: true, deflated: true };
    default:
      return { explicit: true, littleEndian: true, deflated: false };
  }
}

export const SopClass = {
  Verification: "1.2.840.10008.1.1",
  /** Storage Commitment Push Model SOP Class (PS3.4 J.3) and its well-known SOP Instance. */
  StorageCommitmentPushModel: "1.2.840.10008.1.20.1",
  StorageCommitmentPushModelInstance: "1.2.840.10008.1.20.1.1",
  PatientRootFind: "1.2.840.10008.5.1.4.1.2.1.1",
  PatientRootMove: "1.2.840.10008.5.1.4.1.2.1.2",
  PatientRootGet: "1.2.840.10008.5.1.4.1.2.1.3",
  StudyRootFind: "1.2.840.10008.5.1.4.1.2.2.1",
  StudyRootMove: "1.2.840.10008.5.1.4.1.2.2.2",
  StudyRootGet: "1.2.840.10008.5.1.4.1.2.2.3",
  CtImage: "1.2.840.10008.5.1.4.1.1.2",
  MrImage: "1.2.840.10008.5.1.4.1.1.4",
} as const;

/** Storage SOP classes outside the 1.2.840.10008.5.1.4.1.1 root (PS3.4 B.5). */
const OTHER_STORAGE = new Set([
  "1.2.840.10008.5.1.4.34.7", // RT Beams Delivery Instruction Storage
  "1.2.840.10008.5.1.4.34.10", // RT Brachy Application Setup Delivery Instruction Storage
  "1.2.840.10008.5.1.4.38.1", // Hanging Protocol Storage
  "1.2.840.10008.5.1.4.39.1", // Color Palette Storage
  "1.2.840.10008.5.1.4.43.1", // Generic Implant Template Storage
  "1.2.840.10008.5.1.4.44.1", // Implant Assembly Template Storage
  "1.2.840.10008.5.1.4.45.1", // Implant Template Group Storage
]);

/** True for a standard storage SOP class UID: every class under 1.2.840.10008.5.1.4.1.1, and the few outside it. */
export function isStorageSopClass(uid: string): boolean {
  return uid.startsWith("1.2.840.10008.5.1.4.1.1.") || OTHER_STORAGE.has(uid);
}

/** True for a UID outside the DICOM root: a private SOP class, accepted as storage by configuration. */
export function isPrivateUid(uid: string): boolean {
  return !uid.startsWith("1.2.840.10008.");
}

/** Our implementation identity, written into every File Meta group and association. */
export const Implementation = {
  classUid: "2.25.130733318727343580212295300276798191286",
  versionName: "CONDUIT_0_1",
} as const;

/**
 * The presentation contexts a node retrieve by C-GET proposes for the C-STORE sub-operations the node
 * sends back, and how the retrieve is split when they do not fit one association.
 *
 * The node accepts one transfer syntax per presentation context (PS3.8 9.3.2.2), and sends each object
 * on a context of its SOP class: a context listing many syntaxes leaves the node to choose one, and every
 * object stored in another is transcoded (no longer byte-exact) or its sub-operation fails. So, as DCMTK's
 * getscu does when told to propose every syntax, each SOP class the C-FIND listing names gets one context
 * with the little endian uncompressed syntaxes (the node's choice), and one context per other syntax it
 * may hold the class in. Which syntaxes those are:
 *  - the ones the node lists for the instances in Available Transfer Syntax UID (0008,3002), when it does
 *    for every instance of the class (dcm4chee does; Orthanc does not);
 *  - otherwise every syntax the class can be held in: none but big endian and deflated for the classes
 *    without pixel data (structured reports, presentation states, RT plans, encapsulated documents,
 *    waveforms...), the image compressions for the others, and the MPEG-2, MPEG-4 and HEVC syntaxes too
 *    for the video classes.
 *
 * Instances the node lists without their SOP class (dcmqrscp) get guessed contexts: the common storage
 * classes uncompressed, and the common compressions of the common image classes (unknownClassContexts).
 *
 * One A-ASSOCIATE-RQ holds at most 128 contexts, one of which is the C-GET model's. When the classes'
 * contexts fit, one C-GET at the level asked. When they do not, the listed series are packed, in order,
 * into associations whose contexts fit, and each series is retrieved by a C-GET at SERIES level; a
 * series whose classes alone do not fit one association is retrieved instance by instance (IMAGE level),
 * its classes split over several associations.
 */
import { TransferSyntax } from "@conduit/shared/dicom";
import type { Identifier } from "../dimse/handlers.ts";
import { isWarning, Status } from "../dimse/handlers.ts";
import { MAX_CONTEXTS } from "../dimse/contexts.ts";

/** One instance of a C-FIND listing (IMAGE level). */
export interface ListedInstance {
  sopInstanceUid: string;
  sopClassUid: string;
  seriesInstanceUid?: string;
  /** Available Transfer Syntax UID (0008,3002), when the node answered it. */
  availableTransferSyntaxes?: string[];
}

/**
 * A C-FIND match at IMAGE level as a listed instance; undefined without a SOP Instance UID. Available
 * Transfer Syntax UID may come as one value, several, or a `\\` list; anything but a UID in it is ignored.
 */
export function listedInstance(match: Identifier): ListedInstance | undefined {
  const sopInstanceUid = String(match.SOPInstanceUID ?? "").trim();
  if (!sopInstanceUid) return undefined;
  const available = [match.AvailableTransferSyntaxUID].flat()
    .flatMap((v) => typeof v === "string" ? v.split("\\") : [])
    .map((v) => v.replace(/\0/g, "").trim())
    .filter((v) => /^[0-9]+(\.[0-9]+)*$/.test(v));
  return {
    sopInstanceUid,
    sopClassUid: String(match.SOPClassUID ?? "").trim(),
    seriesInstanceUid: String(match.SeriesInstanceUID ?? "").trim() || undefined,
    availableTransferSyntaxes: available.length ? [...new Set(available)] : undefined,
  };
}

/** One presentation context for C-STOREs to us: a SOP class and the syntaxes it lists. */
export interface StorageContext {
  sopClassUid: string;
  transferSyntaxes: string[];
}

/** One association of a C-GET retrieve: its storage contexts, and the C-GETs run on it in turn. */
export interface GetStep {
  contexts: StorageContext[];
  identifiers: Identifier[];
}

/**
 * The context the node chooses a syntax in (one of the two; objects it holds in the other come re-encoded,
 * unless that syntax has a context of its own).
 */
export const UNCOMPRESSED: string[] = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
];

/** Syntaxes every class may be held in (besides the little endian uncompressed ones). */
const ANY_CLASS: string[] = [
  TransferSyntax.ExplicitVRBigEndian,
  TransferSyntax.DeflatedExplicitVRLittleEndian,
];

/** Pixel data compressions, for the classes with pixel data. */
const IMAGE: string[] = [
  TransferSyntax.JpegBaseline,
  TransferSyntax.JpegExtended,
  TransferSyntax.JpegLossless,
  TransferSyntax.JpegLosslessSV1,
  TransferSyntax.JpegLsLossless,
  TransferSyntax.JpegLsNearLossless,
  TransferSyntax.Jpeg2000Lossless,
  TransferSyntax.Jpeg2000,
  "1.2.840.10008.1.2.4.92", // JPEG 2000 Part 2 Multi-component (Lossless Only)
  "1.2.840.10008.1.2.4.93", // JPEG 2000 Part 2 Multi-component
  TransferSyntax.HtJpeg2000Lossless,
  TransferSyntax.HtJpeg2000LosslessRpcl,
  TransferSyntax.HtJpeg2000,
  "1.2.840.10008.1.2.4.110", // JPEG XL Lossless
  "1.2.840.10008.1.2.4.111", // JPEG XL JPEG Recompression
  "1.2.840.10008.1.2.4.112", // JPEG XL
  TransferSyntax.Rle,
];

/** Video syntaxes (MPEG-2, MPEG-4 AVC/H.264 and their fragmentable forms, HEVC/H.265). */
const VIDEO = [
  "1.2.840.10008.1.2.4.100",
  "1.2.840.10008.1.2.4.100.1",
  "1.2.840.10008.1.2.4.101",
  "1.2.840.10008.1.2.4.101.1",
  "1.2.840.10008.1.2.4.102",
  "1.2.840.10008.1.2.4.102.1",
  "1.2.840.10008.1.2.4.103",
  "1.2.840.10008.1.2.4.103.1",
  "1.2.840.10008.1.2.4.104",
  "1.2.840.10008.1.2.4.104.1",
  "1.2.840.10008.1.2.4.105",
  "1.2.840.10008.1.2.4.105.1",
  "1.2.840.10008.1.2.4.106",
  "1.2.840.10008.1.2.4.106.1",
  "1.2.840.10008.1.2.4.107",
  "1.2.840.10008.1.2.4.108",
];

const STORAGE = "1.2.840.10008.5.1.4.1.1.";

/** Video Endoscopic, Video Microscopic and Video Photographic Image Storage. */
const VIDEO_CLASSES = new Set(["77.1.1.1", "77.1.2.1", "77.1.4.1"].map((c) => STORAGE + c));

/**
 * Storage classes without pixel data, by the part after 1.2.840.10008.5.1.4.1.1.: waveforms (9.),
 * presentation states (11.), raw data, spatial registration and fiducials (66, 66.1-66.3), real world
 * value mapping (67), surface and tractography objects (66.5, 66.6, 68.), structured reports and key
 * objects (88.), encapsulated documents (104.), RT objects other than images and doses (481.3 up).
 */
function withoutPixelData(sopClassUid: string): boolean {
  if (!sopClassUid.startsWith(STORAGE)) return false;
  const rest = sopClassUid.slice(STORAGE.length);
  if (["66", "66.1", "66.2", "66.3", "66.5", "66.6", "67"].includes(rest)) return true;
  if (/^(9|11|68|88|104)\./.test(rest)) return true;
  const rt = /^481\.(\d+)$/.exec(rest);
  return rt !== null && Number(rt[1]) >= 3;
}

/** The syntaxes other than the little endian uncompressed ones a node may hold an object of the class in. */
export function syntaxesFor(sopClassUid: string): string[] {
  if (withoutPixelData(sopClassUid)) return ANY_CLASS;
  if (VIDEO_CLASSES.has(sopClassUid)) return [...ANY_CLASS, ...IMAGE, ...VIDEO];
  return [...ANY_CLASS, ...IMAGE];
}

/**
 * For instances the node listed without their SOP Class UID (DCMTK's dcmqrscp does not return it), the
 * classes are guessed: an uncompressed context for each common storage class, and contexts for the common
 * compressions of the most common image classes, within one association (126 contexts).
 */
const COMMON_IMAGE_CLASSES = ["2", "4", "1", "1.1", "1.2", "6.1", "3.1", "7", "12.1", "12.2", "20", "128"];
const COMMON_OTHER_CLASSES = [
  "1.1.1", // DX for processing
  "1.2.1", // MG for processing
  "2.1", // Enhanced CT
  "4.1", // Enhanced MR
  "7.1",
  "7.2",
  "7.3",
  "7.4", // multi-frame Secondary Capture
  "12.1.1", // Enhanced XA
  "13.1.3", // Breast Tomosynthesis
  "66", // Raw Data
  "66.1", // Spatial Registration
  "66.4", // Segmentation
  "77.1.1", // VL Endoscopic
  "77.1.4", // VL Photographic
  "77.1.1.1", // Video Endoscopic
  "77.1.4.1", // Video Photographic
  "88.11",
  "88.22",
  "88.33", // Basic, Enhanced and Comprehensive SR
  "88.59", // Key Object Selection
  "11.1", // Grayscale Softcopy Presentation State
  "104.1", // Encapsulated PDF
  "481.1",
  "481.2",
  "481.3",
  "481.5", // RT Image, Dose, Structure Set, Plan
];
const COMMON_COMPRESSIONS = [
  TransferSyntax.JpegBaseline,
  TransferSyntax.JpegExtended,
  TransferSyntax.JpegLosslessSV1,
  TransferSyntax.JpegLsLossless,
  TransferSyntax.Jpeg2000Lossless,
  TransferSyntax.Jpeg2000,
  TransferSyntax.Rle,
];

/** The contexts proposed for instances listed without a SOP class. */
export function unknownClassContexts(): StorageContext[] {
  const image = COMMON_IMAGE_CLASSES.map((c) => STORAGE + c);
  const other = COMMON_OTHER_CLASSES.map((c) => STORAGE + c);
  return [
    ...[...image, ...other].map((sopClassUid) => ({ sopClassUid, transferSyntaxes: UNCOMPRESSED })),
    ...image.flatMap((sopClassUid) =>
      COMMON_COMPRESSIONS.map((ts) => ({ sopClassUid, transferSyntaxes: [ts] }))
    ),
    ...[...VIDEO_CLASSES].map((sopClassUid) => ({ sopClassUid, transferSyntaxes: [TransferSyntax.Mpeg4] })),
  ];
}

/**
 * The contexts for one SOP class: the uncompressed one, then one per other syntax. When the node listed
 * Implicit VR Little Endian for the class, that syntax has a context of its own too: the node chooses one
 * syntax in the uncompressed context (Explicit VR, as DCMTK and the agent do), so an object it holds in
 * Implicit VR would otherwise come re-encoded.
 */
function classContexts(sopClassUid: string, listed: ListedInstance[]): StorageContext[] {
  const known = listed.every((l) => l.availableTransferSyntaxes?.length)
    ? [...new Set(listed.flatMap((l) => l.availableTransferSyntaxes!))]
    : syntaxesFor(sopClassUid);
  return [
    { sopClassUid, transferSyntaxes: UNCOMPRESSED },
    ...known.filter((ts) => ts !== TransferSyntax.ExplicitVRLittleEndian).map((ts) => ({
      sopClassUid,
      transferSyntaxes: [ts],
    })),
  ];
}

/**
 * The associations a C-GET retrieve of `identifier` (what was asked) takes for the instances `listed`,
 * with `room` storage contexts each (the 128 of an A-ASSOCIATE-RQ less the C-GET model's).
 */
export function planGet(
  identifier: Identifier,
  listed: ListedInstance[],
  room = MAX_CONTEXTS - 1,
): GetStep[] {
  // Instances listed without their class are grouped under "", whose contexts are guesses.
  const byClass = new Map<string, ListedInstance[]>();
  for (const l of listed) {
    const list = byClass.get(l.sopClassUid) ?? [];
    list.push(l);
    byClass.set(l.sopClassUid, list);
  }
  // (A node listing more syntaxes for one class than an association holds gets those that fit.)
  const contextsOf = new Map(
    [...byClass].map((
      [c, list],
    ) => [c, (c ? classContexts(c, list) : unknownClassContexts()).slice(0, room)]),
  );
  const all = [...contextsOf.values()].flat();
  if (all.length <= room) return all.length ? [{ contexts: all, identifiers: [identifier] }] : [];

  const study = String(identifier.StudyInstanceUID ?? "");
  const steps: GetStep[] = [];
  let current: { classes: Set<string>; size: number; identifiers: Identifier[] } | undefined;
  const close = () => {
    if (current?.identifiers.length) {
      steps.push({
        contexts: [...current.classes].flatMap((c) => contextsOf.get(c)!),
        identifiers: current.identifiers,
      });
    }
    current = undefined;
  };
  const bySeries = new Map<string, ListedInstance[]>();
  for (const l of listed) {
    // An instance listed without its series is retrieved on its own.
    const key = l.seriesInstanceUid || `\0${l.sopInstanceUid}`;
    const list = bySeries.get(key) ?? [];
    list.push(l);
    bySeries.set(key, list);
  }
  for (const [key, instances] of bySeries) {
    const classes = [...new Set(instances.map((l) => l.sopClassUid))];
    const size = (cs: Iterable<string>) => [...cs].reduce((n, c) => n + contextsOf.get(c)!.length, 0);
    const series = key.startsWith("\0") ? undefined : key;
    if (series && size(classes) <= room) {
      let added = classes.filter((c) => !current?.classes.has(c));
      if (current && current.size + size(added) > room) {
        // On a new association, every class of the series, the ones the last one had too.
        close();
        added = classes;
      }
      current ??= { classes: new Set(), size: 0, identifiers: [] };
      for (const c of added) current.classes.add(c);
      current.size += size(added);
      current.identifiers.push({
        QueryRetrieveLevel: "SERIES",
        StudyInstanceUID: study,
        SeriesInstanceUID: series,
      });
      continue;
    }
    // Too many classes for one association (or no series): instance by instance, classes packed likewise.
    for (const c of classes) {
      if (!current?.classes.has(c)) {
        if (current && current.size + size([c]) > room) close();
        current ??= { classes: new Set(), size: 0, identifiers: [] };
        current.classes.add(c);
        current.size += size([c]);
      }
      for (const l of instances.filter((i) => i.sopClassUid === c)) {
        current.identifiers.push({
          QueryRetrieveLevel: "IMAGE",
          StudyInstanceUID: study,
          SeriesInstanceUID: l.seriesInstanceUid ?? "",
          SOPInstanceUID: l.sopInstanceUid,
        });
      }
    }
  }
  close();
  return steps;
}

/**
 * A second pass for instances a C-GET did not bring: IMAGE-level C-GETs, each class offered only in its
 * syntaxes other than the little endian uncompressed ones (a node that sends on the first context it
 * accepted for the class then finds the stored one), classes packed into associations of `room` contexts.
 * Instances whose class has no such syntax (the node listed them uncompressed) are not asked again.
 */
export function planRetry(
  identifier: Identifier,
  missing: ListedInstance[],
  room = MAX_CONTEXTS - 1,
): GetStep[] {
  const study = String(identifier.StudyInstanceUID ?? "");
  const byClass = new Map<string, ListedInstance[]>();
  for (const l of missing) byClass.set(l.sopClassUid, [...byClass.get(l.sopClassUid) ?? [], l]);
  const steps: GetStep[] = [];
  let current: GetStep | undefined;
  for (const [c, list] of byClass) {
    // Big Endian and Deflated last: such a node converts those to the uncompressed syntax itself, and one
    // it accepted would come first for an object stored compressed.
    const last = (x: StorageContext) => ANY_CLASS.includes(x.transferSyntaxes[0]) ? 1 : 0;
    const contexts = (c ? classContexts(c, list) : unknownClassContexts())
      .filter((x) => x.transferSyntaxes !== UNCOMPRESSED)
      .sort((a, b) => last(a) - last(b))
      .slice(0, room);
    if (contexts.length === 0) continue;
    if (current && current.contexts.length + contexts.length > room) {
      steps.push(current);
      current = undefined;
    }
    current ??= { contexts: [], identifiers: [] };
    current.contexts.push(...contexts);
    for (const l of list) {
      current.identifiers.push({
        QueryRetrieveLevel: "IMAGE",
        StudyInstanceUID: study,
        SeriesInstanceUID: l.seriesInstanceUid ?? "",
        SOPInstanceUID: l.sopInstanceUid,
      });
    }
  }
  if (current) steps.push(current);
  return steps;
}

/** Counts of several C-GETs as one: summed, with the gravest status (failure, cancel, warning, success). */
export function combineResults<
  T extends { status: number; completed: number; failed: number; warning: number },
>(results: T[]): { status: number; completed: number; failed: number; warning: number } {
  const rank = (s: number) => s === Status.Success ? 0 : isWarning(s) ? 1 : s === Status.Cancel ? 2 : 3;
  let status: number = Status.Success;
  for (const r of results) if (rank(r.status) > rank(status)) status = r.status;
  return {
    status,
    completed: results.reduce((n, r) => n + r.completed, 0),
    failed: results.reduce((n, r) => n + r.failed, 0),
    warning: results.reduce((n, r) => n + r.warning, 0),
  };
}

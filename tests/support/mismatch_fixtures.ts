/**
 * Objects whose header and pixel data disagree, made with pydicom from pydicom's MR_small.dcm (64 × 64,
 * 16 bits): native (defined length) Pixel Data under RLE Lossless, Bits Allocated 7, Number of Frames 3 with
 * one frame of pixels, encapsulated (undefined length) Pixel Data under Explicit VR Little Endian, and a File
 * Meta group naming a transfer syntax no edition of PS3.6 defines (1.2.840.10008.9.9.9). Each has a SOP
 * Instance UID of its own; MR_small's study and series. Written to a temporary folder, never committed;
 * whether they can be made here: ./pydicom.ts's pydicomSkip.
 */
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR } from "./test_files.ts";
import { runPydicom } from "./pydicom.ts";

// pydicom writes a compressed syntax's Pixel Data only encapsulated, and a native syntax's with a defined
// length: each is written Explicit VR Little Endian, then its bytes changed (the File Meta's syntax UID for
// one of the same length, the Pixel Data's length to undefined with a sequence delimiter after its items).
const MAKE = `
import sys, copy, pydicom
from pydicom.encaps import encapsulate
src, outdir = sys.argv[1], sys.argv[2]
base = pydicom.dcmread(src)
EXPLICIT = "1.2.840.10008.1.2.1"
def variant(name, uid, edit=None, ts=EXPLICIT, undefined=False):
    ds = copy.deepcopy(base)
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.TransferSyntaxUID = EXPLICIT
    ds.is_implicit_VR, ds.is_little_endian = False, True
    if edit: edit(ds)
    out = f"{outdir}/{name}.dcm"
    ds.save_as(out, write_like_original=False)
    data = open(out, "rb").read()
    if undefined:
        head = b"\\xe0\\x7f\\x10\\x00OB\\x00\\x00"
        at = data.rindex(head) + len(head)
        end = at + 4 + int.from_bytes(data[at:at + 4], "little")
        data = data[:at] + b"\\xff\\xff\\xff\\xff" + data[at + 4:end] + b"\\xfe\\xff\\xdd\\xe0\\0\\0\\0\\0" + data[end:]
    if ts != EXPLICIT:
        assert len(ts) == len(EXPLICIT) and data.count(EXPLICIT.encode() + b"\\0") == 1
        data = data.replace(EXPLICIT.encode() + b"\\0", ts.encode() + b"\\0")
    open(out, "wb").write(data)
def bits7(ds):
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 7, 7, 6
def frames(ds):
    ds.NumberOfFrames = 3
def fragments(ds):
    ds.PixelData = encapsulate([ds.PixelData])
    ds["PixelData"].VR = "OB"
variant("rle-native", "2.25.981001", ts="1.2.840.10008.1.2.5")
variant("bits7", "2.25.981002", bits7)
variant("frames-over", "2.25.981003", frames)
variant("encapsulated-native", "2.25.981004", fragments, undefined=True)
variant("unknown-syntax", "2.25.981005", ts="1.2.840.10008.9.9.9")
`;

export const MISMATCHED = {
  rleNative: "2.25.981001",
  bits7: "2.25.981002",
  framesOver: "2.25.981003",
  encapsulatedNative: "2.25.981004",
  unknownSyntax: "2.25.981005",
} as const;

const NAMES: Record<keyof typeof MISMATCHED, string> = {
  rleNative: "rle-native",
  bits7: "bits7",
  framesOver: "frames-over",
  encapsulatedNative: "encapsulated-native",
  unknownSyntax: "unknown-syntax",
};

/** Writes the objects into `dir`; their paths by name. */
export async function writeMismatched(dir: string): Promise<Record<keyof typeof MISMATCHED, string>> {
  await runPydicom(MAKE, [path.join(PYDICOM_TEST_FILES_DIR, "MR_small.dcm"), dir]);
  return Object.fromEntries(
    Object.entries(NAMES).map(([k, name]) => [k, path.join(dir, `${name}.dcm`)]),
  ) as Record<keyof typeof MISMATCHED, string>;
}

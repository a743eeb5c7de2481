import assert from "node:assert/strict";
import { decodeFrame, type PixelDescription } from "./codec.ts";
import { readFrame } from "../render/read.ts";
import { openFile, withSource } from "../part10/source.ts";

const DIR = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
const J2K = `${DIR}/JPEG2000.dcm`, JPEG = `${DIR}/SC_rgb_jpeg_gdcm.dcm`;
const haveFiles = (() => {
  try {
    return Deno.statSync(J2K).isFile && Deno.statSync(JPEG).isFile;
  } catch {
    return false;
  }
})();

/** A file's first frame as stored, with what the decoder is told about it. */
async function frameOf(file: string) {
  const read = await withSource(openFile(file), (source) => readFrame(source, 1));
  if (read.kind !== "frame") throw new Error("not a frame");
  const a = read.attrs;
  const description: PixelDescription = {
    rows: a.rows,
    columns: a.columns,
    bitsAllocated: a.bitsAllocated,
    bitsStored: a.bitsStored,
    highBit: a.highBit,
    samplesPerPixel: a.samplesPerPixel,
    pixelRepresentation: a.pixelRepresentation,
    planarConfiguration: a.planarConfiguration,
    photometricInterpretation: a.photometric,
  };
  return { bytes: read.bytes, ts: read.transferSyntax, description };
}

Deno.test({
  name:
    "decodeFrame() still decodes good frames after many that do not (the codecs' memory is not left corrupt)",
  ignore: !haveFiles,
  async fn() {
    const j2k = await frameOf(J2K), jpeg = await frameOf(JPEG);
    const good = await decodeFrame(j2k.bytes, j2k.ts, j2k.description);
    // Broken frames: no codestream at all, a codestream cut short, a JPEG of zeros. Each failure used to
    // leave the WebAssembly memory a little worse, until every decode failed ("memory access out of
    // bounds"), good frames included, for as long as the worker ran.
    const broken = [
      { ...j2k, bytes: new Uint8Array(j2k.bytes.length) },
      { ...j2k, bytes: j2k.bytes.slice(0, Math.floor(j2k.bytes.length / 3)) },
      { ...jpeg, bytes: new Uint8Array(jpeg.bytes.length) },
    ];
    for (let round = 0; round < 10; round++) {
      for (const b of broken) await assert.rejects(decodeFrame(b.bytes, b.ts, b.description));
    }
    const again = await decodeFrame(j2k.bytes, j2k.ts, j2k.description);
    assert.deepEqual(again.pixels, good.pixels);
    const colour = await decodeFrame(jpeg.bytes, jpeg.ts, jpeg.description);
    assert.equal(colour.pixels.length, jpeg.description.rows * jpeg.description.columns * 3);
  },
});

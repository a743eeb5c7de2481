import assert from "node:assert/strict";
import * as fs from "node:fs";
import { findElement, stringValue } from "@conduit/shared/dicom";
import { frameLayout } from "./frames.ts";
import { frameSubset } from "./frame_subset.ts";
import { readHeader } from "./header.ts";
import { type ByteSource, memorySource, readExactly } from "./source.ts";

/** pydicom's test files (Debian python3-pydicom). */
const PYDICOM = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
const ignore = !fs.existsSync(`${PYDICOM}/rtdose.dcm`);
const file = (name: string) => memorySource(fs.readFileSync(`${PYDICOM}/${name}`));

/** The bytes of each of `frames` of the object in `source`. */
async function frameBytes(source: ByteSource, frames: number[] | "all"): Promise<Uint8Array[]> {
  const layout = await frameLayout(source, frames);
  return await Promise.all(layout.frames.map(async (f) => {
    const out = new Uint8Array(f.size);
    let at = 0;
    for (const p of f.pieces) (out.set(await readExactly(source, p.offset, p.length), at), at += p.length);
    return out;
  }));
}

async function numberOfFrames(source: ByteSource): Promise<string> {
  const h = await readHeader(source);
  return stringValue(h.bytes, findElement(h.dataset, 0x00280008)!).trim();
}

Deno.test({
  name:
    "frameSubset() keeps only the frames asked, in their order: native implicit VR (rtdose.dcm, 15 frames)",
  ignore,
  fn: async () => {
    const source = file("rtdose.dcm");
    const subset = memorySource((await frameSubset(source, [15, 2, 2]))!);
    assert.equal(await numberOfFrames(subset), "3");
    assert.deepEqual(await frameBytes(subset, "all"), await frameBytes(source, [15, 2, 2]));
    // What precedes the pixel data is the original's, Number of Frames aside.
    const before = await readHeader(source), after = await readHeader(subset);
    assert.equal(after.dataset.elements.length, before.dataset.elements.length);
  },
});

Deno.test({
  name:
    "frameSubset() keeps only the frames asked: encapsulated RLE, one fragment a frame (SC_rgb_rle_2frame.dcm)",
  ignore,
  fn: async () => {
    const source = file("SC_rgb_rle_2frame.dcm");
    const subset = memorySource((await frameSubset(source, [2]))!);
    assert.equal(await numberOfFrames(subset), "1");
    const layout = await frameLayout(subset, "all");
    assert.equal(layout.encapsulated, true);
    assert.deepEqual(await frameBytes(subset, "all"), await frameBytes(source, [2]));
  },
});

Deno.test({
  name: "frameSubset() declines what it would not save: one frame, every frame, a frame that does not exist",
  ignore,
  fn: async () => {
    assert.equal(await frameSubset(file("CT_small.dcm"), [1]), undefined);
    assert.equal(await frameSubset(file("SC_rgb_rle_2frame.dcm"), [1, 2]), undefined);
    await assert.rejects(frameSubset(file("rtdose.dcm"), [16]), /frame 16 does not exist/);
  },
});

import assert from "node:assert/strict";
import * as fs from "node:fs";
import { generateInstance } from "@conduit/shared/testing";
import {
  findElement,
  parseDataSet,
  PIXEL_DATA,
  readPart10Header,
  TransferSyntax as TS,
} from "@conduit/shared/dicom";
import { FrameError, frameLayout } from "./frames.ts";
import { memorySource, readExactly } from "./source.ts";

/** pydicom's test files (Debian python3-pydicom); the figures below are dcmdump's reading of them. */
const PYDICOM = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
const ignore = !fs.existsSync(`${PYDICOM}/rtdose.dcm`);
const file = (name: string) => memorySource(fs.readFileSync(`${PYDICOM}/${name}`));

Deno.test("frameLayout() cuts a generated instance's one native frame: the whole pixel data value", async () => {
  const bytes = generateInstance({
    modality: "CT",
    patientName: "DOE^JANE",
    patientId: "P1",
    studyInstanceUid: "1.2.3",
    seriesInstanceUid: "1.2.3.4",
    sopInstanceUid: "1.2.3.4.5",
    instanceNumber: 1,
    rows: 4,
    columns: 6,
  });
  const meta = readPart10Header(bytes);
  const { dataset } = parseDataSet(bytes, { explicit: true, littleEndian: true, deflated: false }, {
    start: meta.datasetOffset,
  });
  const pixels = findElement(dataset, PIXEL_DATA)!;
  const layout = await frameLayout(memorySource(bytes), [1]);
  assert.deepEqual(layout, {
    transferSyntax: TS.ExplicitVRLittleEndian,
    encapsulated: false,
    frames: [{ pieces: [{ offset: pixels.valueOffset, length: 4 * 6 * 2 }], size: 48 }],
    value: { offset: pixels.valueOffset, vr: "OW" },
  });
  await assert.rejects(frameLayout(memorySource(bytes), [2]), FrameError);
  await assert.rejects(frameLayout(memorySource(bytes), [0]), /frame 0 does not exist/);
});

Deno.test({
  name: "frameLayout() cuts native multi-frame pixel data by Rows x Columns x BitsAllocated (rtdose.dcm)",
  ignore,
  fn: async () => {
    // 15 frames of 10 x 10, 32 bits: 400 bytes each, 6000 in all.
    const layout = await frameLayout(file("rtdose.dcm"), [15, 1, 2]);
    assert.equal(layout.encapsulated, false);
    assert.equal(layout.transferSyntax, TS.ImplicitVRLittleEndian);
    assert.deepEqual(layout.frames.map((f) => f.size), [400, 400, 400]);
    const [last, first, second] = layout.frames.map((f) => f.pieces[0].offset);
    assert.equal(second - first, 400);
    assert.equal(last - first, 14 * 400);
    await assert.rejects(
      frameLayout(file("rtdose.dcm"), [16]),
      /frame 16 does not exist \(the instance has 15\)/,
    );
  },
});

Deno.test({
  name: "frameLayout() finds encapsulated frames by the Basic Offset Table, or one fragment per frame",
  ignore,
  fn: async () => {
    // SC_rgb_rle_2frame.dcm: a Basic Offset Table (0, 672), two RLE fragments of 664 bytes, 3 segments each.
    const rgb = file("SC_rgb_rle_2frame.dcm");
    const two = await frameLayout(rgb, [2, 1]);
    assert.equal(two.transferSyntax, TS.Rle);
    assert.equal(two.encapsulated, true);
    assert.deepEqual(two.frames.map((f) => f.size), [664, 664]);
    assert.equal(two.frames[0].pieces[0].offset - two.frames[1].pieces[0].offset, 672);
    for (const f of two.frames) {
      const head = await readExactly(rgb, f.pieces[0].offset, 4);
      assert.equal(new DataView(head.buffer).getUint32(0, true), 3, "an RLE header of three segments");
    }
    // rtdose_rle.dcm: an empty Basic Offset Table, 15 fragments, one per frame (dcmdump: 332, 330, ... 290).
    const dose = await frameLayout(file("rtdose_rle.dcm"), [1, 2, 15]);
    assert.deepEqual(dose.frames.map((f) => f.size), [332, 330, 290]);
  },
});

Deno.test({
  name: "frameLayout() refuses an object without pixel data",
  ignore,
  fn: async () => {
    await assert.rejects(frameLayout(file("rtplan.dcm"), [1]), FrameError);
  },
});

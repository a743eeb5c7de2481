import assert from "node:assert/strict";
import {
  GENERATED_TRANSFER_SYNTAX,
  generateInstance,
  generateInstanceChunks,
  generateStudies,
  GENERATOR_IMPLEMENTATION_CLASS_UID,
  instanceByteLength,
  type InstanceSpec,
  isValidUid,
  MAX_CHUNK_BYTES,
} from "./mod.ts";
import { parseDataSet, readPart10Header } from "../dicom/reader.ts";
import { instanceAttributes } from "../dicom/header.ts";
import { encodingOf } from "../dicom/uids.ts";
import {
  collect,
  concat,
  find,
  firstCt,
  firstMr,
  OPTS,
  parts,
  SPACE_PADDED,
  str,
  text,
  us,
  walk,
} from "./_walker.ts";

Deno.test("generateInstance: File Meta group length equals the byte count of group 0002", () => {
  for (const spec of [firstCt(), firstMr()]) {
    const bytes = generateInstance(spec);
    const { groupLength, meta, datasetOffset } = parts(bytes);
    assert.equal(groupLength, datasetOffset - 144);
    const last = meta[meta.length - 1];
    assert.equal(groupLength, last.valueOffset + last.length - 144);
    assert.deepEqual(meta.map((e) => e.tag), [
      0x00020001,
      0x00020002,
      0x00020003,
      0x00020010,
      0x00020012,
      0x00020013,
    ]);
    assert.deepEqual(meta.map((e) => e.vr), ["OB", "UI", "UI", "UI", "UI", "SH"]);
    assert.deepEqual([...bytes.subarray(meta[0].valueOffset, meta[0].valueOffset + 2)], [0, 1]);
    const sopClass = spec.modality === "CT" ? "1.2.840.10008.5.1.4.1.1.2" : "1.2.840.10008.5.1.4.1.1.4";
    assert.equal(str(bytes, meta, 0x00020002), sopClass);
    assert.equal(str(bytes, meta, 0x00020003), spec.sopInstanceUid);
    assert.equal(str(bytes, meta, 0x00020010), GENERATED_TRANSFER_SYNTAX);
    assert.equal(GENERATED_TRANSFER_SYNTAX, "1.2.840.10008.1.2.1");
    assert.equal(str(bytes, meta, 0x00020012), GENERATOR_IMPLEMENTATION_CLASS_UID);
    assert.ok(isValidUid(GENERATOR_IMPLEMENTATION_CLASS_UID));
    assert.equal(str(bytes, meta, 0x00020013), "CONDUIT_GEN");
  }
});

Deno.test("generateInstance: ascending tags, even lengths, correct padding, and nothing after Pixel Data", () => {
  for (const spec of [firstCt(), firstMr()]) {
    const bytes = generateInstance(spec);
    const { meta, dataset } = parts(bytes);
    const all = [...meta, ...dataset];
    for (let i = 1; i < all.length; i++) assert.ok(all[i].tag > all[i - 1].tag, `tag order at ${i}`);
    for (const el of all) {
      assert.equal(el.length % 2, 0, `even length of ${el.tag.toString(16)}`);
      if (el.length === 0) continue;
      const value = text(bytes, el);
      if (el.vr === "UI") {
        assert.ok(!value.includes(" "), `UI without spaces: ${value}`);
        assert.ok(isValidUid(value.replace(/\0$/, "")), `valid UID: ${value}`);
      }
      if (SPACE_PADDED.has(el.vr)) assert.ok(!value.includes("\0"), `${el.vr} padded with spaces: ${value}`);
    }
    // the walk consumed the file exactly, and Pixel Data is the last element
    const pixel = dataset[dataset.length - 1];
    assert.equal(pixel.tag, 0x7fe00010);
    assert.equal(pixel.vr, "OW");
    assert.equal(pixel.valueOffset + pixel.length, bytes.length);
    assert.equal(pixel.length, us(bytes, dataset, 0x00280010) * us(bytes, dataset, 0x00280011) * 2);
    assert.equal(bytes.length, instanceByteLength(spec));
  }
});

Deno.test("generateInstance: the data set carries the spec's attributes with the right VRs", () => {
  const spec = firstCt();
  const bytes = generateInstance(spec);
  const { dataset } = parts(bytes);
  const vrs = new Map(dataset.map((e) => [e.tag, e.vr]));
  const expected: [number, string, string][] = [
    [0x00080005, "CS", "ISO_IR 100"],
    [0x00080008, "CS", "ORIGINAL\\PRIMARY\\AXIAL"],
    [0x00080016, "UI", "1.2.840.10008.5.1.4.1.1.2"],
    [0x00080018, "UI", spec.sopInstanceUid],
    [0x00080020, "DA", spec.studyDate!],
    [0x00080021, "DA", spec.seriesDate!],
    [0x00080030, "TM", spec.studyTime!],
    [0x00080031, "TM", spec.seriesTime!],
    [0x00080050, "SH", spec.accessionNumber!],
    [0x00080060, "CS", "CT"],
    [0x00080070, "LO", "CONDUIT"],
    [0x00080080, "LO", "CONDUIT GENERAL HOSPITAL"],
    [0x00080090, "PN", spec.referringPhysicianName!],
    [0x00081030, "LO", spec.studyDescription!],
    [0x0008103e, "LO", spec.seriesDescription!],
    [0x00100010, "PN", spec.patientName],
    [0x00100020, "LO", spec.patientId],
    [0x00100030, "DA", spec.patientBirthDate!],
    [0x00100040, "CS", spec.patientSex!],
    [0x00180015, "CS", "CHEST"],
    [0x00180050, "DS", "1.25"],
    [0x0020000d, "UI", spec.studyInstanceUid],
    [0x0020000e, "UI", spec.seriesInstanceUid],
    [0x00200010, "SH", spec.studyId!],
    [0x00200011, "IS", String(spec.seriesNumber)],
    [0x00200013, "IS", String(spec.instanceNumber)],
    [0x00200037, "DS", "1\\0\\0\\0\\1\\0"],
    [0x00200052, "UI", spec.frameOfReferenceUid!],
    [0x00280004, "CS", "MONOCHROME2"],
    [0x00281052, "DS", "-1024"],
    [0x00281053, "DS", "1"],
  ];
  for (const [tag, vr, value] of expected) {
    assert.equal(vrs.get(tag), vr, `VR of ${tag.toString(16)}`);
    assert.equal(str(bytes, dataset, tag), value, `value of ${tag.toString(16)}`);
  }
  for (const tag of [0x00200032, 0x00280030, 0x00281050, 0x00281051]) assert.equal(vrs.get(tag), "DS");
  assert.equal(us(bytes, dataset, 0x00280002), 1);
  assert.equal(us(bytes, dataset, 0x00280010), 64);
  assert.equal(us(bytes, dataset, 0x00280011), 48);
  assert.equal(us(bytes, dataset, 0x00280100), 16);
  assert.equal(us(bytes, dataset, 0x00280101), 12);
  assert.equal(us(bytes, dataset, 0x00280102), 11);
  assert.equal(us(bytes, dataset, 0x00280103), 0);
  // MR: no rescale, MR Image Storage
  const mr = generateInstance(firstMr());
  const mrSet = parts(mr).dataset;
  assert.equal(str(mr, mrSet, 0x00080016), "1.2.840.10008.5.1.4.1.1.4");
  assert.equal(str(mr, mrSet, 0x00080060), "MR");
  assert.ok(!mrSet.some((e) => e.tag === 0x00281052 || e.tag === 0x00281053));
});

Deno.test("generateInstance: the project's reader reads back the index attributes", () => {
  const spec: InstanceSpec = { ...firstCt(), patientName: "MÜLLER^JÖRG" };
  const bytes = generateInstance(spec);
  // ISO_IR 100: one byte per character
  const { dataset } = parts(bytes);
  assert.equal(find(dataset, 0x00100010).length, 12);
  const header = readPart10Header(bytes);
  assert.equal(header.transferSyntax, GENERATED_TRANSFER_SYNTAX);
  const { dataset: parsed } = parseDataSet(bytes, encodingOf(header.transferSyntax), {
    start: header.datasetOffset,
  });
  const attrs = instanceAttributes(bytes, parsed, header);
  assert.equal(attrs.patientName, "MÜLLER^JÖRG");
  assert.equal(attrs.patientId, spec.patientId);
  assert.equal(attrs.studyInstanceUid, spec.studyInstanceUid);
  assert.equal(attrs.seriesInstanceUid, spec.seriesInstanceUid);
  assert.equal(attrs.sopInstanceUid, spec.sopInstanceUid);
  assert.equal(attrs.accessionNumber, spec.accessionNumber);
  assert.equal(attrs.modality, "CT");
  assert.equal(attrs.specificCharacterSet, "ISO_IR 100");
});

Deno.test("generateInstance: default size is 512 x 512 (the 0.5 MB CT object)", () => {
  const { modality, patientName, patientId, studyInstanceUid, seriesInstanceUid, sopInstanceUid } = firstCt();
  const spec: InstanceSpec = {
    modality,
    patientName,
    patientId,
    studyInstanceUid,
    seriesInstanceUid,
    sopInstanceUid,
    instanceNumber: 1,
  };
  const bytes = generateInstance(spec);
  const { dataset } = parts(bytes);
  const pixel = find(dataset, 0x7fe00010);
  assert.equal(pixel.length, 512 * 512 * 2);
  assert.equal(bytes.length, pixel.valueOffset + 524_288);
  assert.ok(bytes.length > 524_288 && bytes.length < 526_000, `size ${bytes.length}`);
});

Deno.test("generateInstance: pixels are the gradient (864 + x + y + instance) mod 4096 and instances differ", () => {
  const specs = collect(generateStudies(OPTS)).filter((s) => s.modality === "CT");
  const [a, b] = specs.slice(0, 2).map((spec) => {
    const bytes = generateInstance(spec);
    const pixel = find(parts(bytes).dataset, 0x7fe00010);
    return { spec, bytes, pixel };
  });
  for (const { spec, bytes, pixel } of [a, b]) {
    const view = new DataView(bytes.buffer, pixel.valueOffset, pixel.length);
    for (let y = 0; y < 64; y++) {
      for (let x = 0; x < 48; x++) {
        const v = view.getUint16((y * 48 + x) * 2, true);
        assert.equal(v, (864 + x + y + spec.instanceNumber) % 4096);
        assert.ok(v < 1 << 12, "fits Bits Stored 12");
      }
    }
  }
  const pa = a.bytes.subarray(a.pixel.valueOffset);
  const pb = b.bytes.subarray(b.pixel.valueOffset);
  assert.notDeepEqual(pa, pb);
});

Deno.test("generateInstanceChunks: header then pixel chunks of at most 4 MiB, identical to generateInstance", () => {
  // 9 MiB + 2 bytes of pixel data: two full pixel chunks and one of 1 MiB + 2; chunk edges fall inside rows
  const spec: InstanceSpec = {
    ...firstCt(),
    rows: undefined,
    columns: undefined,
    pixelBytes: 9 * 1024 * 1024 + 2,
  };
  const chunks = [...generateInstanceChunks(spec)];
  assert.equal(MAX_CHUNK_BYTES, 4 * 1024 * 1024);
  assert.equal(chunks.length, 4);
  for (const c of chunks) assert.ok(c.length <= MAX_CHUNK_BYTES);
  assert.deepEqual(chunks.slice(1).map((c) => c.length), [MAX_CHUNK_BYTES, MAX_CHUNK_BYTES, 1024 * 1024 + 2]);
  // the header chunk ends exactly at the Pixel Data value
  const headerEls = walk(chunks[0], 144);
  const pixel = headerEls[headerEls.length - 1];
  assert.equal(pixel.tag, 0x7fe00010);
  assert.equal(pixel.valueOffset, chunks[0].length);
  assert.equal(pixel.length, 9 * 1024 * 1024 + 2);
  const whole = generateInstance(spec);
  assert.equal(whole.length, instanceByteLength(spec));
  assert.equal(whole.length, chunks.reduce((n, c) => n + c.length, 0));
  assert.deepEqual(concat(chunks), whole);
  // Rows x Columns x 2 was chosen to equal the forced length
  const { dataset } = parts(whole);
  assert.equal(us(whole, dataset, 0x00280010) * us(whole, dataset, 0x00280011) * 2, 9 * 1024 * 1024 + 2);
});

Deno.test("generateInstanceChunks: an 800 MB object is described lazily, with consistent Rows/Columns", () => {
  const bytes = 800 * 1024 * 1024;
  const it = generateInstanceChunks({ ...firstCt(), pixelBytes: bytes })[Symbol.iterator]();
  const header = it.next().value as Uint8Array;
  const els = walk(header, 144);
  const rows = us(header, els, 0x00280010);
  const columns = us(header, els, 0x00280011);
  assert.equal(rows * columns * 2, bytes);
  assert.ok(rows <= 65535 && columns <= 65535);
  assert.equal(els[els.length - 1].length, bytes);
  const first = it.next().value as Uint8Array;
  assert.equal(first.length, MAX_CHUNK_BYTES);
  assert.equal(instanceByteLength({ ...firstCt(), pixelBytes: bytes }), header.length + bytes);
});

Deno.test("generateInstance: pixelBytes that factor keep a consistent image; bad input throws", () => {
  const spec = firstCt();
  const bytes = generateInstance({ ...spec, pixelBytes: 500_000 });
  const { dataset } = parts(bytes);
  assert.equal(us(bytes, dataset, 0x00280010), 500);
  assert.equal(us(bytes, dataset, 0x00280011), 500);
  assert.throws(() => generateInstance({ ...spec, pixelBytes: 1001 }), RangeError);
  assert.throws(() => generateInstance({ ...spec, rows: 70_000 }), RangeError);
  assert.throws(() => generateInstance({ ...spec, sopInstanceUid: "1.2.03" }), RangeError);
  assert.throws(() => generateInstance({ ...spec, sopInstanceUid: `1.${"2".repeat(64)}` }), RangeError);
  assert.throws(() => generateInstance({ ...spec, patientId: "X".repeat(65) }), RangeError);
  assert.throws(() => generateInstance({ ...spec, patientName: "李^明" }), RangeError);
  // the chunk generator throws on the first next(), not before
  const lazy = generateInstanceChunks({ ...spec, pixelBytes: 3 });
  assert.throws(() => [...lazy], RangeError);
});

import assert from "node:assert/strict";
import {
  GENERATED_TRANSFER_SYNTAX,
  generateInstance,
  generateInstanceChunks,
  generateStudies,
  type GenerateStudiesOptions,
  GENERATOR_IMPLEMENTATION_CLASS_UID,
  instanceByteLength,
  type InstanceSpec,
  isValidUid,
  MAX_CHUNK_BYTES,
  uidFromKey,
} from "./generate.ts";
import { parseDataSet, readPart10Header } from "./reader.ts";
import { instanceAttributes } from "./header.ts";
import { encodingOf } from "./uids.ts";

// ---------------------------------------------------------------------------------------------
// An independent strict walker for explicit VR little endian Part 10 files

interface Walked {
  tag: number;
  vr: string;
  /** Offset of the element's first header byte. */
  offset: number;
  valueOffset: number;
  length: number;
}

const LONG = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
const SPACE_PADDED = new Set(["AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM"]);

/** Walks elements from `at` to `end`; with `end` undefined, the whole buffer. Header-only buffers work. */
function walk(bytes: Uint8Array, at: number, end = bytes.length): Walked[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Walked[] = [];
  while (at < end) {
    const tag = (view.getUint16(at, true) << 16 | view.getUint16(at + 2, true)) >>> 0;
    const vr = String.fromCharCode(bytes[at + 4], bytes[at + 5]);
    assert.match(vr, /^[A-Z]{2}$/, `VR at ${at}`);
    const long = LONG.has(vr);
    if (long) assert.equal(view.getUint16(at + 6, true), 0, `reserved bytes of ${tag.toString(16)}`);
    const length = long ? view.getUint32(at + 8, true) : view.getUint16(at + 6, true);
    const valueOffset = at + (long ? 12 : 8);
    out.push({ tag, vr, offset: at, valueOffset, length });
    // a header-only buffer ends at the Pixel Data value
    if (tag === 0x7fe00010 && valueOffset === bytes.length) break;
    at = valueOffset + length;
  }
  return out;
}

function text(bytes: Uint8Array, el: Walked): string {
  return String.fromCharCode(...bytes.subarray(el.valueOffset, el.valueOffset + el.length));
}

function find(els: Walked[], tag: number): Walked {
  const el = els.find((e) => e.tag === tag);
  assert.ok(el, `element ${tag.toString(16).padStart(8, "0")} present`);
  return el;
}

function str(bytes: Uint8Array, els: Walked[], tag: number): string {
  return text(bytes, find(els, tag)).replace(/[\0 ]+$/, "");
}

function us(bytes: Uint8Array, els: Walked[], tag: number): number {
  const el = find(els, tag);
  assert.equal(el.vr, "US");
  return new DataView(bytes.buffer, bytes.byteOffset).getUint16(el.valueOffset, true);
}

/** Splits a Part 10 file into its meta elements (group length included) and data set elements. */
function parts(
  bytes: Uint8Array,
): { groupLength: number; meta: Walked[]; dataset: Walked[]; datasetOffset: number } {
  assert.ok(bytes.subarray(0, 128).every((b) => b === 0), "preamble is zeros");
  assert.equal(String.fromCharCode(...bytes.subarray(128, 132)), "DICM");
  const [gl] = walk(bytes, 132, 144);
  assert.equal(gl.tag, 0x00020000);
  assert.equal(gl.vr, "UL");
  assert.equal(gl.length, 4);
  const groupLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(gl.valueOffset, true);
  const all = walk(bytes, 144);
  const meta = all.filter((e) => e.tag >>> 16 === 0x0002);
  const dataset = all.filter((e) => e.tag >>> 16 !== 0x0002);
  return { groupLength, meta, dataset, datasetOffset: dataset[0].offset };
}

function collect(specs: Iterable<InstanceSpec>): InstanceSpec[] {
  return [...specs];
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const OPTS: GenerateStudiesOptions = {
  seed: "conduit-test",
  patients: 2,
  studiesPerPatient: 2,
  series: [{ modality: "CT", instances: 3 }, { modality: "MR", instances: 2 }],
  rows: 64,
  columns: 48,
};

const firstCt = () => collect(generateStudies(OPTS)).find((s) => s.modality === "CT")!;
const firstMr = () => collect(generateStudies(OPTS)).find((s) => s.modality === "MR")!;

// ---------------------------------------------------------------------------------------------

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

Deno.test("generateInstance: pixels are the gradient (x + y + instance) mod 4096 and instances differ", () => {
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
        assert.equal(v, (x + y + spec.instanceNumber) % 4096);
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

Deno.test("generateStudies: same seed gives the same specs and bytes; another seed other UIDs", () => {
  const a = collect(generateStudies(OPTS));
  const b = collect(generateStudies(OPTS));
  assert.equal(a.length, 2 * 2 * (3 + 2));
  assert.deepEqual(a, b);
  assert.deepEqual(generateInstance(a[3]), generateInstance(b[3]));
  const c = collect(generateStudies({ ...OPTS, seed: "conduit-test-2" }));
  const uidsA = new Set(a.flatMap((s) => [s.studyInstanceUid, s.seriesInstanceUid, s.sopInstanceUid]));
  assert.ok(c.every((s) => !uidsA.has(s.studyInstanceUid) && !uidsA.has(s.sopInstanceUid)));
  assert.equal(uidFromKey("k"), uidFromKey("k"));
  assert.notEqual(uidFromKey("k"), uidFromKey("k2"));
});

Deno.test("generateStudies: hierarchy, IDs, names, dates and accession numbers", () => {
  const specs = collect(generateStudies(OPTS));
  assert.deepEqual([...new Set(specs.map((s) => s.patientId))], ["PAT0001", "PAT0002"]);
  assert.equal(new Set(specs.map((s) => s.studyInstanceUid)).size, 4);
  assert.equal(new Set(specs.map((s) => s.seriesInstanceUid)).size, 8);
  assert.equal(new Set(specs.map((s) => s.accessionNumber)).size, 4);
  for (const s of specs) {
    assert.match(s.patientName, /^[A-Z]+\^[A-Z]+(\^[A-Z])?$/);
    assert.match(s.patientBirthDate!, /^(19[3-9]\d|200[0-4])(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$/);
    assert.match(s.studyDate!, /^202[0-4]\d{4}$/);
    assert.match(s.studyTime!, /^([01]\d|2[0-3])[0-5]\d[0-5]\d$/);
    assert.ok(s.patientBirthDate! < s.studyDate!);
    assert.match(s.accessionNumber!, /^ACC\d{7}$/);
    assert.ok(["M", "F"].includes(s.patientSex!));
    assert.equal(s.rows, 64);
    assert.equal(s.columns, 48);
  }
  // one patient has one name, sex and birth date in all studies
  for (const id of ["PAT0001", "PAT0002"]) {
    const mine = specs.filter((s) => s.patientId === id);
    assert.equal(new Set(mine.map((s) => `${s.patientName}|${s.patientSex}|${s.patientBirthDate}`)).size, 1);
  }
  // instance numbers run 1..n within each series
  const series = specs.filter((s) => s.seriesInstanceUid === specs[0].seriesInstanceUid);
  assert.deepEqual(series.map((s) => s.instanceNumber), [1, 2, 3]);
});

Deno.test("generateStudies: every UID is unique, at most 64 characters and numeric", () => {
  const specs = collect(generateStudies({
    seed: "uids",
    patients: 40,
    studiesPerPatient: 3,
    series: [{ modality: "CT", instances: 20 }, { modality: "MR", instances: 10 }],
  }));
  assert.equal(specs.length, 40 * 3 * 30);
  const all = new Set<string>();
  let count = 0;
  const studies = new Set<string>();
  const series = new Set<string>();
  for (const s of specs) {
    for (const uid of [s.studyInstanceUid, s.seriesInstanceUid, s.frameOfReferenceUid!, s.sopInstanceUid]) {
      assert.ok(uid.length <= 64, uid);
      assert.match(uid, /^[0-9.]+$/);
      assert.match(uid, /^2\.25\.[1-9][0-9]*$/);
      assert.ok(isValidUid(uid));
      assert.ok(BigInt(uid.slice(5)) < 1n << 128n);
    }
    if (!studies.has(s.studyInstanceUid)) {
      studies.add(s.studyInstanceUid);
      all.add(s.studyInstanceUid);
      count++;
    }
    if (!series.has(s.seriesInstanceUid)) {
      series.add(s.seriesInstanceUid);
      all.add(s.seriesInstanceUid);
      all.add(s.frameOfReferenceUid!);
      count += 2;
    }
    all.add(s.sopInstanceUid);
    count++;
  }
  assert.equal(all.size, count, "no UID repeats across studies, series, frames of reference and instances");
  assert.equal(studies.size, 120);
  assert.equal(series.size, 240);
});

// ---------------------------------------------------------------------------------------------
// External validators

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const DCMDUMP = "/usr/bin/dcmdump";
const DCIODVFY = "/usr/bin/dciodvfy";
const hasDcmdump = exists(DCMDUMP);
const hasDciodvfy = exists(DCIODVFY);
if (!hasDcmdump) console.warn(`generate_test: dcmdump checks skipped: ${DCMDUMP} not found (install dcmtk)`);
if (!hasDciodvfy) {
  console.warn(`generate_test: dciodvfy checks skipped: ${DCIODVFY} not found (install dicom3tools)`);
}

async function run(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, output: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

async function withFiles(
  files: Record<string, Uint8Array>,
  fn: (paths: Record<string, string>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "conduit-generate-" });
  try {
    const paths: Record<string, string> = {};
    for (const [name, bytes] of Object.entries(files)) {
      paths[name] = `${dir}/${name}.dcm`;
      await Deno.writeFile(paths[name], bytes);
    }
    await fn(paths);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function errorLines(output: string): string[] {
  return output.split(/\r?\n/).filter((l) => l.startsWith("Error"));
}

Deno.test({
  name: `dcmdump reads generated CT and MR files${hasDcmdump ? "" : " (skipped: no /usr/bin/dcmdump)"}`,
  ignore: !hasDcmdump,
  fn: async () => {
    const ct = firstCt();
    const mr = firstMr();
    await withFiles({ ct: generateInstance(ct), mr: generateInstance(mr) }, async (p) => {
      for (const [path, spec] of [[p.ct, ct], [p.mr, mr]] as const) {
        const r = await run(DCMDUMP, ["-E", path]);
        assert.equal(r.code, 0, r.output);
        assert.ok(r.output.includes(`[${spec.patientId}]`), r.output);
        assert.ok(r.output.includes(`[${spec.sopInstanceUid}]`), r.output);
        assert.ok(r.output.includes("LittleEndianExplicit"), r.output);
        assert.ok(!/^[EW]: /m.test(r.output), `dcmdump reported problems:\n${r.output}`);
      }
    });
  },
});

Deno.test({
  name: `dciodvfy finds no errors in generated CT and MR files${
    hasDciodvfy ? "" : " (skipped: no /usr/bin/dciodvfy)"
  }`,
  ignore: !hasDciodvfy,
  fn: async () => {
    const ct = firstCt();
    const mr = firstMr();
    const specs: Record<string, InstanceSpec> = {
      ct,
      mr,
      ct512: { ...ct, rows: undefined, columns: undefined },
      ct16: { ...ct, bitsStored: 16, rows: 33, columns: 70 },
      mr16: { ...mr, bitsStored: 16 },
      ctForced: { ...ct, pixelBytes: 500_000 },
    };
    const files = Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, generateInstance(s)]));
    await withFiles(files, async (paths) => {
      for (const [name, path] of Object.entries(paths)) {
        const r = await run(DCIODVFY, [path]);
        assert.deepEqual(errorLines(r.output), [], `${name}:\n${r.output}`);
        const iod = specs[name].modality === "CT" ? "CTImage" : "MRImage";
        assert.ok(r.output.includes(iod), `${name}: dciodvfy recognised ${iod}:\n${r.output}`);
      }
    });
  },
});

Deno.test({
  name: `dciodvfy check has teeth: a file whose Pixel Data disagrees with Rows/Columns is an error${
    hasDciodvfy ? "" : " (skipped: no /usr/bin/dciodvfy)"
  }`,
  ignore: !hasDciodvfy,
  fn: async () => {
    // 100003 is prime, so no Rows x Columns fits and the given 64 x 48 are kept
    const bad = generateInstance({ ...firstCt(), pixelBytes: 2 * 100_003 });
    await withFiles({ bad }, async (paths) => {
      const r = await run(DCIODVFY, [paths.bad]);
      assert.ok(errorLines(r.output).some((l) => l.includes("PixelData")), r.output);
    });
  },
});

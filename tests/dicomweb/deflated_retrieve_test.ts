/**
 * PS3.18 8.7.3.5.2 WADO-RS of a Deflated Explicit VR Little Endian object (pydicom's image_dfl.dcm) with
 * the default Accept, which means Explicit VR Little Endian: the site inflates the data set, so the answer
 * is the stored data set inflated, under a File Meta group naming Explicit VR Little Endian; with
 * `transfer-syntax=*` it is the stored bytes.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { inflateRawSync } from "node:zlib";
import { encodingOf, parseDataSet, readPart10Header, TransferSyntax as TS } from "@conduit/shared/dicom";
import { multipartRequest } from "../../hub/dicomweb/testing.ts";
import { datasetBytes, listFiles } from "../support/agent.ts";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { responseParts } from "../support/multipart.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { get, type Rig, setUp, stopRig } from "./_dicomweb.ts";

const DEFLATED = path.join(PYDICOM_TEST_FILES_DIR, "image_dfl.dcm");
const STUDY = "1.3.6.1.4.1.5962.1.2.0.977067310.6001.0";
const SERIES = "1.3.6.1.4.1.5962.1.3.0.0.977067310.6001.0";
const SOP = "1.3.6.1.4.1.5962.1.1.0.0.0.977067309.6001.0";
const INSTANCE = `/sites/north/studies/${STUDY}/series/${SERIES}/instances/${SOP}`;

/** The system Python, whose pydicom holds the test files (PYDICOM_TEST_FILES_DIR). */
const PYTHON = "/usr/bin/python3";
const hasPython = () => {
  try {
    return Deno.statSync(PYTHON).isFile;
  } catch {
    return false;
  }
};
const skip = skipReason("storescu") || (hasPython() ? false : `no ${PYTHON}`);
if (skip) console.warn(`deflated_retrieve_test: skipped: ${skip}`);

async function setUpDeflated(): Promise<Rig> {
  const r = await setUp();
  const { body, contentType } = multipartRequest([{ bytes: await Deno.readFile(DEFLATED) }]);
  const res = await get(r, `/sites/north/studies/${STUDY}`, {
    method: "POST",
    body,
    token: r.operator,
    headers: { "content-type": contentType },
  });
  assert.equal(res.status, 200, await res.text());
  return r;
}

const shared = sharedRig({ skip, setUp: setUpDeflated, stop: stopRig });

/** The archived copy's data set (as stored: deflated). */
async function archivedDataset(r: Rig): Promise<Uint8Array> {
  const file = (await listFiles(r.north.dataDir)).find((f) => f.endsWith(`${SOP}.dcm`));
  assert.ok(file, "the deflated object is archived");
  return await datasetBytes(file);
}

shared.test("PS3.18 8.7.3.5.2 a deflated object asked with the default Accept comes inflated, Explicit VR Little Endian", async (r) => {
  const stored = await archivedDataset(r);
  const inflated = new Uint8Array(inflateRawSync(stored));
  for (const accept of [undefined, 'multipart/related; type="application/dicom"']) {
    const res = await get(r, INSTANCE, accept ? { headers: { accept } } : {});
    assert.equal(res.status, 200, `${accept}: ${res.status === 200 ? "" : await res.text()}`);
    const parts = await responseParts(res);
    assert.equal(parts.length, 1);
    assert.equal(parts[0].type, `application/dicom; transfer-syntax=${TS.ExplicitVRLittleEndian}`);
    const header = readPart10Header(parts[0].body);
    assert.equal(header.transferSyntax, TS.ExplicitVRLittleEndian);
    assert.equal(header.sopInstanceUid, SOP);
    const dataset = parts[0].body.subarray(header.datasetOffset);
    assert.deepEqual(dataset, inflated, "the stored data set inflated, byte for byte");
    // And it reads as a data set to its end in the syntax the File Meta group names.
    const parsed = parseDataSet(parts[0].body, encodingOf(header.transferSyntax), {
      start: header.datasetOffset,
    });
    assert.ok(parsed.dataset.elements.some((e) => e.tag === 0x7fe00010), "pixel data included");
  }
  // pydicom reads the answer as the same data set as the stored file.
  const saved = await Deno.makeTempFile({ suffix: ".dcm" });
  try {
    await Deno.writeFile(saved, (await responseParts(await get(r, INSTANCE)))[0].body);
    const script = "import sys, pydicom\n" +
      "a, b = pydicom.dcmread(sys.argv[1]), pydicom.dcmread(sys.argv[2])\n" +
      "assert str(a.file_meta.TransferSyntaxUID) == '1.2.840.10008.1.2.1', a.file_meta.TransferSyntaxUID\n" +
      "assert a == b, 'data sets differ'\n" +
      "assert a.pixel_array.tobytes() == b.pixel_array.tobytes()\n";
    const py = await new Deno.Command(PYTHON, { args: ["-c", script, saved, DEFLATED], stderr: "piped" })
      .output();
    assert.equal(py.code, 0, new TextDecoder().decode(py.stderr));
  } finally {
    await Deno.remove(saved);
  }
  // The study level goes the same way.
  const study = await responseParts(await get(r, `/sites/north/studies/${STUDY}`));
  assert.equal(study.length, 1);
  assert.equal(readPart10Header(study[0].body).transferSyntax, TS.ExplicitVRLittleEndian);
});

shared.test("PS3.18 8.7.3.5.2 a deflated object asked with transfer-syntax=* comes as stored", async (r) => {
  const res = await get(r, INSTANCE, {
    headers: { accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
  });
  assert.equal(res.status, 200);
  const [part] = await responseParts(res);
  const header = readPart10Header(part.body);
  assert.equal(header.transferSyntax, TS.DeflatedExplicitVRLittleEndian);
  assert.deepEqual(part.body.subarray(header.datasetOffset), await archivedDataset(r));
});

shared.test("PS3.18 10.4.1.1.3 a deflated object's metadata lists its Pixel Data, whose BulkDataURI gives the inflated value", async (r) => {
  const inflated = new Uint8Array(inflateRawSync(await archivedDataset(r)));
  const pixels = parseDataSet(inflated, encodingOf(TS.ExplicitVRLittleEndian), {}).dataset.elements
    .find((e) => e.tag === 0x7fe00010)!;
  const value = inflated.subarray(pixels.valueOffset, pixels.valueOffset + pixels.length);
  const res = await get(r, `${INSTANCE}/metadata`);
  assert.equal(res.status, 200);
  const [meta] = await res.json() as Record<string, { vr: string; BulkDataURI?: string }>[];
  const attr = meta["7FE00010"];
  assert.ok(attr?.BulkDataURI, "Pixel Data listed (until 2026-12-07 left out)");
  assert.equal(attr.vr, pixels.vr);
  const bulk = await fetch(attr.BulkDataURI, { headers: { authorization: `Bearer ${r.token}` } });
  assert.equal(bulk.status, 200);
  const parts = await responseParts(bulk);
  assert.equal(parts.length, 1);
  assert.equal(parts[0].type, "application/octet-stream");
  assert.deepEqual(parts[0].body, value, "the pixel data inflated, byte for byte");
  // A path that names no bulk value: 404 with the reason.
  const other = await get(r, `${INSTANCE}/bulkdata/00991001`);
  assert.equal(other.status, 404);
  assert.match(await other.text(), /no bulk value/);
});

shared.test("PS3.18 10.4.1.1.3 every BulkDataURI of a deflated object's metadata gives its value (an ICC profile too)", async (r) => {
  // image_dfl.dcm with new UIDs and a 1024-byte ICC Profile, written Deflated by pydicom.
  const dir = await Deno.makeTempDir({ prefix: "conduit-dfl-" });
  const file = path.join(dir, "icc.dcm");
  const uid = "1.2.826.0.1.3680043.10.543.77";
  const script = "import sys, pydicom\n" +
    "ds = pydicom.dcmread(sys.argv[1])\n" +
    `ds.StudyInstanceUID = '${uid}.1'; ds.SeriesInstanceUID = '${uid}.1.1'; ds.SOPInstanceUID = '${uid}.1.1.1'\n` +
    "ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID\n" +
    "ds.ICCProfile = bytes(range(256)) * 4\n" +
    "ds.save_as(sys.argv[2], write_like_original=False)\n";
  try {
    const py = await new Deno.Command(PYTHON, { args: ["-c", script, DEFLATED, file], stderr: "piped" })
      .output();
    assert.equal(py.code, 0, new TextDecoder().decode(py.stderr));
    assert.equal(
      readPart10Header(await Deno.readFile(file)).transferSyntax,
      TS.DeflatedExplicitVRLittleEndian,
    );
    const { body, contentType } = multipartRequest([{ bytes: await Deno.readFile(file) }]);
    const stored = await get(r, `/sites/north/studies/${uid}.1`, {
      method: "POST",
      body,
      token: r.operator,
      headers: { "content-type": contentType },
    });
    assert.equal(stored.status, 200, await stored.text());
    const at = `/sites/north/studies/${uid}.1/series/${uid}.1.1/instances/${uid}.1.1.1`;
    const [meta] = await (await get(r, `${at}/metadata`)).json() as Record<
      string,
      { BulkDataURI?: string }
    >[];
    const uris = Object.entries(meta).filter(([, a]) => a.BulkDataURI);
    assert.deepEqual(uris.map(([tag]) => tag).sort(), ["00282000", "7FE00010"]);
    const icc = await fetch(meta["00282000"].BulkDataURI!, {
      headers: { authorization: `Bearer ${r.token}` },
    });
    assert.equal(icc.status, 200, "until 2026-12-07 a URI of the metadata that was 404");
    const [part] = await responseParts(icc);
    const expected = new Uint8Array(1024).map((_, i) => i % 256);
    assert.deepEqual(part.body, expected);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

shared.tearDown("deflated_retrieve_test: stop the rig");

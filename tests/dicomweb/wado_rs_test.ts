/**
 * DICOMweb retrieval (WADO-RS) through the hub with a real client (npm dicomweb-client, the one OHIF
 * uses) against a site whose agent serves its own archive, and the error paths with plain fetch:
 * instances, series and studies, metadata and bulk data, frames, the default transfer syntax. Test names
 * cite the PS3.18 section each part checks.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { datasetBytes, listFiles } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { installXhr } from "../support/xhr.ts";
import {
  datasetToJson,
  encodingOf,
  instanceAttributes,
  parseDataSet,
  readPart10Header,
} from "@conduit/shared/dicom";
import { responseParts } from "../support/multipart.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { CT, CT_STUDY, get, setUp, stopRig, value } from "./_dicomweb.ts";

installXhr();
const skip = skipReason("storescu");
if (skip) console.warn(`wado_rs_test: skipped: ${skip}`);

const shared = sharedRig({ skip, setUp, stop: stopRig });
const dwTest = shared.test;

dwTest(
  "PS3.18 10.4 WADO-RS: instance, series and study as multipart/related application/dicom",
  async (r) => {
    const sop = readPart10Header(await Deno.readFile(CT)).sopInstanceUid!;
    const series = await r.client.searchForSeries({ studyInstanceUID: CT_STUDY }) as Record<
      string,
      { Value?: unknown[] }
    >[];
    const seriesUid = String(value(series[0], "0020000E"));
    const instance = await r.client.retrieveInstance({
      studyInstanceUID: CT_STUDY,
      seriesInstanceUID: seriesUid,
      sopInstanceUID: sop,
    });
    const file = await Deno.makeTempFile();
    await Deno.writeFile(file, new Uint8Array(instance as ArrayBuffer));
    const archived = (await listFiles(r.north.dataDir)).find((f) => f.endsWith(`${sop}.dcm`))!;
    assert.deepEqual(
      await datasetBytes(file),
      await datasetBytes(archived),
      "the data set byte for byte as archived",
    );
    assert.equal(readPart10Header(await Deno.readFile(file)).sopInstanceUid, sop);
    const study = await r.client.retrieveStudy({ studyInstanceUID: CT_STUDY }) as ArrayBuffer[];
    assert.equal(study.length, 1);
    // Stored as explicit VR little endian: the default syntax; an explicit other one is 406.
    const res = await get(r, `/sites/north/studies/${CT_STUDY}`, {
      headers: {
        accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50',
      },
    });
    assert.equal(res.status, 406);
    await res.body?.cancel();
    const png = await get(r, `/sites/north/studies/${CT_STUDY}`, { headers: { accept: "image/png" } });
    assert.equal(png.status, 406);
    await png.body?.cancel();
    const missing = await get(r, "/sites/north/studies/1.2.3.4");
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    // Federated retrieval by UID finds the site.
    const fed = await get(r, `/studies/${CT_STUDY}`, {
      headers: { accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
    });
    assert.equal(fed.status, 200);
    assert.match(fed.headers.get("content-type") ?? "", /^multipart\/related/);
    assert.ok((await fed.arrayBuffer()).byteLength > 30_000);
  },
);

dwTest(
  "WADO-RS one instance as application/dicom (single part, as cloud DICOMweb services give it)",
  async (r) => {
    const sop = readPart10Header(await Deno.readFile(CT)).sopInstanceUid!;
    const archived = (await listFiles(r.north.dataDir)).find((f) => f.endsWith(`${sop}.dcm`))!;
    const [series] = await r.client.searchForSeries({ studyInstanceUID: CT_STUDY }) as Record<
      string,
      { Value?: unknown[] }
    >[];
    const instance = `/sites/north/studies/${CT_STUDY}/series/${value(series, "0020000E")}/instances/${sop}`;
    const file = await Deno.makeTempFile({ suffix: ".dcm" });
    for (
      const [accept, syntax] of [
        ["application/dicom", "1.2.840.10008.1.2.1"],
        ["application/dicom; transfer-syntax=*", "1.2.840.10008.1.2.1"],
        // Re-encoded at the site: the length announced is still the body's.
        ["application/dicom; transfer-syntax=1.2.840.10008.1.2", "1.2.840.10008.1.2"],
      ]
    ) {
      const res = await get(r, instance, { headers: { accept } });
      assert.equal(res.status, 200, accept);
      assert.equal(res.headers.get("content-type"), `application/dicom; transfer-syntax=${syntax}`);
      const body = new Uint8Array(await res.arrayBuffer());
      assert.equal(Number(res.headers.get("content-length")), body.byteLength, accept);
      const meta = readPart10Header(body);
      assert.deepEqual([meta.sopInstanceUid, meta.transferSyntax], [sop, syntax]);
      if (syntax === "1.2.840.10008.1.2.1") {
        await Deno.writeFile(file, body);
        assert.deepEqual(await datasetBytes(file), await datasetBytes(archived), "as archived");
      }
    }
    const study = await get(r, `/sites/north/studies/${CT_STUDY}`, {
      headers: { accept: "application/dicom" },
    });
    assert.equal(study.status, 406, "a study is not one instance");
    await study.body?.cancel();

    // An object whose archived bytes changed since they were hashed: the body ends short of its length,
    // so no client takes it for the whole file.
    const dir = await Deno.makeTempDir({ prefix: "wado-single-" });
    const generated = await writeGeneratedSeries(dir, {
      count: 1,
      rows: 64,
      columns: 64,
      seed: "wado-single",
    });
    assert.equal((await storescu(generated.paths, r.north)).code, 0);
    const { sopInstanceUid } = readPart10Header(await Deno.readFile(generated.paths[0]));
    const path =
      `/sites/north/studies/${generated.studyUid}/series/${generated.seriesUid}/instances/${sopInstanceUid}`;
    const whole = await get(r, path, { headers: { accept: "application/dicom" } });
    assert.equal(whole.status, 200);
    await whole.arrayBuffer(); // served, so hashed and recorded
    const stored = (await listFiles(r.north.dataDir)).find((f) => f.endsWith(`${sopInstanceUid}.dcm`))!;
    const bytes = await Deno.readFile(stored);
    bytes[bytes.length - 10] ^= 0xff;
    await Deno.writeFile(stored, bytes);
    const changed = await get(r, path, { headers: { accept: "application/dicom" } });
    assert.equal(changed.status, 200);
    const announced = Number(changed.headers.get("content-length"));
    const got = await changed.arrayBuffer().then((b) => b.byteLength, () => -1);
    assert.ok(got < announced, `a changed object is not answered whole (${got} of ${announced} bytes)`);
  },
);

dwTest(
  "PS3.18 10.4.1.1.2 WADO-RS metadata as DICOM JSON with BulkDataURI; 10.4.1.1.3 bulk data",
  async (r) => {
    const meta = await r.client.retrieveStudyMetadata({ studyInstanceUID: CT_STUDY }) as Record<
      string,
      { vr: string; Value?: unknown[]; BulkDataURI?: string }
    >[];
    assert.equal(meta.length, 1);
    const ds = meta[0];
    assert.deepEqual(ds["00100010"], { vr: "PN", Value: [{ Alphabetic: "CompressedSamples^CT1" }] });
    assert.deepEqual(ds["00280010"], { vr: "US", Value: [128] }); // Rows
    assert.equal(ds["00200013"].vr, "IS");
    assert.equal(typeof ds["00200013"].Value![0], "number");
    const pixelUri = ds["7FE00010"].BulkDataURI!;
    const sop = readPart10Header(await Deno.readFile(CT)).sopInstanceUid!;
    assert.match(
      pixelUri,
      new RegExp(
        `^${r.base}/sites/north/studies/${CT_STUDY}/series/[0-9.]+/instances/${sop}/bulkdata/7FE00010$`,
      ),
    );
    const res = await fetch(pixelUri, { headers: { authorization: `Bearer ${r.token}` } });
    assert.equal(res.status, 200);
    assert.match(
      res.headers.get("content-type") ?? "",
      /^multipart\/related; type="application\/octet-stream"/,
    );
    const body = new Uint8Array(await res.arrayBuffer());
    assert.ok(
      body.byteLength > 128 * 128 * 2 && body.byteLength < 128 * 128 * 2 + 300,
      `bulk body ${body.byteLength} bytes`,
    );
    const seriesUid = /series\/([0-9.]+)\//.exec(pixelUri)![1];
    const one = await r.client.retrieveInstanceMetadata({
      studyInstanceUID: CT_STUDY,
      seriesInstanceUID: seriesUid,
      sopInstanceUID: sop,
    }) as unknown[];
    assert.equal(one.length, 1);
    const nothing = await get(
      r,
      `/sites/north/studies/${CT_STUDY}/series/${seriesUid}/instances/${sop}/bulkdata/00990099`,
    );
    assert.equal(nothing.status, 404);
    await nothing.body?.cancel();
  },
);

Deno.test({
  name: "PS3.18 10.4.1.1.4 WADO-RS frames: native and encapsulated, only the asked ones, in order",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await shared.get();
    const files = ["rtdose.dcm", "SC_rgb_rle_2frame.dcm", "JPEG2000.dcm"]
      .map((f) => path.join(PYDICOM_TEST_FILES_DIR, f));
    for (const f of files) {
      const sent = await storescu([f], r.north);
      assert.equal(sent.code, 0, sent.stderr);
    }
    const pixelsOf = async (file: string) => {
      const bytes = await Deno.readFile(file);
      const header = readPart10Header(bytes);
      const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), {
        start: header.datasetOffset,
      });
      const attrs = instanceAttributes(bytes, dataset, header);
      const el = dataset.elements.find((e) => e.tag === 0x7fe00010)!;
      return { bytes, attrs, el };
    };
    const framesUrl = (
      attrs: { studyInstanceUid: string; seriesInstanceUid: string; sopInstanceUid: string },
      list: string,
    ) =>
      `/sites/north/studies/${attrs.studyInstanceUid}/series/${attrs.seriesInstanceUid}/instances/${attrs.sopInstanceUid}/frames/${list}`;
    const parts = responseParts;

    // Native: 15 frames of 10 × 10 × 32 bit (implicit VR); frames 5 and 2, in that order.
    const mr = await pixelsOf(files[0]);
    const native = await get(r, framesUrl(mr.attrs, "5,2"), {
      headers: { accept: 'multipart/related; type="application/octet-stream"' },
    });
    assert.equal(native.status, 200);
    const got = await parts(native);
    assert.equal(got.length, 2);
    const frame = (n: number) =>
      mr.bytes.subarray(mr.el.valueOffset + (n - 1) * 400, mr.el.valueOffset + n * 400);
    assert.equal(got[0].type, "application/octet-stream");
    assert.deepEqual(got[0].body, frame(5));
    assert.deepEqual(got[1].body, frame(2));

    // The same through dicomweb-client.
    const viaClient = await r.client.retrieveInstanceFrames({
      studyInstanceUID: mr.attrs.studyInstanceUid,
      seriesInstanceUID: mr.attrs.seriesInstanceUid,
      sopInstanceUID: mr.attrs.sopInstanceUid,
      frameNumbers: [3],
    }) as ArrayBuffer[];
    assert.equal(viaClient.length, 1);
    assert.deepEqual(new Uint8Array(viaClient[0]), frame(3));

    // Encapsulated RLE, 2 frames: frame 2 is the second fragment, as stored.
    const rle = await pixelsOf(files[1]);
    const encapsulated = await get(r, framesUrl(rle.attrs, "2"), {
      headers: { accept: 'multipart/related; type="image/x-dicom-rle"' },
    });
    assert.equal(encapsulated.status, 200);
    const [second] = await parts(encapsulated);
    assert.match(second.type, /^image\/x-dicom-rle; transfer-syntax=1\.2\.840\.10008\.1\.2\.5$/);
    const fragment = rle.el.fragments![2];
    assert.deepEqual(
      second.body,
      rle.bytes.subarray(fragment.valueOffset, fragment.valueOffset + fragment.length),
    );

    // Frames asked in a media type no frame is served in: 406. A frame past the last: 404.
    const j2k = await pixelsOf(files[2]);
    const wrong = await get(r, framesUrl(j2k.attrs, "1"), {
      headers: { accept: 'multipart/related; type="image/png"' },
    });
    assert.equal(wrong.status, 406);
    await wrong.body?.cancel();
    const past = await get(r, framesUrl(mr.attrs, "16"));
    assert.equal(past.status, 404);
    await past.body?.cancel();
  },
});

Deno.test({
  name:
    "PS3.18 8.7.3.5.2 WADO-RS default syntax: an Implicit VR object is answered in Explicit VR Little Endian",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await shared.get();
    const file = path.join(PYDICOM_TEST_FILES_DIR, "MR_small_implicit.dcm");
    const sent = await storescu([file], r.north);
    assert.equal(sent.code, 0, sent.stderr);
    const source = await Deno.readFile(file);
    const sh = readPart10Header(source);
    assert.equal(sh.transferSyntax, "1.2.840.10008.1.2");
    const { dataset: sds } = parseDataSet(source, encodingOf(sh.transferSyntax), { start: sh.datasetOffset });
    const attrs = instanceAttributes(source, sds, sh);
    const res = await get(
      r,
      `/sites/north/studies/${attrs.studyInstanceUid}/series/${attrs.seriesInstanceUid}/instances/${attrs.sopInstanceUid}`,
    );
    assert.equal(res.status, 200);
    const [only] = await responseParts(res);
    assert.equal(only.type, "application/dicom; transfer-syntax=1.2.840.10008.1.2.1");
    const part = only.body;
    const rh = readPart10Header(part);
    assert.equal(rh.transferSyntax, "1.2.840.10008.1.2.1");
    const { dataset: rds } = parseDataSet(part, encodingOf(rh.transferSyntax), { start: rh.datasetOffset });
    // Same elements in the same order; the same values wherever the dictionary knew the VR; pixels unchanged.
    assert.deepEqual(
      rds.elements.map((e) => e.tag),
      sds.elements.map((e) => e.tag).filter((t) => t !== 0xfffcfffc),
    );
    const sj = datasetToJson(source, sds, { littleEndian: true });
    const rj = datasetToJson(part, rds, { littleEndian: true });
    for (const [tag, v] of Object.entries(sj)) {
      if (v.vr !== "UN" && tag !== "7FE00010") assert.deepEqual(rj[tag], v, tag);
    }
    const pixels = (b: Uint8Array, ds: typeof sds) => {
      const el = ds.elements.find((e) => e.tag === 0x7fe00010)!;
      return b.subarray(el.valueOffset, el.valueOffset + el.length);
    };
    assert.deepEqual(pixels(part, rds), pixels(source, sds));
  },
});

shared.tearDown("wado-rs tests: tear down");

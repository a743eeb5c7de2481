/**
 * PS3.18 Table 10.6.3-5: an instance search returns Rows, Columns, BitsAllocated and NumberOfFrames (when
 * the instance has them), as viewers size their requests by them. Through the hub from a real agent that
 * received pydicom's CT_small and MR_small by C-STORE and rtdose (15 frames) by STOW-RS: the values are the
 * files' own, as numbers in the DICOM JSON model (US and IS).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { encodingOf, instanceAttributes, parseDataSet, readPart10Header } from "@conduit/shared/dicom";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { CT, get, MR, type Rig, setUp, stopRig } from "./_dicomweb.ts";

const DOSE = path.join(PYDICOM_TEST_FILES_DIR, "rtdose.dcm");

const skip = skipReason("storescu");
if (skip) console.warn(`qido_instances_test: skipped: ${skip}`);

const shared = sharedRig<Rig>({
  skip,
  async setUp() {
    const r = await setUp();
    // The multi-frame object arrives by STOW-RS: the hub sends it to the agent through the tunnel.
    const boundary = "d0se";
    const enc = new TextEncoder();
    const res = await get(r, "/sites/north/studies", {
      method: "POST",
      token: r.operator,
      body: new Blob([
        enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
        await Deno.readFile(DOSE),
        enc.encode(`\r\n--${boundary}--\r\n`),
      ]),
      headers: { "content-type": `multipart/related; type="application/dicom"; boundary=${boundary}` },
    });
    assert.equal(res.status, 200, await res.clone().text());
    await res.body?.cancel();
    return r;
  },
  stop: stopRig,
});

type Json = Record<string, { vr: string; Value?: unknown[] }>;

/** A file's UIDs and image attributes as its header has them. */
async function facts(file: string) {
  const bytes = await Deno.readFile(file);
  const header = readPart10Header(bytes);
  const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), {
    start: header.datasetOffset,
    stopAtTag: 0x7fe00010,
  });
  return instanceAttributes(bytes, dataset, header);
}

/** The four attributes of a QIDO-RS instance result, each as DICOM JSON has it. */
const image = (ds: Json) => ({
  Rows: ds["00280010"],
  Columns: ds["00280011"],
  BitsAllocated: ds["00280100"],
  NumberOfFrames: ds["00280008"],
});

const asJson = (vr: string, v: number | null) => v === null ? { vr } : { vr, Value: [v] };

shared.test("PS3.18 10.6.3 QIDO-RS instances carry Rows, Columns, BitsAllocated, NumberOfFrames", async (r) => {
  const res = await get(r, "/sites/north/instances");
  assert.equal(res.status, 200);
  const found = await res.json() as Json[];
  assert.equal(found.length, 3);
  for (const file of [CT, MR, DOSE]) {
    const a = await facts(file);
    const ds = found.find((d) => d["00080018"]?.Value?.[0] === a.sopInstanceUid);
    assert.ok(ds, `${path.basename(file)} is found`);
    assert.deepEqual(image(ds), {
      Rows: asJson("US", a.rows),
      Columns: asJson("US", a.columns),
      BitsAllocated: asJson("US", a.bitsAllocated),
      NumberOfFrames: asJson("IS", a.numberOfFrames),
    }, path.basename(file));
  }
  // What the files hold, so that the comparison above is not of two empty readings.
  const ctUid = readPart10Header(await Deno.readFile(CT)).sopInstanceUid;
  const ct = found.find((d) => d["00080018"]?.Value?.[0] === ctUid)!;
  assert.deepEqual(image(ct), {
    Rows: { vr: "US", Value: [128] },
    Columns: { vr: "US", Value: [128] },
    BitsAllocated: { vr: "US", Value: [16] },
    NumberOfFrames: { vr: "IS" },
  });
});

shared.test("PS3.18 10.6.3 QIDO-RS a series' instances: a multi-frame object's NumberOfFrames", async (r) => {
  const a = await facts(DOSE);
  const res = await get(
    r,
    `/sites/north/studies/${a.studyInstanceUid}/series/${a.seriesInstanceUid}/instances`,
  );
  assert.equal(res.status, 200);
  const [dose, ...more] = await res.json() as Json[];
  assert.equal(more.length, 0);
  assert.deepEqual(image(dose), {
    Rows: { vr: "US", Value: [10] },
    Columns: { vr: "US", Value: [10] },
    BitsAllocated: { vr: "US", Value: [32] },
    NumberOfFrames: { vr: "IS", Value: [15] },
  });
  // Matched too, as the archive's other numbers are (no Warning that the key was ignored).
  const matched = await get(r, "/sites/north/instances?NumberOfFrames=15");
  assert.equal(matched.headers.get("warning"), null);
  assert.deepEqual((await matched.json() as Json[]).map((d) => d["00080018"]?.Value?.[0]), [
    a.sopInstanceUid,
  ]);
});

shared.tearDown("qido instances tests: tear down");

/**
 * DICOMweb through the hub with a real client (npm dicomweb-client, the one OHIF uses) against a
 * site whose agent serves its own archive, and the error paths with plain fetch. Test names cite
 * the PS3.18 section each part checks.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { api } from "dicomweb-client";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { type AgentProcess, datasetBytes, listFiles, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, siteArgs, startTestHub, type TestHub } from "../support/hub.ts";
import { installXhr } from "../support/xhr.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import {
  datasetToJson,
  encodingOf,
  instanceAttributes,
  parseDataSet,
  readPart10Header,
} from "@conduit/shared/dicom";
import { responseParts } from "../support/multipart.ts";
import { sharedRig } from "../support/shared_rig.ts";

installXhr();
const skip = skipReason("storescu");
if (skip) console.warn(`dicomweb_test: skipped: ${skip}`);

const CT = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
const MR = path.join(PYDICOM_TEST_FILES_DIR, "MR_small.dcm");
const CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";

/** The part of dicomweb-client used here (its generated typings make every option mandatory). */
interface Client {
  searchForStudies(options?: object): Promise<unknown>;
  searchForSeries(options?: object): Promise<unknown>;
  searchForInstances(options?: object): Promise<unknown>;
  retrieveInstance(options: object): Promise<unknown>;
  retrieveStudy(options: object): Promise<unknown>;
  retrieveStudyMetadata(options: object): Promise<unknown>;
  retrieveInstanceMetadata(options: object): Promise<unknown>;
  retrieveInstanceFrames(options: object): Promise<unknown>;
  storeInstances(options: object): Promise<unknown>;
}

interface Rig {
  hub: TestHub;
  north: AgentProcess;
  /** A viewer's token: reads only. */
  token: string;
  /** An operator's token: also stores (STOW-RS). */
  operator: string;
  southOnly: string;
  base: string;
  client: Client;
}

async function setUp(): Promise<Rig> {
  const hub = await startTestHub();
  // South is enrolled but never connects: federation must say it is missing.
  await hub.registry.enroll((await hub.registry.add("south")).enrollmentToken);
  const north = await startAgentProcess({
    aet: "NORTH",
    args: await siteArgs(hub, "north"),
  });
  const sent = await storescu([CT, MR], north);
  assert.equal(sent.code, 0, sent.stderr);
  await eventually("north online", () => hub.sessions.get("north"));
  const token = (await hub.tokens.create("tests", "viewer")).token;
  const operator = (await hub.tokens.create("stow", "operator")).token;
  const southOnly = (await hub.tokens.create("south only", "viewer", ["south"])).token;
  const base = `http://127.0.0.1:${hub.port}/dicomweb`;
  const client = new api.DICOMwebClient({
    url: `${base}/sites/north`,
    headers: { Authorization: `Bearer ${token}` },
  } as never) as unknown as Client;
  return { hub, north, token, operator, southOnly, base, client };
}

const shared = sharedRig({
  skip,
  setUp,
  stop: async (r) => {
    await r.north.stop();
    await r.hub.stop();
  },
});
const dwTest = shared.test;

const get = (r: Rig, p: string, init: RequestInit & { token?: string | null } = {}) =>
  fetch(`${r.base}${p}`, {
    ...init,
    headers: {
      ...(init.token === null ? {} : { authorization: `Bearer ${init.token ?? r.token}` }),
      ...(init.headers as Record<string, string> ?? {}),
    },
  });

const value = (ds: Record<string, { Value?: unknown[] }>, tag: string) => ds[tag]?.Value?.[0];

dwTest("PS3.18 10.6 QIDO-RS: studies, series and instances of a site through dicomweb-client", async (r) => {
  const studies = await r.client.searchForStudies() as Record<string, { Value?: unknown[] }>[];
  assert.equal(studies.length, 2);
  const ct = studies.find((s) => value(s, "0020000D") === CT_STUDY)!;
  assert.ok(ct, "CT_small's study");
  assert.equal(value(ct, "00100020"), "1CT1");
  assert.deepEqual(ct["00080061"].Value, ["CT"]); // ModalitiesInStudy
  assert.equal(value(ct, "00201206"), 1); // NumberOfStudyRelatedSeries
  assert.equal(value(ct, "00201208"), 1); // NumberOfStudyRelatedInstances
  assert.equal(value(ct, "00081190"), `${r.base}/sites/north/studies/${CT_STUDY}`); // RetrieveURL
  const series = await r.client.searchForSeries({ studyInstanceUID: CT_STUDY }) as Record<
    string,
    { Value?: unknown[] }
  >[];
  assert.equal(series.length, 1);
  assert.equal(value(series[0], "00080060"), "CT");
  const seriesUid = String(value(series[0], "0020000E"));
  const instances = await r.client.searchForInstances({
    studyInstanceUID: CT_STUDY,
    seriesInstanceUID: seriesUid,
  }) as Record<string, { Value?: unknown[] }>[];
  assert.equal(instances.length, 1);
  assert.equal(value(instances[0], "00080018"), readPart10Header(await Deno.readFile(CT)).sopInstanceUid);
  assert.match(
    String(value(instances[0], "00081190")),
    new RegExp(`/sites/north/studies/${CT_STUDY}/series/${seriesUid}/instances/`),
  );
});

dwTest(
  "PS3.18 8.3.4 QIDO-RS matching: single value, wildcard, range, UID list; limit and offset",
  async (r) => {
    const q = async (p: string) =>
      (await (await get(r, `/sites/north/studies?${p}`)).json()) as Record<string, { Value?: unknown[] }>[];
    assert.equal((await q("PatientID=1CT1")).length, 1);
    assert.equal((await q("PatientName=CompressedSamples*")).length, 2);
    assert.equal((await q("StudyDate=20040101-20040131")).length, 1);
    assert.equal((await q(`StudyInstanceUID=${CT_STUDY},1.2.3`)).length, 1);
    assert.equal((await q("00100020=1CT1")).length, 1, "a tag in place of a keyword");
    const all = (await q("")).map((s) => value(s, "0020000D"));
    const page1 = (await q("limit=1")).map((s) => value(s, "0020000D"));
    const page2 = (await q("limit=1&offset=1")).map((s) => value(s, "0020000D"));
    assert.deepEqual([...page1, ...page2], all, "limit and offset page through a stable order");
    const withField = await q("PatientID=1CT1&includefield=InstitutionName,00081030");
    assert.ok(
      "00080080" in withField[0] && "00081030" in withField[0],
      "includefield adds the attributes asked for",
    );
  },
);

dwTest(
  "PS3.18 8.3.4.1 QIDO-RS fuzzymatching is refused with a Warning; bad parameters get 400",
  async (r) => {
    const res = await get(r, "/sites/north/studies?fuzzymatching=true");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("warning") ?? "", /^299 .*fuzzymatching/);
    await res.body?.cancel();
    for (const bad of ["limit=abc", "NotAKeyword=1", "offset=-1"]) {
      const b = await get(r, `/sites/north/studies?${bad}`);
      assert.equal(b.status, 400, bad);
      assert.equal(b.headers.get("content-type"), "application/problem+json");
      await b.body?.cancel();
    }
  },
);

dwTest("PS3.18 10.6 federated QIDO-RS merges sites; a site not connected yields a Warning", async (r) => {
  const res = await get(r, "/studies");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("warning") ?? "", /site south is offline/);
  const studies = await res.json() as Record<string, { Value?: unknown[] }>[];
  assert.equal(studies.length, 2);
  assert.ok(studies.every((s) => String(value(s, "00081190")).startsWith(`${r.base}/sites/north/`)));
});

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

dwTest("PS3.18 10.5 STOW-RS stores into the site; failures are listed with their reasons", async (r) => {
  const dir = await Deno.makeTempDir({ prefix: "stow-" });
  const gen = await writeGeneratedSeries(dir, { count: 3, rows: 32, columns: 32, seed: "stow" });
  const buffers = await Promise.all(
    gen.paths.map(async (p) => (await Deno.readFile(p)).buffer as ArrayBuffer),
  );
  const storer = new api.DICOMwebClient({
    url: `${r.base}/sites/north`,
    headers: { Authorization: `Bearer ${r.operator}` },
  } as never) as unknown as Client;
  await storer.storeInstances({ datasets: buffers });
  const found = await r.client.searchForInstances({ studyInstanceUID: gen.studyUid }) as unknown[];
  assert.equal(found.length, 3);
  // A part that is not DICOM, next to a good one: 202 with both sequences.
  const boundary = "b0undary";
  const enc = new TextEncoder();
  const good = await Deno.readFile(gen.paths[0]);
  const body = new Blob([
    enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
    good,
    enc.encode(
      `\r\n--${boundary}\r\nContent-Type: application/dicom\r\n\r\nnot dicom at all\r\n--${boundary}--\r\n`,
    ),
  ]);
  const res = await get(r, "/sites/north/studies", {
    method: "POST",
    token: r.operator,
    body,
    headers: { "content-type": `multipart/related; type="application/dicom"; boundary=${boundary}` },
  });
  assert.equal(res.status, 202);
  const answer = await res.json() as Record<string, { Value?: Record<string, { Value?: unknown[] }>[] }>;
  assert.equal(answer["00081199"].Value!.length, 1);
  assert.equal(value(answer["00081198"].Value![0], "00081197"), 0xc000);
  // Wrong study for /studies/{study}: 409 with FailureReason 0xA900.
  const wrong = await get(r, "/sites/north/studies/1.2.3", {
    method: "POST",
    token: r.operator,
    body: new Blob([
      enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
      good,
      enc.encode(`\r\n--${boundary}--\r\n`),
    ]),
    headers: { "content-type": `multipart/related; type="application/dicom"; boundary=${boundary}` },
  });
  assert.equal(wrong.status, 409);
  const w = await wrong.json() as Record<string, { Value?: Record<string, { Value?: unknown[] }>[] }>;
  assert.equal(value(w["00081198"].Value![0], "00081197"), 0xa900);
  // Not multipart: 415. A truncated multipart body: 400.
  const json = await get(r, "/sites/north/studies", {
    method: "POST",
    token: r.operator,
    body: "{}",
    headers: { "content-type": "application/json" },
  });
  assert.equal(json.status, 415);
  await json.body?.cancel();
  const cut = await get(r, "/sites/north/studies", {
    method: "POST",
    token: r.operator,
    body: `--${boundary}\r\nContent-Type: application/dicom\r\n\r\nDICM`,
    headers: { "content-type": `multipart/related; type="application/dicom"; boundary=${boundary}` },
  });
  assert.equal(cut.status, 400);
  await cut.body?.cancel();
});

dwTest(
  "PS3.18 8.1 auth: 401 without a valid token, 403 for a site the token may not reach, 404 unknown site",
  async (r) => {
    for (
      const [token, status] of [[null, 401], ["ctk.000000000000.AAAAAAAAAAAAAAAAAAAAAAAA", 401], [
        r.southOnly,
        403,
      ]] as const
    ) {
      const res = await get(r, "/sites/north/studies", { token });
      assert.equal(res.status, status);
      await res.body?.cancel();
    }
    const unknown = await get(r, "/sites/nowhere/studies");
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
    const offline = await get(r, "/sites/south/studies");
    assert.equal(offline.status, 503);
    await offline.body?.cancel();
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

shared.tearDown("dicomweb tests: tear down");

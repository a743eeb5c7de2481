/**
 * DICOMweb search, store and access through the hub with a real client (npm dicomweb-client, the one
 * OHIF uses) against a site whose agent serves its own archive, and the error paths with plain fetch:
 * QIDO-RS, STOW-RS and authorization. Retrieval (WADO-RS) is in wado_rs_test.ts. Test names cite the
 * PS3.18 section each part checks.
 */
import assert from "node:assert/strict";
import { api } from "dicomweb-client";
import { skipReason } from "../support/peers.ts";
import { installXhr } from "../support/xhr.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { readPart10Header } from "@conduit/shared/dicom";
import { sharedRig } from "../support/shared_rig.ts";
import { type Client, CT, CT_STUDY, get, setUp, stopRig, value } from "./_dicomweb.ts";

installXhr();
const skip = skipReason("storescu");
if (skip) console.warn(`dicomweb_test: skipped: ${skip}`);

const shared = sharedRig({ skip, setUp, stop: stopRig });
const dwTest = shared.test;

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
    // The study keeps its institution and the patient's age at it (until 2026-12-07 both came back empty).
    const everything = await q("PatientID=1CT1&includefield=all");
    assert.equal(value(everything[0], "00080080"), "JFK IMAGING CENTER");
    assert.equal(value(everything[0], "00101010"), "000Y");
    assert.equal((await q("InstitutionName=JFK*")).length, 1, "matched too");
  },
);

dwTest(
  "PS3.18 8.3.4.1 QIDO-RS fuzzymatching is refused with a Warning; bad parameters get 400",
  async (r) => {
    const res = await get(r, "/sites/north/studies?fuzzymatching=true");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("warning") ?? "", /^299 .*fuzzymatching/);
    await res.body?.cancel();
    // A number with a wildcard, a range or letters can match nothing (PS3.4 C.2.2.2.4): said, not [].
    for (const bad of ["limit=abc", "NotAKeyword=1", "offset=-1", "NumberOfStudyRelatedSeries=1*"]) {
      const b = await get(r, `/sites/north/studies?${bad}`);
      assert.equal(b.status, 400, bad);
      assert.equal(b.headers.get("content-type"), "application/problem+json");
      await b.body?.cancel();
    }
  },
);

dwTest(
  "PS3.18 8.3.4 (CP 1583) QIDO-RS names in a Warning the keys the site's archive does not match on, and a limit it cuts",
  async (r) => {
    const all = await get(r, "/sites/north/studies");
    const every = (await all.json() as unknown[]).length;
    assert.equal(all.headers.get("warning"), null, "no key, no warning");
    for (const key of ["OperatorsName=NOPE", "SOPInstanceUID=1.2.3", "Modality=CT"]) {
      const res = await get(r, `/sites/north/studies?${key}`);
      assert.equal(res.status, 200, key);
      const name = key.split("=")[0];
      assert.match(
        res.headers.get("warning") ?? "",
        new RegExp(`^299 .*not supported for matching.*${name}`),
        key,
      );
      assert.equal((await res.json() as unknown[]).length, every, `${key} is not a filter there`);
    }
    const big = await get(r, "/sites/north/studies?limit=20000");
    assert.match(big.headers.get("warning") ?? "", /^299 .*limit of 20000 exceeds the maximum of 10000/);
    assert.equal((await big.json() as unknown[]).length, every);
    // Matched keys, and keys only asked for, are not named.
    const matched = await get(r, "/sites/north/studies?PatientID=1CT1&includefield=InstitutionName");
    assert.equal(matched.headers.get("warning"), null);
    await matched.body?.cancel();
    const series = await get(r, `/sites/north/series?Modality=CT`);
    assert.equal(series.headers.get("warning"), null, "Modality is matched at the series level");
    await series.body?.cancel();
    // A tag the dictionary does not name (a private one, PS3.18 8.3.4.1 takes any tag): ignored, named.
    for (const key of ["00091001=GE*", "includefield=00091001"]) {
      const res = await get(r, `/sites/north/studies?${key}`);
      assert.equal(res.status, 200, key);
      assert.match(res.headers.get("warning") ?? "", /^299 .*not in the DICOM dictionary.*00091001/, key);
      const got = await res.json() as Record<string, unknown>[];
      assert.equal(got.length, every, `${key} is not a filter`);
      assert.ok(!got.some((ds) => "00091001" in ds), `${key}: not returned`);
    }
    const federated = await get(r, "/studies?OperatorsName=NOPE");
    assert.match(federated.headers.get("warning") ?? "", /OperatorsName/);
    await federated.body?.cancel();
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
  // An answer the client does not take (XML only): 406 before the body is read, nothing stored.
  const other = await writeGeneratedSeries(dir, { count: 1, rows: 8, columns: 8, seed: "stow-xml" });
  const xml = await get(r, "/sites/north/studies", {
    method: "POST",
    token: r.operator,
    body: new Blob([
      enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
      await Deno.readFile(other.paths[0]),
      enc.encode(`\r\n--${boundary}--\r\n`),
    ]),
    headers: {
      "content-type": `multipart/related; type="application/dicom"; boundary=${boundary}`,
      accept: "application/dicom+xml",
    },
  });
  assert.equal(xml.status, 406);
  assert.equal(xml.headers.get("content-type"), "application/problem+json");
  await xml.body?.cancel();
  assert.deepEqual(await r.client.searchForInstances({ studyInstanceUID: other.studyUid }), []);
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

shared.tearDown("dicomweb tests: tear down");

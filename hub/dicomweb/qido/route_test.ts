import assert from "node:assert/strict";
import { generateStudies } from "@conduit/shared/testing";
import { jsonString } from "@conduit/shared/dicom";
import { memoryDicomweb, MemorySite } from "../testing.ts";

const specs = (seed: string) => [
  ...generateStudies({
    seed,
    patients: 2,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 2 }],
    rows: 8,
    columns: 8,
  }),
];

const json = async (res: Response) => {
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get("content-type"), "application/dicom+json");
  return await res.json();
};

Deno.test("QIDO-RS studies of a site: each level's attributes, RetrieveURL under the public URL", async () => {
  const north = new MemorySite(specs("north"));
  const hub = memoryDicomweb({ north });
  const studies = await json(await hub.request("/dicomweb/sites/north/studies"));
  assert.equal(studies.length, 2);
  const uids = new Set(north.objects.map((o) => jsonString(o.json, "StudyInstanceUID")));
  for (const s of studies) {
    const uid = jsonString(s, "StudyInstanceUID")!;
    assert.ok(uids.has(uid));
    assert.equal(s["00081190"].Value[0], `http://hub.test/dicomweb/sites/north/studies/${uid}`);
    assert.ok(s["00100020"], "PatientID is returned at study level");
  }
  const study = jsonString(studies[0], "StudyInstanceUID");
  const instances = await json(await hub.request(`/dicomweb/sites/north/studies/${study}/instances`));
  assert.equal(instances.length, 2);
  assert.match(
    instances[0]["00081190"].Value[0],
    new RegExp(`/studies/${study}/series/[0-9.]+/instances/[0-9.]+$`),
  );
});

Deno.test("QIDO-RS matching, limit and offset reach the backend as parsed", async () => {
  const north = new MemorySite(specs("north"));
  const hub = memoryDicomweb({ north });
  const id = north.objects[0].json["00100020"].Value![0] as string;
  const one = await json(await hub.request(`/dicomweb/sites/north/studies?PatientID=${id}`));
  assert.deepEqual(one.map((s: Record<string, { Value: string[] }>) => s["00100020"].Value[0]), [id]);
  const wild = await json(await hub.request(`/dicomweb/sites/north/studies?PatientID=${id.slice(0, -1)}*`));
  assert.ok(wild.length >= 1);
  const all = await json(await hub.request("/dicomweb/sites/north/studies"));
  const second = await json(await hub.request("/dicomweb/sites/north/studies?limit=1&offset=1"));
  assert.deepEqual(second, [all[1]]);
  const none = await json(await hub.request("/dicomweb/sites/north/studies?PatientID=NOBODY"));
  assert.deepEqual(none, []);
});

Deno.test("QIDO-RS refuses bad parameters (400), and says fuzzy matching was not done", async () => {
  const hub = memoryDicomweb({ north: new MemorySite(specs("north")) });
  for (const q of ["limit=0", "NoSuchKeyword=1", "StudyDate=2024-01-01", "fuzzymatching=maybe"]) {
    const res = await hub.request(`/dicomweb/sites/north/studies?${q}`);
    assert.equal(res.status, 400, q);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    await res.body?.cancel();
  }
  // a pattern longer than a PN allows (which a site's GLOB would fail on): refused here, naming the limit
  const long = await hub.request(`/dicomweb/sites/north/studies?PatientName=a*${"x".repeat(50_000)}*`);
  assert.equal(long.status, 400);
  assert.match(await long.text(), /PatientName: longer than the 64 characters a PN component group allows/);
  const fuzzy = await hub.request("/dicomweb/sites/north/studies?fuzzymatching=true");
  assert.match(fuzzy.headers.get("warning") ?? "", /fuzzymatching parameter is not supported/);
  await fuzzy.body?.cancel();
});

Deno.test("QIDO-RS federated: merges the reachable sites, names the others in a Warning", async () => {
  const north = new MemorySite(specs("north"));
  const south = new MemorySite(specs("south"));
  const east = new MemorySite(specs("east"));
  east.online = false;
  const hub = memoryDicomweb({ north, south, east });
  const res = await hub.request("/dicomweb/studies");
  assert.match(res.headers.get("warning") ?? "", /site east is offline; its results are not included/);
  const merged = await json(res);
  assert.equal(merged.length, 4);
  assert.ok(
    merged.some((s: Record<string, { Value: string[] }>) => s["00081190"].Value[0].includes("/sites/south/")),
  );
  // A token limited to north sees north only, and is told why south is left out.
  const limited = memoryDicomweb({ north, south }, {
    kind: "token",
    id: "t",
    name: "north only",
    role: "viewer",
    sites: ["north"],
  });
  const res2 = await limited.request("/dicomweb/studies");
  assert.match(res2.headers.get("warning") ?? "", /site south is outside the token's sites/);
  assert.equal((await json(res2)).length, 2);
  assert.equal((await limited.request("/dicomweb/sites/south/studies")).status, 403);
});

Deno.test("QIDO-RS on an unknown site is 404, on an offline one 503, on a bad name 400", async () => {
  const east = new MemorySite();
  east.online = false;
  const hub = memoryDicomweb({ east });
  assert.equal((await hub.request("/dicomweb/sites/nowhere/studies")).status, 404);
  assert.equal((await hub.request("/dicomweb/sites/east/studies")).status, 503);
  assert.equal((await hub.request("/dicomweb/sites/-bad/studies")).status, 400);
  assert.equal((await hub.request("/dicomweb/sites/east/studies/not-a-uid/series")).status, 400);
});

Deno.test("PS3.18 10.6 QIDO-RS answers DICOM JSON only: another media type is 406", async () => {
  const hub = memoryDicomweb({ north: new MemorySite(specs("north")) });
  for (const accept of ['multipart/related; type="application/dicom+xml"', "application/xml"]) {
    const res = await hub.request("/dicomweb/sites/north/studies", { headers: { accept } });
    assert.equal(res.status, 406, accept);
    assert.match((await res.json()).detail, /application\/dicom\+json/);
  }
  for (const accept of ["application/dicom+json", "application/json", "*/*", "text/html,*/*;q=0.8"]) {
    const res = await hub.request("/dicomweb/sites/north/studies", { headers: { accept } });
    assert.equal(res.status, 200, accept);
    await res.body?.cancel();
  }
});

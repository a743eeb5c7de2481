/**
 * PS3.18 10.4.1: frames and bulk data are resources of an instance *in its study and series*. An instance
 * asked under another study or series is not found (404), as a missing instance is: until 2026-12-04 the
 * site served the instance by its SOP Instance UID alone, whatever study and series the path named.
 * And a path with a trailing slash is the resource without it (until then 404).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { type OneSite, oneSite, search, stopOneSite } from "./_one_site.ts";

const FILES = ["CT_small.dcm", "MR_small.dcm"].map((f) => path.join(PYDICOM_TEST_FILES_DIR, f));

const skip = skipReason("storescu");
if (skip) console.warn(`instance_path_test: skipped: ${skip}`);

const shared = sharedRig<OneSite>({ skip, setUp: () => oneSite(FILES), stop: stopOneSite });

interface Instance {
  study: string;
  series: string;
  sop: string;
}

async function instances(r: OneSite): Promise<Instance[]> {
  const res = await search(r, "/sites/north/instances");
  assert.equal(res.status, 200);
  const value = (j: Record<string, { Value: string[] }>, tag: string) => j[tag].Value[0];
  return (await res.json()).map((j: Record<string, { Value: string[] }>) => ({
    study: value(j, "0020000D"),
    series: value(j, "0020000E"),
    sop: value(j, "00080018"),
  }));
}

const url = (i: Instance) => `/sites/north/studies/${i.study}/series/${i.series}/instances/${i.sop}`;

shared.test("PS3.18 10.4.1 frames and bulk data under the instance's own study and series: 200", async (r) => {
  for (const i of await instances(r)) {
    for (const what of ["frames/1", "bulkdata/7FE00010"]) {
      const res = await search(r, `${url(i)}/${what}`);
      assert.equal(res.status, 200, `${what}: ${await res.clone().text()}`);
      assert.ok((await res.arrayBuffer()).byteLength > 0);
    }
  }
});

shared.test("PS3.18 10.4.1 frames and bulk data under another study or series: 404", async (r) => {
  const [ct, mr] = await instances(r);
  assert.notEqual(ct.study, mr.study);
  const wrong = [
    { ...ct, study: mr.study, series: mr.series }, // another study, and its series
    { ...ct, series: mr.series }, // its study, another series
    { ...ct, study: "1.2.3.999" }, // a study the site does not hold
  ];
  for (const i of wrong) {
    for (const what of ["frames/1", "bulkdata/7FE00010"]) {
      const res = await search(r, `${url(i)}/${what}`);
      const body = await res.text();
      assert.equal(res.status, 404, `${url(i)}/${what}: ${res.status} ${body}`);
      assert.match(body, /no such instance in this study and series/);
    }
  }
});

shared.test("a DICOMweb path with a trailing slash is the path without it, as Orthanc takes it", async (r) => {
  const [ct] = await instances(r);
  for (
    const p of ["/sites/north/studies", `/sites/north/studies/${ct.study}/series`, `${url(ct)}/metadata`]
  ) {
    const plain = await search(r, p);
    const slashed = await search(r, `${p}/`);
    assert.equal(slashed.status, 200, `${p}/: ${await slashed.clone().text()}`);
    assert.deepEqual(await slashed.json(), await plain.json(), p);
  }
  const res = await search(r, "/sites/north/nothing-here/");
  assert.equal(res.status, 404);
  await res.body?.cancel();
});

shared.tearDown("instance_path_test: stop the rig");

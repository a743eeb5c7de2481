/**
 * PS3.18 8.3.4.4 QIDO-RS at a site that answers fewer matches than there are: its agent stops at
 * `dimse.maxFindResults` (here 2, with 3 studies) and says so with 0xA700. The search still answers
 * DICOM JSON, with the matches the site gave.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { type OneSite, oneSite, search, stopOneSite } from "./_one_site.ts";

const FILES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm"].map((f) => path.join(PYDICOM_TEST_FILES_DIR, f));

const skip = skipReason("storescu");
if (skip) console.warn(`qido_limits_test: skipped: ${skip}`);

const shared = sharedRig<OneSite>({
  skip,
  setUp: () => oneSite(FILES, { dimse: { maxFindResults: 2 } }),
  stop: stopOneSite,
});

shared.test("PS3.18 8.3.4.4 QIDO-RS of a site with more matches than it answers: a whole JSON array", async (r) => {
  for (const query of ["", "?limit=3", "?offset=1&limit=5"]) {
    const res = await search(r, `/sites/north/studies${query}`);
    assert.equal(res.status, 200, query);
    const text = await res.text();
    const studies = JSON.parse(text);
    assert.equal(studies.length, query.includes("offset=1") ? 1 : 2, query);
  }
});

shared.test("PS3.18 8.3.4.4 QIDO-RS past what such a site answers: an empty array, with a Warning", async (r) => {
  const res = await search(r, "/sites/north/studies?offset=2");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("warning") ?? "", /^299 .*site north stopped before the offset/);
  assert.deepEqual(await res.json(), []);
});

shared.test("PS3.18 8.3.4.4 federated QIDO-RS keeps such a site's matches, with a Warning", async (r) => {
  const res = await search(r, "/studies");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("warning") ?? "", /^299 .*site north .*more/);
  assert.equal((await res.json()).length, 2);
});

shared.tearDown("qido_limits_test: stop the rig");

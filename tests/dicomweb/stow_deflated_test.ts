/**
 * PS3.18 10.5 STOW-RS of a Deflated Explicit VR Little Endian object (pydicom's image_dfl.dcm) through the
 * hub into a site's archive: the hub reads its UIDs inflated, so the study in the path and the answer's
 * RetrieveURLs are the object's.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { multipartRequest } from "../../hub/dicomweb/testing.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { get, setUp, stopRig } from "./_dicomweb.ts";

const DEFLATED = path.join(PYDICOM_TEST_FILES_DIR, "image_dfl.dcm");
const STUDY = "1.3.6.1.4.1.5962.1.2.0.977067310.6001.0";
const SERIES = "1.3.6.1.4.1.5962.1.3.0.0.977067310.6001.0";
const SOP = "1.3.6.1.4.1.5962.1.1.0.0.0.977067309.6001.0";

const skip = skipReason("storescu");
if (skip) console.warn(`stow_deflated_test: skipped: ${skip}`);
const shared = sharedRig({ skip, setUp, stop: stopRig });

shared.test("PS3.18 10.5 STOW-RS of a deflated object: stored under its own study, RetrieveURLs whole", async (r) => {
  const { body, contentType } = multipartRequest([{ bytes: await Deno.readFile(DEFLATED) }]);
  const res = await get(r, `/sites/north/studies/${STUDY}`, {
    method: "POST",
    body,
    token: r.operator,
    headers: { "content-type": contentType },
  });
  const answer = await res.json();
  assert.equal(res.status, 200, JSON.stringify(answer));
  assert.equal(answer["00081190"].Value[0], `${r.base}/sites/north/studies/${STUDY}`);
  assert.equal(
    answer["00081199"].Value[0]["00081190"].Value[0],
    `${r.base}/sites/north/studies/${STUDY}/series/${SERIES}/instances/${SOP}`,
  );
  const found = await get(r, `/sites/north/studies/${STUDY}/series/${SERIES}/instances`);
  assert.equal((await found.json()).length, 1);
});

shared.tearDown("stow_deflated_test: stop the rig");

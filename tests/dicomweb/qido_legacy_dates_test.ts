/**
 * QIDO-RS date matching on objects whose dates were written before DICOM 3.0 (`yyyy.mm.dd`, PS3.5 Table
 * 6.2-1 asks readers to accept them): pydicom's ExplVR_BigEnd.dcm has StudyDate `1997.04.24`. A search by
 * that date, exact or in a range, finds it, and the date comes back as YYYYMMDD.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { type OneSite, oneSite, search, stopOneSite } from "./_one_site.ts";

const skip = skipReason("storescu");
if (skip) console.warn(`qido_legacy_dates_test: skipped: ${skip}`);

const FILE = path.join(PYDICOM_TEST_FILES_DIR, "ExplVR_BigEnd.dcm");
const shared = sharedRig<OneSite>({ skip, setUp: () => oneSite([FILE]), stop: stopOneSite });

shared.test("PS3.18 8.3.4 QIDO-RS matches a study dated yyyy.mm.dd by its date, exact or in a range", async (r) => {
  for (
    const q of [
      "StudyDate=19970424",
      "StudyDate=19970101-19971231",
      "StudyDate=19970424-",
      "StudyDate=-19970424",
    ]
  ) {
    const res = await search(r, `/sites/north/studies?${q}`);
    assert.equal(res.status, 200, q);
    const found = await res.json() as Record<string, { Value?: unknown[] }>[];
    assert.equal(found.length, 1, q);
    assert.deepEqual(found[0]["00080020"].Value, ["19970424"], q);
  }
  const other = await search(r, "/sites/north/studies?StudyDate=19970425-");
  assert.deepEqual(await other.json(), [], "a range after it does not match");
});

shared.tearDown("qido legacy dates tests: tear down");

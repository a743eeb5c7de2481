/**
 * PS3.18 8.3.4.4 QIDO-RS at a site that answers fewer matches than there are: its agent stops at
 * `dimse.maxFindResults` (here 2, with 3 studies) and says so with 0xA700. The search still answers
 * DICOM JSON, with the matches the site gave. The agent skips a page's offset in its own query, so the cap
 * counts the page's matches, and `offset` pages past it (qa93: the second 10 000 instances of a study of
 * 20 000 could not be listed at all, and every page carried its offset's matches through the tunnel).
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
  for (const query of ["", "?limit=3"]) {
    const res = await search(r, `/sites/north/studies${query}`);
    assert.equal(res.status, 200, query);
    const text = await res.text();
    assert.equal(JSON.parse(text).length, 2, query);
  }
});

shared.test("PS3.18 8.3.4.4 QIDO-RS pages past what such a site answers at once: the offset is the site's", async (r) => {
  const uids = async (query: string) => {
    const res = await search(r, `/sites/north/studies${query}`);
    assert.equal(res.status, 200, query);
    assert.equal(res.headers.get("warning"), null, query);
    return (await res.json()).map((s: Record<string, { Value: string[] }>) => s["0020000D"].Value[0]);
  };
  const first = await uids("?limit=2");
  // The cap (2) counts the matches after the offset: both of the last two, then the third alone.
  const second = await uids("?offset=1&limit=5");
  const third = await uids("?offset=2");
  assert.equal(first.length, 2);
  assert.deepEqual(second.slice(0, 1), first.slice(1));
  assert.equal(second.length, 2);
  assert.deepEqual(third, second.slice(1));
  assert.equal(new Set([...first, ...third]).size, 3, "the three studies, each once");
  assert.deepEqual(await uids("?offset=3"), []);
});

shared.test("PS3.18 8.3.4.4 federated QIDO-RS keeps such a site's matches, with a Warning", async (r) => {
  const res = await search(r, "/studies");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("warning") ?? "", /^299 .*site north .*more/);
  assert.equal((await res.json()).length, 2);
});

shared.test("QIDO-RS: an offset past 1e9, a UID list with a bad UID, a limit given twice are 400 by name", async (r) => {
  const before = r.hub.lines.length;
  for (
    const [query, reason] of [
      // Until 2026-12-06: 502 "the site answered: datatype mismatch".
      ["offset=99999999999999999999", /^offset must be at most 1000000000, not 99999999999999999999$/],
      ["offset=1000000001&limit=5", /^offset must be at most 1000000000/],
      // Until then: 200 and [], as if no study had one of the UIDs.
      ["StudyInstanceUID=1.2.3,abc,4.5", /^StudyInstanceUID: "abc" is not a UID/],
      ["StudyInstanceUID=1.2.*", /^StudyInstanceUID: "1\.2\.\*" is not a UID/],
      ["0020000D=1.2.3,%201.x", /^0020000D: "1\.x" is not a UID/],
      ["StudyInstanceUID=,", /^StudyInstanceUID: "," names no UID$/],
      // Until then: one of the two applied, silently.
      ["limit=1&limit=2", /^limit is given twice with different values \("1", "2"\)$/],
      ["fuzzymatching=true&fuzzymatching=false", /^fuzzymatching is given twice/],
    ] as const
  ) {
    for (const root of ["/sites/north", ""]) {
      const res = await search(r, `${root}/studies?${query}`);
      assert.equal(res.status, 400, `${root} ${query}`);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      assert.match((await res.json()).detail, reason, query);
    }
  }
  // What stays taken: a lone * and an empty value for a UID, empty items of a list (passed over, as the site
  // does), the same value twice, the greatest offset.
  for (
    const query of [
      "StudyInstanceUID=*",
      "StudyInstanceUID=",
      "StudyInstanceUID=1.2.3,,4.5,",
      "limit=2&limit=2",
      "offset=1000000000",
    ]
  ) {
    const res = await search(r, `/sites/north/studies?${query}`);
    assert.equal(res.status, 200, query);
    await res.body?.cancel();
  }
  assert.deepEqual(r.hub.lines.slice(before).filter((l) => /"level":"(error|warn)"/.test(l)), []);
});

shared.tearDown("qido_limits_test: stop the rig");

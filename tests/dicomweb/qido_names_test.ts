/**
 * PS3.18 QIDO-RS person names beyond ASCII, through the hub from a site's archive: pydicom's character
 * set files (a Japanese name with its three component groups, a German one in ISO_IR 100), answered in
 * the DICOM JSON model (F.2.2) and matched as the conformance statement says.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { type OneSite, oneSite, search, stopOneSite } from "./_one_site.ts";

const CHARSETS = path.join(PYDICOM_TEST_FILES_DIR, "../charset_files");
/** Yamada^Tarou=山田^太郎=やまだ^たろう (ISO 2022 IR 87), Äneas^Rüdiger (ISO_IR 100). */
const JAPANESE = path.join(CHARSETS, "chrH31.dcm");
const GERMAN = path.join(CHARSETS, "chrGerm.dcm");

const skip = skipReason("storescu");
if (skip) console.warn(`qido_names_test: skipped: ${skip}`);

const shared = sharedRig<OneSite>({
  skip,
  setUp: () => oneSite([JAPANESE, GERMAN]),
  stop: stopOneSite,
});

async function studies(r: OneSite, query: string): Promise<Record<string, { Value?: unknown[] }>[]> {
  const res = await search(r, `/sites/north/studies?${query}`);
  assert.equal(res.status, 200, await res.clone().text());
  return await res.json();
}

shared.test("PS3.18 F.2.2 QIDO-RS gives a person name's groups as Alphabetic, Ideographic, Phonetic", async (r) => {
  const [study] = await studies(r, "PatientID=H31EXAMPLE");
  assert.deepEqual(study["00100010"].Value, [
    { Alphabetic: "Yamada^Tarou", Ideographic: "山田^太郎", Phonetic: "やまだ^たろう" },
  ]);
});

shared.test("PS3.18 8.3.4.1 QIDO-RS matches a name with non-ASCII letters, sent percent-encoded", async (r) => {
  const ids = async (query: string) => (await studies(r, query)).map((s) => s["00100020"].Value?.[0]);
  assert.deepEqual(await ids(`PatientName=${encodeURIComponent("Äneas^Rüdiger")}`), ["SCSGERM"]);
  assert.deepEqual(await ids(`PatientName=${encodeURIComponent("Äneas*")}`), ["SCSGERM"]);
  assert.deepEqual(
    await ids(`PatientName=${encodeURIComponent("ÄNEAS*")}`),
    ["SCSGERM"],
    "ASCII letters in either case",
  );
});

shared.test("PS3.18 8.3.4.1 QIDO-RS matches the alphabetic group of a name that has three", async (r) => {
  const ids = async (query: string) => (await studies(r, query)).map((s) => s["00100020"].Value?.[0]);
  assert.deepEqual(await ids("PatientName=Yamada^Tarou"), ["H31EXAMPLE"]);
  assert.deepEqual(await ids("PatientName=*Tarou"), ["H31EXAMPLE"]);
  assert.deepEqual(await ids("PatientName=Yamada"), [], "single value matching is not a prefix");
});

shared.test("PS3.18 8.3.4.1 QIDO-RS matches the ideographic or phonetic group a key gives", async (r) => {
  const ids = async (name: string) =>
    (await studies(r, `PatientName=${encodeURIComponent(name)}`)).map((s) => s["00100020"].Value?.[0]);
  assert.deepEqual(await ids("=山田^太郎"), ["H31EXAMPLE"]);
  assert.deepEqual(await ids("==やまだ*"), ["H31EXAMPLE"]);
  assert.deepEqual(await ids("Yamada^Tarou=山田^太郎"), ["H31EXAMPLE"]);
  assert.deepEqual(await ids("=鈴木*"), []);
  assert.deepEqual(await ids("山田*"), ["H31EXAMPLE"], "a key of one group beyond ASCII: any group");
});

shared.tearDown("qido_names_test: stop the rig");

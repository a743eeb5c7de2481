/**
 * PS3.18 10.5 STOW-RS through the hub to an agent of Part 10 files whose data sets have the structure defects
 * a C-STORE's are refused for (File Meta elements at the start, a VR that is no DICOM VR, an undefined length
 * outside SQ, UN and Pixel Data), plain and deflated, and deflated data sets that do not inflate or are cut
 * short: each is listed in the FailedSOPSequence with 0xC000 and the agent's reason in
 * the Warning header, nothing of it is archived, and the good objects of the same request are stored. Until
 * 2026-12-06 deflated ones with any of the defects, or cut short, were stored. A plain part's group 0002
 * elements after its File Meta group length are read as more of that group (as pydicom reads them; the agent
 * writes its own): that part is stored, its data set as it was before the element was put in.
 */
import assert from "node:assert/strict";
import { multipartRequest } from "../../hub/dicomweb/testing.ts";
import { type AgentProcess, datasetBytes, listFiles, startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub, type TestHub } from "../support/hub.ts";
import { assertNoLeftovers, assertServing, ctObject, noise } from "../support/faults.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { skipReason } from "../support/peers.ts";
import { DEFECT_REASON, defectiveObject, DEFECTS, deflated, part10 } from "../support/structure_defects.ts";
import { TransferSyntax } from "@conduit/shared/dicom";

interface Rig {
  hub: TestHub;
  north: AgentProcess;
  operator: string;
}

const skip = skipReason("echoscu");
if (skip) console.warn(`stow_structure_test: skipped: ${skip}`);
const shared = sharedRig<Rig>({
  skip,
  async setUp() {
    const hub = await startTestHub();
    const north = await startAgentProcess({ aet: "NORTH", args: await siteArgs(hub, "north") });
    await eventually("north online", () => hub.sessions.get("north"));
    return { hub, north, operator: (await hub.tokens.create("stow", "operator")).token };
  },
  async stop(r) {
    await r.north.stop();
    await r.hub.stop();
  },
});

type Item = Record<string, { Value: unknown[] }>;

/** STOW-RS of `files` to north's archive: the status, failed [UID, reason] pairs, stored UIDs and Warning. */
async function stow(r: Rig, files: Uint8Array[]) {
  const { body, contentType } = multipartRequest(files.map((bytes) => ({ bytes })));
  const res = await fetch(`http://127.0.0.1:${r.hub.port}/dicomweb/sites/north/studies`, {
    method: "POST",
    headers: { authorization: `Bearer ${r.operator}`, "content-type": contentType },
    body,
  });
  const answer = await res.json() as Record<string, { Value: Item[] }>;
  const failed = (answer["00081198"]?.Value ?? []).map((
    i,
  ) => [i["00081155"]?.Value[0], i["00081197"].Value[0]]);
  const stored = (answer["00081199"]?.Value ?? []).map((i) => i["00081155"].Value[0]);
  return { status: res.status, failed, stored, warning: res.headers.get("warning") ?? "" };
}

for (const deflate of [false, true]) {
  const how = deflate ? "deflated" : "explicit VR little endian";
  shared.test(`STOW-RS refuses ${how} data sets with structure defects (0xC000), stores the good ones`, async (r) => {
    // Not deflated, a (0002,0010) after the File Meta group length is more of the File Meta group (below)
    const refused = DEFECTS.filter((d) => deflate || d !== "file-meta");
    const bad = refused.map((d) => defectiveObject(`stow-${d}-${deflate}`, d, deflate));
    const good = ctObject(`stow-good-${deflate}`, { rows: 16, columns: 16 });
    const goodBytes = deflate
      ? part10(good, deflated(good.dataset), TransferSyntax.DeflatedExplicitVRLittleEndian)
      : good.bytes;
    const trailing = deflate ? [] : [defectiveObject("stow-trailing-meta", "file-meta")];
    const got = await stow(r, [...bad.map((b) => b.bytes), goodBytes, ...trailing.map((t) => t.bytes)]);
    assert.equal(got.status, 202, got.warning);
    assert.deepEqual(got.failed, bad.map((b) => [b.sopInstanceUid, 0xc000]), got.warning);
    assert.deepEqual(got.stored, [good.sopInstanceUid, ...trailing.map((t) => t.sopInstanceUid)]);
    refused.forEach((d, i) => {
      assert.match(
        got.warning,
        new RegExp(`part ${i + 1}: .*${DEFECT_REASON[d].source}`),
        `${d}: ${got.warning}`,
      );
    });
    await assertNoLeftovers(r.north, archived(good.sopInstanceUid, ...trailing.map((t) => t.sopInstanceUid)));
    for (const t of trailing) {
      // Its data set as it was before the element was put in front of it: no group 0002 in what is kept
      const file = (await listFiles(`${r.north.dataDir}/archive`)).find((f) =>
        f.endsWith(`${t.sopInstanceUid}.dcm`)
      );
      const original = ctObject("stow-trailing-meta", { rows: 16, columns: 16 }).dataset;
      assert.deepEqual(await datasetBytes(file!), original, "the stored data set");
    }
    await assertServing(r.north);
  });
}

shared.test("STOW-RS refuses a deflated data set that is not deflate, or is cut short (0xC000)", async (r) => {
  const notDeflate = ctObject("stow-not-deflate", { rows: 16, columns: 16 });
  const cut = ctObject("stow-cut-deflate", { rows: 64, columns: 64 });
  const whole = deflated(cut.dataset);
  const parts = [
    part10(notDeflate, noise(4000, 7), TransferSyntax.DeflatedExplicitVRLittleEndian),
    part10(cut, whole.subarray(0, whole.length - 200), TransferSyntax.DeflatedExplicitVRLittleEndian),
  ];
  const got = await stow(r, parts);
  assert.equal(got.status, 409, got.warning);
  assert.deepEqual(got.failed.map(([, reason]) => reason), [0xc000, 0xc000], got.warning);
  assert.match(got.warning, /part 1: .*(does not inflate|not a readable)/, got.warning);
  assert.match(got.warning, /part 2: .*(does not inflate|ends)/, got.warning);
  await assertNoLeftovers(r.north, archived());
  await assertServing(r.north);
});

/** The objects north holds once `also` is stored: the good ones of the tests run so far. */
const kept: string[] = [];
function archived(...also: string[]): string[] {
  kept.push(...also);
  return [...kept];
}

shared.tearDown("stow_structure_test: stop the rig");

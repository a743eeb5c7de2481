/**
 * Content negotiation through the hub with a range of `q=0` beside a wildcard (RFC 9110 12.5.1, which
 * PS3.18 8.3.3 follows): the most specific range decides, so `image/jpeg;q=0` beside the wildcard of every
 * type refuses JPEG though the wildcard alone would take it. QIDO-RS, metadata, instances and rendered images, against a real agent.
 * Also Accept headers no site can answer (a transfer-syntax that is not a UID), and answers their client gives up.
 */
import assert from "node:assert/strict";
import { readPart10Header } from "@conduit/shared/dicom";
import { skipReason } from "../support/peers.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { CT, CT_STUDY, get, setUp, stopRig } from "./_dicomweb.ts";

const skip = skipReason("storescu");
if (skip) console.warn(`accept_refused_test: skipped: ${skip}`);

const shared = sharedRig({ skip, setUp, stop: stopRig });

shared.test("PS3.18 8.3.3 a q=0 range refuses its media type even beside */*", async (r) => {
  const header = readPart10Header(await Deno.readFile(CT));
  const series = await (await get(r, `/sites/north/studies/${CT_STUDY}/series`)).json();
  const instance = `/sites/north/studies/${CT_STUDY}/series/${
    series[0]["0020000E"].Value[0]
  }/instances/${header
    .sopInstanceUid!}`;
  const ask = async (p: string, accept: string) => {
    const res = await get(r, p, { headers: { accept } });
    const body = new Uint8Array(await res.arrayBuffer());
    return { status: res.status, type: res.headers.get("content-type") ?? "", body };
  };

  // The wildcard alone takes the default of each resource.
  assert.equal((await ask(`${instance}/rendered`, "*/*")).type, "image/jpeg");
  // JPEG refused: the wildcard gives PNG, the other type it serves.
  const png = await ask(`${instance}/rendered`, "image/jpeg;q=0, */*");
  assert.equal(png.status, 200);
  assert.equal(png.type, "image/png");
  assert.deepEqual([...png.body.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"

  // Every type a resource serves refused: 406 with a problem object, not the refused type.
  for (
    const [p, accept] of [
      ["/sites/north/studies", "application/dicom+json;q=0, */*"],
      [`${instance}/metadata`, "application/dicom+json;q=0, */*"],
      [instance, 'multipart/related; type="application/dicom";q=0, */*'],
      [`${instance}/rendered`, "image/*;q=0, */*"],
    ]
  ) {
    const refused = await ask(p, accept);
    assert.equal(refused.status, 406, `${p} with ${accept}`);
    assert.equal(refused.type, "application/problem+json", `${p} with ${accept}`);
  }
});

shared.test("a transfer-syntax that is not a UID is 406 naming it, never a 500; another range still answers", async (r) => {
  const header = readPart10Header(await Deno.readFile(CT));
  const series = await (await get(r, `/sites/north/studies/${CT_STUDY}/series`)).json();
  const study = `/sites/north/studies/${CT_STUDY}`;
  const instance = `${study}/series/${series[0]["0020000E"].Value[0]}/instances/${header.sopInstanceUid!}`;
  const before = r.hub.lines.length;
  for (
    const [p, accept] of [
      [instance, "application/dicom; transfer-syntax=abc"],
      [instance, 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840..1'],
      [study, 'multipart/related; type="application/dicom"; transfer-syntax=abc'],
      [study, "application/zip; transfer-syntax=abc"],
    ]
  ) {
    const res = await get(r, p, { headers: { accept } });
    assert.equal(res.status, 406, `${p} with ${accept}`);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.match((await res.json()).detail, /is not a transfer syntax UID, nor \* for as stored/, accept);
  }
  // A range the site can give still answers beside one it cannot.
  const res = await get(r, instance, {
    headers: { accept: "application/dicom; transfer-syntax=abc, application/dicom;q=0.5" },
  });
  assert.equal(res.status, 200);
  assert.equal(
    res.headers.get("content-type"),
    `application/dicom; transfer-syntax=${header.transferSyntax}`,
  );
  await res.body?.cancel();
  // A client's mistake: nothing logged as the hub's failure.
  assert.deepEqual(r.hub.lines.slice(before).filter((l) => /"level":"error"/.test(l)), []);
});

shared.test("a retrieval its client gives up (HEAD, or a reader that cancels) is not logged as cut short", async (r) => {
  const study = `/sites/north/studies/${CT_STUDY}`;
  const before = r.hub.lines.length;
  for (let i = 0; i < 5; i++) {
    const head = await get(r, study, { method: "HEAD" });
    assert.equal(head.status, 200);
    await head.body?.cancel();
    const res = await get(r, study);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
  }
  // Every abandoned retrieval has ended at the hub once a whole one has been answered after them.
  const whole = await get(r, study);
  assert.equal(whole.status, 200);
  await whole.arrayBuffer();
  assert.deepEqual(r.hub.lines.slice(before).filter((l) => /cut short/.test(l)), []);
});

shared.tearDown("accept refused tests: tear down");

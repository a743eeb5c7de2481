import assert from "node:assert/strict";
import * as fs from "node:fs";
import { generateInstance, generateStudies, type InstanceSpec } from "@conduit/shared/testing";
import { memoryDicomweb, MemorySite, multipartRequest } from "../testing.ts";

const specs = (): InstanceSpec[] => [
  ...generateStudies({
    seed: "stow",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "MR", instances: 3 }],
    rows: 8,
    columns: 8,
  }),
];

async function post(
  hub: ReturnType<typeof memoryDicomweb>,
  path: string,
  parts: { bytes: Uint8Array; type?: string }[],
) {
  const { body, contentType } = multipartRequest(parts);
  return await hub.request(path, { method: "POST", body, headers: { "content-type": contentType } });
}

const sequence = (answer: Record<string, { Value?: Record<string, { Value: unknown[] }>[] }>, tag: string) =>
  (answer[tag]?.Value ?? []).map((item) => ({
    sop: item["00081155"]?.Value[0],
    reason: item["00081197"]?.Value[0],
    url: item["00081190"]?.Value[0],
  }));

Deno.test("STOW-RS stores each part into the site and lists it with its RetrieveURL", async () => {
  const north = new MemorySite();
  const hub = memoryDicomweb({ north });
  const s = specs();
  const res = await post(
    hub,
    "/dicomweb/sites/north/studies",
    s.map((x) => ({ bytes: generateInstance(x) })),
  );
  assert.equal(res.status, 200);
  const answer = await res.json();
  assert.equal(
    answer["00081190"].Value[0],
    `http://hub.test/dicomweb/sites/north/studies/${s[0].studyInstanceUid}`,
  );
  const stored = sequence(answer, "00081199");
  assert.deepEqual(stored.map((x) => x.sop), s.map((x) => x.sopInstanceUid));
  assert.equal(
    stored[0].url,
    `http://hub.test/dicomweb/sites/north/studies/${s[0].studyInstanceUid}/series/${
      s[0].seriesInstanceUid
    }/instances/${s[0].sopInstanceUid}`,
  );
  assert.deepEqual(north.objects.map((o) => o.header.sopInstanceUid), s.map((x) => x.sopInstanceUid));
  assert.deepEqual(fs.readdirSync(hub.spoolDir), [], "no spooled file outlives the request");
});

Deno.test("STOW-RS lists what failed with its reason: refused (202), not DICOM, another study (409)", async () => {
  const north = new MemorySite();
  const hub = memoryDicomweb({ north });
  const s = specs();
  north.refuse.set(s[1].sopInstanceUid, 0xa700);
  const some = await post(
    hub,
    "/dicomweb/sites/north/studies",
    s.map((x) => ({ bytes: generateInstance(x) })),
  );
  assert.equal(some.status, 202);
  const answer = await some.json();
  assert.deepEqual(sequence(answer, "00081198").map((x) => [x.sop, x.reason]), [[
    s[1].sopInstanceUid,
    0xa700,
  ]]);
  assert.equal(sequence(answer, "00081199").length, 2);
  // The Warning says why, part by part (FailureReason alone does not).
  assert.equal(some.headers.get("warning"), '299 conduit "part 2: the site refused it (0xa700)"');

  const junk = await post(hub, "/dicomweb/sites/north/studies", [{
    bytes: new TextEncoder().encode("not dicom"),
  }]);
  assert.equal(junk.status, 409);
  assert.deepEqual(sequence(await junk.json(), "00081198").map((x) => x.reason), [0xc000]);
  assert.match(junk.headers.get("warning") ?? "", /^299 conduit "part 1: not a DICOM Part 10 object/);

  const wrong = await post(hub, "/dicomweb/sites/north/studies/1.2.3", [{ bytes: generateInstance(s[0]) }]);
  assert.equal(wrong.status, 409);
  assert.deepEqual(sequence(await wrong.json(), "00081198").map((x) => x.reason), [0xa900]);
  assert.match(wrong.headers.get("warning") ?? "", /part 1: of study [0-9.]+, not the study in the path/);
  assert.deepEqual(fs.readdirSync(hub.spoolDir), []);
});

Deno.test("STOW-RS refuses a request it cannot read: no site (400), not multipart (415), too large (413)", async () => {
  const hub = memoryDicomweb({ north: new MemorySite() });
  const bytes = generateInstance(specs()[0]);
  assert.equal((await post(hub, "/dicomweb/studies", [{ bytes }])).status, 400);
  const plain = await hub.request("/dicomweb/sites/north/studies", {
    method: "POST",
    body: new Blob([bytes as Uint8Array<ArrayBuffer>]),
    headers: { "content-type": "application/dicom" },
  });
  assert.equal(plain.status, 415);
  // Each refusal says what in the Content-Type is wrong.
  for (
    const [contentType, why] of [
      [undefined, /^the request has no Content-Type: send multipart\/related; type="application\/dicom"/],
      ["application/dicom", /^the body is "application\/dicom", not multipart\/related: send /],
      ['multipart/related; type="application/dicom"', /^the Content-Type names no boundary: send /],
      [
        'multipart/related; type="application/dicom+json"; boundary=b',
        /^type="application\/dicom\+json" is not taken/,
      ],
    ] as const
  ) {
    const res = await hub.request("/dicomweb/sites/north/studies", {
      method: "POST",
      body: new Blob([bytes as Uint8Array<ArrayBuffer>]),
      headers: contentType ? { "content-type": contentType } : {},
    });
    assert.equal(res.status, 415, contentType);
    assert.match((await res.json()).detail, why, contentType);
  }
  const big = await hub.request("/dicomweb/sites/north/studies", {
    method: "POST",
    body: "x",
    headers: { "content-type": "multipart/related; boundary=b", "content-length": String(1024 ** 3) },
  });
  assert.equal(big.status, 413);
  const viewer = memoryDicomweb({ north: new MemorySite() }, {
    kind: "token",
    id: "v",
    name: "v",
    role: "viewer",
  });
  assert.equal((await post(viewer, "/dicomweb/sites/north/studies", [{ bytes }])).status, 403);
});

Deno.test("STOW-RS whose body breaks off after stored parts answers 202 with them and a Warning", async () => {
  const north = new MemorySite();
  const hub = memoryDicomweb({ north });
  const s = specs();
  const { body, contentType } = multipartRequest(s.map((x) => ({ bytes: generateInstance(x) })));
  // The body ends inside the last part: no closing boundary.
  const cut = body.subarray(0, body.length - 200);
  const res = await hub.request("/dicomweb/sites/north/studies", {
    method: "POST",
    body: cut,
    headers: { "content-type": contentType },
  });
  assert.equal(res.status, 202, "two objects were stored: not a 400 that says none was");
  assert.match(res.headers.get("warning") ?? "", /^299 .*malformed.*2 object/);
  const answer = await res.json();
  assert.deepEqual(
    sequence(answer, "00081199").map((x) => x.sop),
    s.slice(0, 2).map((x) => x.sopInstanceUid),
  );
  assert.deepEqual(
    north.objects.map((o) => o.header.sopInstanceUid),
    s.slice(0, 2).map((x) => x.sopInstanceUid),
  );
  assert.deepEqual(fs.readdirSync(hub.spoolDir), []);

  const none = await hub.request("/dicomweb/sites/north/studies", {
    method: "POST",
    body: body.subarray(0, 100),
    headers: { "content-type": contentType },
  });
  assert.equal(none.status, 400, "nothing stored: still 400");
});

Deno.test("STOW-RS whose site's tunnel is lost: nothing stored is 503, not 409; after some stored, 202; the rest not sent", async () => {
  const s = specs();
  const parts = s.map((x) => ({ bytes: generateInstance(x) }));
  const first = new MemorySite();
  first.loseTunnelAt.add(s[0].sopInstanceUid);
  const lostFirst = await post(memoryDicomweb({ north: first }), "/dicomweb/sites/north/studies", parts);
  const text = await lostFirst.text();
  assert.equal(lostFirst.status, 503, text);
  assert.match(text, /session closed; nothing was stored: send the objects again/);
  assert.deepEqual(first.storesAsked, [s[0].sopInstanceUid], "the parts after the loss are not sent");

  const second = new MemorySite();
  second.loseTunnelAt.add(s[1].sopInstanceUid);
  const lostSecond = await post(memoryDicomweb({ north: second }), "/dicomweb/sites/north/studies", parts);
  assert.equal(lostSecond.status, 202);
  const answer = await lostSecond.json();
  assert.deepEqual(sequence(answer, "00081199").map((x) => x.sop), [s[0].sopInstanceUid]);
  assert.deepEqual(
    sequence(answer, "00081198").map((x) => [x.sop, x.reason]),
    [[s[1].sopInstanceUid, 0x0110], [s[2].sopInstanceUid, 0x0110]],
  );
  assert.deepEqual(second.storesAsked, [s[0].sopInstanceUid, s[1].sopInstanceUid]);
});

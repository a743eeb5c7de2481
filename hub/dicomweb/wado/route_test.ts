import assert from "node:assert/strict";
import { generateStudies } from "@conduit/shared/testing";
import { jsonString, readPart10Header, TransferSyntax as TS } from "@conduit/shared/dicom";
import { memoryDicomweb, MemorySite, responseParts } from "../testing.ts";

function site(seed: string): MemorySite {
  return new MemorySite([
    ...generateStudies({
      seed,
      patients: 1,
      studiesPerPatient: 1,
      series: [{ modality: "CT", instances: 2 }],
      rows: 8,
      columns: 8,
    }),
  ]);
}

const uidsOf = (s: MemorySite, i = 0) => ({
  study: jsonString(s.objects[i].json, "StudyInstanceUID")!,
  series: jsonString(s.objects[i].json, "SeriesInstanceUID")!,
  sop: s.objects[i].header.sopInstanceUid,
});

Deno.test("WADO-RS instances: Part 10 parts with the stored data set, by study, series and instance", async () => {
  const north = site("north");
  const hub = memoryDicomweb({ north });
  const { study, series, sop } = uidsOf(north);
  const res = await hub.request(`/dicomweb/sites/north/studies/${study}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^multipart\/related; type="application\/dicom"; boundary=/);
  const parts = await responseParts(res);
  assert.equal(parts.length, 2);
  for (const part of parts) {
    assert.equal(part.type, `application/dicom; transfer-syntax=${TS.ExplicitVRLittleEndian}`);
    const meta = readPart10Header(part.body);
    const stored = north.objects.find((o) => o.header.sopInstanceUid === meta.sopInstanceUid)!;
    assert.deepEqual(part.body.subarray(meta.datasetOffset), stored.dataset);
  }
  const one = await responseParts(
    await hub.request(`/dicomweb/sites/north/studies/${study}/series/${series}/instances/${sop}`),
  );
  assert.equal(one.length, 1);
  assert.equal(readPart10Header(one[0].body).sopInstanceUid, sop);
});

Deno.test("WADO-RS instance as application/dicom: the Part 10 file as the whole body, with its length", async () => {
  const north = site("north");
  const hub = memoryDicomweb({ north });
  const { study, series, sop } = uidsOf(north);
  const instance = `/dicomweb/sites/north/studies/${study}/series/${series}/instances/${sop}`;
  const stored = north.objects.find((o) => o.header.sopInstanceUid === sop)!;
  for (
    const [how, init] of [
      ["header", { headers: { accept: "application/dicom" } }],
      ["header, as stored", { headers: { accept: "application/dicom; transfer-syntax=*" } }],
      ["query parameter", {}],
    ] as const
  ) {
    const res = await hub.request(
      how === "query parameter" ? `${instance}?accept=application/dicom` : instance,
      init,
    );
    assert.equal(res.status, 200, how);
    assert.equal(
      res.headers.get("content-type"),
      `application/dicom; transfer-syntax=${stored.header.transferSyntax}`,
    );
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(Number(res.headers.get("content-length")), body.length, how);
    const meta = readPart10Header(body);
    assert.equal(meta.sopInstanceUid, sop);
    assert.deepEqual(body.subarray(meta.datasetOffset), stored.dataset, how);
  }
  // A study or a series is more than one instance: single part only when multipart is not also taken.
  const studyOnly = await hub.request(`/dicomweb/sites/north/studies/${study}`, {
    headers: { accept: "application/dicom" },
  });
  assert.equal(studyOnly.status, 406);
  assert.match((await studyOnly.json()).detail, /holds one instance/);
  const either = await hub.request(`/dicomweb/sites/north/studies/${study}/series/${series}`, {
    headers: { accept: 'application/dicom, multipart/related; type="application/dicom"; q=0.5' },
  });
  assert.match(either.headers.get("content-type")!, /^multipart\/related; type="application\/dicom"/);
  assert.equal((await responseParts(either)).length, 2);
  // An instance asked as either form takes the preferred one.
  const preferred = await hub.request(instance, {
    headers: { accept: 'multipart/related; type="application/dicom", application/dicom; q=0.9' },
  });
  assert.match(preferred.headers.get("content-type")!, /^multipart\/related/);
  await preferred.body?.cancel();
});

Deno.test("WADO-RS instances: 406 for a syntax the site cannot give, 404 for no such study", async () => {
  const north = site("north");
  const hub = memoryDicomweb({ north });
  const { study } = uidsOf(north);
  const rle = await hub.request(`/dicomweb/sites/north/studies/${study}`, {
    headers: { accept: `multipart/related; type="application/dicom"; transfer-syntax=${TS.Rle}` },
  });
  assert.equal(rle.status, 406);
  assert.match((await rle.json()).detail, /transfer-syntax=\*/);
  const asStored = await hub.request(`/dicomweb/sites/north/studies/${study}`, {
    headers: { accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
  });
  assert.equal((await responseParts(asStored)).length, 2);
  assert.equal((await hub.request(`/dicomweb/sites/north/studies/1.2.3`)).status, 404);
  assert.equal(
    (await hub.request(`/dicomweb/sites/north/studies/${study}`, { headers: { accept: "text/html" } }))
      .status,
    406,
  );
});

Deno.test("WADO-RS federated retrieval finds the site that holds the study", async () => {
  const north = site("north");
  const south = site("south");
  const hub = memoryDicomweb({ north, south });
  const parts = await responseParts(await hub.request(`/dicomweb/studies/${uidsOf(south).study}`));
  assert.deepEqual(
    parts.map((p) => readPart10Header(p.body).sopInstanceUid).sort(),
    south.objects.map((o) => o.header.sopInstanceUid).sort(),
  );
  const missing = await hub.request(`/dicomweb/studies/1.2.3`);
  assert.equal(missing.status, 404);
  assert.match((await missing.json()).detail, /no site the token may reach holds study 1\.2\.3/);
});

Deno.test("WADO-RS metadata: DICOM JSON with absolute BulkDataURIs; 406 for other types", async () => {
  const north = site("north");
  const hub = memoryDicomweb({ north });
  const { study, series, sop } = uidsOf(north);
  const res = await hub.request(
    `/dicomweb/sites/north/studies/${study}/series/${series}/instances/${sop}/metadata`,
  );
  assert.equal(res.status, 200);
  const [ds] = await res.json();
  assert.equal(jsonString(ds, "SOPInstanceUID"), sop);
  assert.equal(
    ds["7FE00010"].BulkDataURI,
    `http://hub.test/dicomweb/sites/north/studies/${study}/series/${series}/instances/${sop}/bulkdata/7FE00010`,
  );
  const all = await (await hub.request(`/dicomweb/sites/north/studies/${study}/metadata`)).json();
  assert.equal(all.length, 2);
  assert.equal(
    (await hub.request(`/dicomweb/sites/north/studies/${study}/metadata`, {
      headers: { accept: "application/xml" },
    })).status,
    406,
  );
  assert.equal((await hub.request(`/dicomweb/sites/north/studies/1.2.3/metadata`)).status, 404);
});

Deno.test("WADO-RS frames and bulk data: the stored bytes, in the asked order; 400, 404, 406", async () => {
  const north = site("north");
  const hub = memoryDicomweb({ north });
  const { study, series, sop } = uidsOf(north);
  const at = `/dicomweb/sites/north/studies/${study}/series/${series}/instances/${sop}`;
  const res = await hub.request(`${at}/frames/1`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /type="application\/octet-stream"/);
  const parts = await responseParts(res);
  assert.deepEqual(parts.map((p) => p.type), ["application/octet-stream"]);
  assert.deepEqual(parts[0].body, north.objects[0].frames[0]);
  assert.equal((await hub.request(`${at}/frames/0`)).status, 400);
  assert.equal((await hub.request(`${at}/frames/1,x`)).status, 400);
  assert.equal((await hub.request(`${at}/frames/2`)).status, 404);
  // Stored native, asked as JPEG-LS only: the memory site does not transcode, so 406.
  const jls = await hub.request(`${at}/frames/1`, {
    headers: { accept: 'multipart/related; type="image/jls"' },
  });
  assert.equal(jls.status, 406);
  assert.match((await jls.json()).detail, /cannot be transcoded/);
  // A bare media type: one frame as the whole body, not multipart; several frames that way are 406.
  const bare = await hub.request(`${at}/frames/1`, { headers: { accept: "application/octet-stream" } });
  assert.equal(bare.status, 200);
  assert.equal(bare.headers.get("content-type"), "application/octet-stream");
  assert.deepEqual(new Uint8Array(await bare.arrayBuffer()), north.objects[0].frames[0]);
  const preferred = await hub.request(`${at}/frames/1`, {
    headers: { accept: 'multipart/related; type="application/octet-stream", application/octet-stream;q=0.5' },
  });
  assert.match(preferred.headers.get("content-type")!, /^multipart\/related/, "the preferred range decides");
  await preferred.body?.cancel();
  const two = await hub.request(`${at}/frames/1,1`, { headers: { accept: "application/octet-stream" } });
  assert.equal(two.status, 406);
  assert.match((await two.json()).detail, /holds one frame/);
  const bulk = await responseParts(await hub.request(`${at}/bulkdata/7fe00010`));
  assert.deepEqual(bulk[0].body, north.objects[0].frames[0]);
  // A bare application/octet-stream: the native value as the whole body, with its length.
  const bareBulk = await hub.request(`${at}/bulkdata/7fe00010`, {
    headers: { accept: "application/octet-stream" },
  });
  assert.equal(bareBulk.status, 200);
  assert.equal(bareBulk.headers.get("content-type"), "application/octet-stream");
  assert.deepEqual(new Uint8Array(await bareBulk.arrayBuffer()), north.objects[0].frames[0]);
  assert.equal((await hub.request(`${at}/bulkdata/not-a-path`)).status, 400);
});

Deno.test("WADO-RS rendered: the site's image with the parsed parameters; 406 for an image type it cannot make", async () => {
  const north = site("north");
  const hub = memoryDicomweb({ north });
  const { study, series, sop } = uidsOf(north);
  const at = `/dicomweb/sites/north/studies/${study}/series/${series}/instances/${sop}`;
  const res = await hub.request(`${at}/frames/1/rendered?window=40,400&quality=80`, {
    headers: { accept: "image/png" },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), north.rendered.bytes);
  assert.deepEqual(north.renders[0], {
    studyInstanceUid: study,
    seriesInstanceUid: series,
    sopInstanceUid: sop,
    frame: 1,
    media: "image/png",
    quality: 80,
    window: { center: 40, width: 400, function: "LINEAR" },
  });
  await (await hub.request(`/dicomweb/sites/north/studies/${study}/thumbnail`)).body?.cancel();
  assert.equal(north.renders[1].thumbnail, true);
  assert.equal((await hub.request(`${at}/rendered`, { headers: { accept: "image/gif" } })).status, 406);
  assert.equal((await hub.request(`${at}/rendered?quality=0`)).status, 400);
});

Deno.test("WADO-RS as a zip: one Part 10 file per instance, asked by header or query parameter", async () => {
  const north = site("north");
  const hub = memoryDicomweb({ north });
  const { study } = uidsOf(north);
  for (const init of [{ headers: { accept: "application/zip" } }, undefined]) {
    const res = await hub.request(
      `/dicomweb/sites/north/studies/${study}${init ? "" : "?accept=application/zip"}`,
      init,
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "application/zip");
    const zip = new Uint8Array(await res.arrayBuffer());
    assert.deepEqual([...zip.subarray(0, 4)], [0x50, 0x4b, 0x03, 0x04]);
    const text = new TextDecoder("latin1").decode(zip);
    for (const o of north.objects) assert.ok(text.includes(`${study}/${o.header.sopInstanceUid}.dcm`));
  }
});

Deno.test("PS3.18 8.3.3.1 the accept query parameter wins over the Accept header, on every resource", async () => {
  const north = site("north");
  const hub = memoryDicomweb({ north });
  const { study, series, sop } = uidsOf(north);
  const instance = `/dicomweb/sites/north/studies/${study}/series/${series}/instances/${sop}`;
  const accept = (media: string) => `accept=${encodeURIComponent(media)}`;

  const png = await hub.request(`${instance}/rendered?${accept("image/png")}`, {
    headers: { accept: "image/jpeg" },
  });
  assert.equal(png.status, 200);
  await png.body?.cancel();
  assert.equal(north.renders.at(-1)?.media, "image/png");

  const asStored = await hub.request(
    `${instance}?${accept('multipart/related; type="application/dicom"; transfer-syntax=*')}`,
  );
  assert.equal(asStored.status, 200);
  assert.doesNotMatch(asStored.headers.get("content-type")!, /transfer-syntax/, "as stored: none named");
  await asStored.body?.cancel();

  const xml = await hub.request(
    `${instance}/metadata?${accept("multipart/related; type=application/dicom+xml")}`,
  );
  assert.equal(xml.status, 406);
  await xml.body?.cancel();

  const plus = await hub.request(`${instance}/metadata?accept=application/dicom+json`);
  assert.equal(plus.status, 200, "a + left unencoded is still a +");
  await plus.body?.cancel();
  const formEncoded = await hub.request(`${instance}/rendered?accept=image/png;+q=0.9,+image/jpeg;q=0.5`);
  assert.equal(formEncoded.status, 200, "a space encoded as + stays a space");
  await formEncoded.body?.cancel();
  assert.equal(north.renders.at(-1)?.media, "image/png");

  const qido = await hub.request(`/dicomweb/sites/north/studies?${accept("application/dicom+json")}`);
  assert.equal(qido.status, 200, "not an attribute to match");
  assert.equal((await qido.json()).length, 1);
});

Deno.test("WADO-RS instances: an object the site cannot transcode goes as stored when a later range takes it", async () => {
  const north = site("north");
  const hub = memoryDicomweb({ north });
  const { study } = uidsOf(north);
  const dicom = (ts: string, q = "") =>
    `multipart/related; type="application/dicom"; transfer-syntax=${ts}${q}`;
  // The in-memory site, like an agent without the codec, sends each object as stored.
  const res = await hub.request(`/dicomweb/sites/north/studies/${study}`, {
    headers: { accept: `${dicom(TS.Rle)}, ${dicom("*", ";q=0.5")}` },
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.doesNotMatch(res.headers.get("content-type")!, /transfer-syntax/, "not one syntax for all parts");
  const parts = await responseParts(res);
  assert.equal(parts.length, 2);
  assert.ok(parts.every((p) => p.type === `application/dicom; transfer-syntax=${TS.ExplicitVRLittleEndian}`));

  const explicit = await hub.request(`/dicomweb/sites/north/studies/${study}`, {
    headers: { accept: `${dicom(TS.Rle)}, ${dicom(TS.ExplicitVRLittleEndian, ";q=0.9")}` },
  });
  assert.equal(explicit.status, 200, "the stored syntax is the second range's");
  await explicit.body?.cancel();
  const rleOnly = await hub.request(`/dicomweb/sites/north/studies/${study}`, {
    headers: { accept: dicom(TS.Rle) },
  });
  assert.equal(rleOnly.status, 406, "no range takes it as stored");
  await rleOnly.body?.cancel();
});

Deno.test("a DICOMweb resource asked with a method it does not take is 405 with Allow, not 404", async () => {
  const north = site("north");
  const hub = memoryDicomweb({ north });
  const { study } = uidsOf(north);
  const del = await hub.request(`/dicomweb/sites/north/studies/${study}`, { method: "DELETE" });
  assert.equal(del.status, 405);
  assert.equal(del.headers.get("allow"), "GET, POST, HEAD");
  assert.match((await del.json()).detail, /DELETE is not allowed/);
  const put = await hub.request(`/dicomweb/studies/${study}/metadata`, { method: "PUT" });
  assert.equal(put.status, 405);
  assert.equal(put.headers.get("allow"), "GET, HEAD");
  await put.body?.cancel();
  const get = await hub.request(`/dicomweb/sites/north/studies/${study}/metadata`);
  assert.equal(get.status, 200, "the methods it takes still answer");
  await get.body?.cancel();
  const head = await hub.request(`/dicomweb/sites/north/studies/${study}/metadata`, { method: "HEAD" });
  assert.equal(head.status, 200);
  const none = await hub.request(`/dicomweb/sites/north/nothing`, { method: "DELETE" });
  assert.equal(none.status, 404, "no resource there");
  await none.body?.cancel();
});

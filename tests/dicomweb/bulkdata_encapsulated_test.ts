/**
 * PS3.18 10.4.1.1.3 WADO-RS bulk data of encapsulated pixel data through the hub and a real agent: the
 * BulkDataURI that metadata gives for compressed pixel data answers with the frames as stored, one part
 * each in its media type (the same bytes as the frames route), and a video syntax's bitstream whole in one
 * part (PS3.18 8.7.3.3.2), also as a single part for a viewer's `accept=video/mp4`. What only a transcode
 * could give is 406. The JPEG object is made at test time (DCMTK's dcmdrle and dcmcjpeg from pydicom's
 * 2-frame RLE file), the MPEG-4 one by code (arbitrary bytes: only their passage is checked).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { instanceAttributes, parseDataSet, readPart10Header } from "@conduit/shared/dicom";
import { multipartRequest } from "../../hub/dicomweb/testing.ts";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { responseParts } from "../support/multipart.ts";
import { MPEG4, mpeg4Object } from "../support/video.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { get, type Rig, setUp, stopRig } from "./_dicomweb.ts";

const JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70";

const skip = skipReason("storescu", "dcmdrle", "dcmcjpeg");
if (skip) console.warn(`bulkdata_encapsulated_test: skipped: ${skip}`);

interface Stored {
  url: string;
  bytes: Uint8Array;
}

interface EncapsulatedRig extends Rig {
  jpeg: Stored;
  video: Stored & { fragments: Uint8Array[] };
}

/** pydicom's 2-frame RGB RLE file made native (dcmdrle), then JPEG Lossless SV1 (dcmcjpeg). */
async function jpegTwoFrames(): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "conduit-bulk-" });
  try {
    const native = path.join(dir, "native.dcm"), jpeg = path.join(dir, "jpeg.dcm");
    for (
      const args of [
        ["dcmdrle", path.join(PYDICOM_TEST_FILES_DIR, "SC_rgb_rle_2frame.dcm"), native],
        ["dcmcjpeg", native, jpeg],
      ]
    ) {
      const out = await new Deno.Command(args[0], { args: args.slice(1), stderr: "piped" }).output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    }
    return await Deno.readFile(jpeg);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The object's instance URL under north. */
function instanceUrl(bytes: Uint8Array): string {
  const header = readPart10Header(bytes);
  const { dataset } = parseDataSet(bytes, { explicit: true, littleEndian: true, deflated: false }, {
    start: header.datasetOffset,
  });
  const a = instanceAttributes(bytes, dataset, header);
  return `/sites/north/studies/${a.studyInstanceUid}/series/${a.seriesInstanceUid}/instances/${a.sopInstanceUid}`;
}

async function stow(r: Rig, bytes: Uint8Array) {
  const { body, contentType } = multipartRequest([{ bytes }]);
  const res = await get(r, "/sites/north/studies", {
    method: "POST",
    body,
    token: r.operator,
    headers: { "content-type": contentType },
  });
  assert.equal(res.status, 200, await res.text());
}

async function setUpEncapsulated(): Promise<EncapsulatedRig> {
  const r = await setUp();
  const jpeg = await jpegTwoFrames();
  assert.equal(readPart10Header(jpeg).transferSyntax, JPEG_LOSSLESS_SV1);
  const video = mpeg4Object(`2.25.${Date.now()}`);
  await stow(r, jpeg);
  await stow(r, video.bytes);
  return {
    ...r,
    jpeg: { url: instanceUrl(jpeg), bytes: jpeg },
    video: { url: instanceUrl(video.bytes), ...video },
  };
}

const shared = sharedRig<EncapsulatedRig>({ skip, setUp: setUpEncapsulated, stop: stopRig });

/** The Pixel Data BulkDataURI of an instance's metadata, relative to the DICOMweb root. */
async function pixelDataUri(r: EncapsulatedRig, url: string): Promise<string> {
  const res = await get(r, `${url}/metadata`);
  assert.equal(res.status, 200);
  const [ds] = await res.json();
  const uri: string = ds["7FE00010"].BulkDataURI;
  assert.ok(uri.startsWith(r.base), uri);
  return uri.slice(r.base.length);
}

const joined = (parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...p]));

shared.test("PS3.18 10.4.1.1.3 bulk data of JPEG pixel data: one part per frame, the frames route's bytes", async (r) => {
  const uri = await pixelDataUri(r, r.jpeg.url);
  const res = await get(r, uri);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^multipart\/related; type="image\/jpeg"/);
  const parts = await responseParts(res);
  assert.equal(parts.length, 2, "one part per frame");
  const frames = await responseParts(await get(r, `${r.jpeg.url}/frames/1,2`));
  for (const [i, part] of parts.entries()) {
    assert.equal(part.type, `image/jpeg; transfer-syntax=${JPEG_LOSSLESS_SV1}`);
    assert.ok(part.body.length > 0);
    assert.deepEqual(part.body, frames[i].body, `frame ${i + 1} as the frames route gives it`);
  }
  // The media type asked for, its syntax named, or any: as stored.
  for (
    const accept of [
      'multipart/related; type="image/jpeg"',
      `multipart/related; type="image/jpeg"; transfer-syntax=${JPEG_LOSSLESS_SV1}`,
      "*/*",
      'multipart/related; type="application/octet-stream"; transfer-syntax=*',
    ]
  ) {
    const again = await get(r, uri, { headers: { accept } });
    assert.equal(again.status, 200, accept);
    assert.equal((await responseParts(again)).length, 2, accept);
  }
  // Only a transcode could give these.
  for (
    const accept of [
      'multipart/related; type="application/octet-stream"',
      `multipart/related; type="image/jpeg"; transfer-syntax=1.2.840.10008.1.2.4.50`,
      "image/jp2",
      "image/jpeg",
    ]
  ) {
    const refused = await get(r, uri, { headers: { accept } });
    assert.equal(refused.status, 406, accept);
    await refused.body?.cancel();
  }
  // The agent still answers after the refusals (each ended its request at the site).
  assert.equal((await get(r, uri)).status, 200);
});

shared.test("PS3.18 8.7.3.3.2 bulk data of MPEG-4 pixel data: the bitstream whole, as video/mp4", async (r) => {
  const uri = await pixelDataUri(r, r.video.url);
  const bitstream = joined(r.video.fragments);
  const res = await get(r, uri);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^multipart\/related; type="video\/mp4"/);
  const parts = await responseParts(res);
  assert.equal(parts.length, 1, "the fragments joined into one part");
  assert.equal(parts[0].type, `video/mp4; transfer-syntax=${MPEG4}`);
  assert.deepEqual(parts[0].body, bitstream);

  const multipart = await get(r, uri, { headers: { accept: 'multipart/related; type="video/mp4"' } });
  assert.equal(multipart.status, 200);
  assert.deepEqual((await responseParts(multipart))[0].body, bitstream);

  // As OHIF asks for it to play it: a single part, the bitstream as the body.
  const single = await get(r, `${uri}?accept=video/mp4`);
  assert.equal(single.status, 200);
  assert.equal(single.headers.get("content-type"), "video/mp4");
  assert.equal(single.headers.get("content-length"), String(bitstream.length));
  assert.deepEqual(new Uint8Array(await single.arrayBuffer()), bitstream);

  for (const accept of ['multipart/related; type="application/octet-stream"', "video/mpeg", "image/jpeg"]) {
    const refused = await get(r, uri, { headers: { accept } });
    assert.equal(refused.status, 406, accept);
    await refused.body?.cancel();
  }
});

shared.tearDown("bulkdata_encapsulated_test: stop the rig");

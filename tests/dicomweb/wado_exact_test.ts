/**
 * Byte-exact by WADO-RS through the hub, for every shipped test file storescu sends in its own syntax
 * (tests/support/exact_files.ts; one site per batch of unique SOP Instance UIDs): the instance as
 * `application/dicom; transfer-syntax=*` (single part, its Content-Length the body's) and as
 * `multipart/related; type="application/dicom"; transfer-syntax=*` is the archived file's data set in its
 * stored syntax, byte for byte; with no transfer-syntax (the default, Explicit VR Little Endian,
 * conformance.md) an object stored so is the same bytes, one stored Deflated its data set inflated, one stored
 * big endian byte-swapped (never 406: until 2026-12-06 dcmjs refused 1- and 32-bit ones and legacy values),
 * and any other is transcoded (its bytes not compared) or 406 with a problem body; the Pixel Data's bulk data
 * as stored (`*\/*`), and all its frames joined, are the native value's bytes (a big endian one's OW words
 * swapped, as documented; the frames without padding after them), or the encapsulated fragments in order.
 */
import assert from "node:assert/strict";
import { inflateRawSync } from "node:zlib";
import { startAgentProcess } from "../support/agent.ts";
import { skipReason } from "../support/peers.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { responseParts } from "../support/multipart.ts";
import { concat } from "../support/pdu_codec.ts";
import {
  archivedBySop,
  datasetDifference,
  datasetOf,
  type ExactFile,
  exactFileBatches,
  sendBatch,
} from "../support/exact_files.ts";
import { encodingOf, findElement, numberValues, parseDataSet, readPart10Header } from "@conduit/shared/dicom";

const skip = skipReason("storescu");
if (skip) console.warn(`wado_exact_test: skipped: ${skip}`);

const EXPLICIT = "1.2.840.10008.1.2.1";
const DEFLATED = "1.2.840.10008.1.2.1.99";
const BIG_ENDIAN = "1.2.840.10008.1.2.2";

/**
 * The Pixel Data value as bulk data gives it: the native bytes (little endian), or every fragment after the
 * offset table, in order.
 */
function pixelBytes(part10: Uint8Array): Uint8Array | undefined {
  const header = readPart10Header(part10);
  if (header.transferSyntax === DEFLATED) return undefined;
  const { dataset } = parseDataSet(part10, encodingOf(header.transferSyntax), {
    start: header.datasetOffset,
  });
  const el = findElement(dataset, 0x7fe00010);
  if (!el) return undefined;
  if (!el.fragments) {
    const value = part10.slice(el.valueOffset, el.valueOffset + el.length);
    if (header.transferSyntax !== BIG_ENDIAN) return value;
    // Bulk data is little endian: a big endian OW value's 16-bit words swapped, whatever Bits Allocated
    // says (PS3.5 8.2, conformance.md); OB as stored.
    for (let at = 0; el.vr === "OW" && at + 2 <= value.length; at += 2) value.subarray(at, at + 2).reverse();
    return value;
  }
  const parts = el.fragments.slice(1).map((f) => part10.subarray(f.valueOffset, f.valueOffset + f.length));
  return concat(parts);
}

/**
 * Number of Frames (0028,0008) of a Part 10 object (1 when absent), and for native pixel data the bytes of
 * those frames (Rows × Columns × Samples per Pixel × Bits Allocated), undefined when encapsulated.
 */
function frameFacts(part10: Uint8Array): { count: number; nativeBytes?: number } {
  const header = readPart10Header(part10);
  const { dataset } = parseDataSet(part10, encodingOf(header.transferSyntax), {
    start: header.datasetOffset,
  });
  const el = findElement(dataset, 0x00280008);
  const n = el
    ? parseInt(new TextDecoder().decode(part10.subarray(el.valueOffset, el.valueOffset + el.length)))
    : 1;
  const count = Number.isFinite(n) && n > 0 ? n : 1;
  if (findElement(dataset, 0x7fe00010)?.fragments) return { count };
  const us = (tag: number, absent: number) => {
    const e = findElement(dataset, tag);
    return e ? numberValues(part10, e, header.transferSyntax !== BIG_ENDIAN)[0] ?? absent : absent;
  };
  const bits = us(0x00280002, 1) * us(0x00280010, 0) * us(0x00280011, 0) * us(0x00280100, 8) * count;
  return { count, nativeBytes: Math.ceil(bits / 8) };
}

Deno.test({
  name: "every test file a site archives comes back by WADO-RS as stored, and by default as the docs say",
  ignore: !!skip,
  fn: async () => {
    const hub = await startTestHub();
    const token = (await hub.tokens.create("wado-exact", "viewer")).token;
    const failures: string[] = [];
    const matrix: string[] = [];
    // Each batch's site starts while the batch before it is sent and checked.
    const start = async (i: number) =>
      startAgentProcess({ aet: `B${i}`, args: await siteArgs(hub, `batch${i}`) });
    let next: ReturnType<typeof start> | undefined;
    try {
      const batches = await exactFileBatches();
      next = start(0);
      for (const [i, batch] of batches.entries()) {
        const site = `batch${i}`;
        const agent = await next!;
        next = i + 1 < batches.length ? start(i + 1) : undefined;
        next?.catch(() => {}); // awaited (and thrown) at its turn, or stopped below
        try {
          failures.push(...(await sendBatch(batch, agent)).refused);
          await eventually(`${site} online`, () => hub.sessions.get(site));
          const archived = await archivedBySop(agent.dataDir);
          for (const row of batch) {
            const file = archived.get(row.sopInstanceUid);
            if (file) {
              matrix.push(await checkOne(hub.port, token, site, row, await Deno.readFile(file), failures));
            }
          }
        } finally {
          await agent.stop();
        }
      }
    } finally {
      await next?.then((agent) => agent.stop(), () => {});
      await hub.stop();
    }
    console.log(matrix.join("\n"));
    assert.deepEqual(failures, []);
    assert.ok(matrix.length >= 90, `only ${matrix.length} objects compared`);
  },
});

/** Every check for one object; pushes what failed, returns its line of the matrix. */
async function checkOne(
  port: number,
  token: string,
  site: string,
  row: ExactFile,
  stored: Uint8Array,
  failures: string[],
): Promise<string> {
  const url =
    `http://127.0.0.1:${port}/dicomweb/sites/${site}/studies/${row.studyInstanceUid}/series/${row.seriesInstanceUid}/instances/${row.sopInstanceUid}`;
  const get = (path: string, accept: string) =>
    fetch(url + path, { headers: { authorization: `Bearer ${token}`, accept } });
  const fail = (what: string) => failures.push(`${row.label} (${row.transferSyntax}) ${what}`);
  const done: string[] = [];

  const single = await get("", "application/dicom; transfer-syntax=*");
  const body = new Uint8Array(await single.arrayBuffer());
  if (single.status !== 200) fail(`application/dicom;transfer-syntax=*: ${single.status}`);
  else if (Number(single.headers.get("content-length")) !== body.length) fail("single part: Content-Length");
  else if (readPart10Header(body).transferSyntax !== row.transferSyntax) fail("single part: syntax changed");
  else {
    const diff = datasetDifference(body, stored);
    if (diff) fail(`single part: ${diff}`);
    else done.push("single");
  }

  const multi = await get("", 'multipart/related; type="application/dicom"; transfer-syntax=*');
  const parts = multi.status === 200 ? await responseParts(multi) : [];
  if (parts.length !== 1) fail(`multipart transfer-syntax=*: ${multi.status}, ${parts.length} parts`);
  else {
    const diff = datasetDifference(parts[0].body, stored);
    if (diff) fail(`multipart: ${diff}`);
    else done.push("multipart");
  }

  const byDefault = await get("", "application/dicom");
  if (byDefault.status === 200) {
    const got = new Uint8Array(await byDefault.arrayBuffer());
    const syntax = readPart10Header(got).transferSyntax;
    if (syntax !== EXPLICIT) fail(`default: ${syntax}`);
    else if (row.transferSyntax === EXPLICIT || row.transferSyntax === DEFLATED) {
      const want = row.transferSyntax === EXPLICIT ? datasetOf(stored) : inflateRawSync(datasetOf(stored));
      if (!Buffer.from(datasetOf(got)).equals(Buffer.from(want))) fail("default: not the stored data set");
      else done.push("default");
    } else if (row.transferSyntax === BIG_ENDIAN) {
      // Byte-swapped: the pixel data as its bulk data gives it (OW by 16-bit words, 32-bit samples too).
      const want = pixelBytes(stored);
      const have = pixelBytes(got);
      if (want && !(have && Buffer.from(have).equals(Buffer.from(want)))) {
        fail("default: pixel data not as bulk data");
      } else done.push("default (swapped)");
    } else done.push("default (converted)");
  } else if (
    byDefault.status === 406 && row.transferSyntax !== EXPLICIT && row.transferSyntax !== BIG_ENDIAN
  ) {
    const problem = await byDefault.json();
    if (!problem.detail && !problem.title) fail("default: a 406 without a problem body");
    done.push(`default 406 (${problem.detail ?? problem.title})`);
  } else fail(`default: ${byDefault.status} ${await byDefault.text()}`);

  const pixels = pixelBytes(stored);
  if (pixels) {
    const bulk = await get("/bulkdata/7FE00010", "*/*");
    const bulkParts = bulk.status === 200 ? await responseParts(bulk) : [];
    const bulkBytes = concat(bulkParts.map((p) => p.body));
    if (bulk.status !== 200) fail(`bulk data: ${bulk.status} ${await bulk.text()}`);
    else if (!Buffer.from(bulkBytes).equals(Buffer.from(pixels))) {
      fail(`bulk data: ${bulkBytes.length} bytes in ${bulkParts.length} parts, want ${pixels.length}`);
    } else done.push("bulk data");
    const facts = frameFacts(stored);
    const list = Array.from({ length: facts.count }, (_, i) => i + 1).join(",");
    const frames = await get(`/frames/${list}`, "*/*");
    const frameParts = frames.status === 200 ? await responseParts(frames) : [];
    const joinedFrames = concat(frameParts.map((p) => p.body));
    // Native: the frames' bytes (the value may hold padding after them); encapsulated: every fragment.
    const want = pixels.subarray(0, facts.nativeBytes ?? pixels.length);
    if (frames.status !== 200) fail(`frames: ${frames.status} ${await frames.text()}`);
    else if (!Buffer.from(joinedFrames).equals(Buffer.from(want))) {
      fail(`frames: ${joinedFrames.length} bytes in ${frameParts.length} parts, want ${want.length}`);
    } else done.push(`${frameParts.length} frames`);
  }
  return `${row.label} ${row.transferSyntax}: ${done.join(", ")}`;
}

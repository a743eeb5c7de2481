/**
 * Objects whose pixel data contradicts their header (tests/support/mismatch_fixtures.ts), stored by STOW-RS
 * at a real agent: their frames are refused with the reason instead of being cut from bytes that are not
 * what the header says, and they are not rendered; a valid object's frames stay as stored.
 */
import assert from "node:assert/strict";
import { multipartRequest } from "../../hub/dicomweb/testing.ts";
import { MISMATCHED, writeMismatched } from "../support/mismatch_fixtures.ts";
import { pydicomSkip } from "../support/pydicom.ts";
import { skipReason } from "../support/peers.ts";
import { responseParts } from "../support/multipart.ts";
import { datasetBytes } from "../support/agent.ts";
import { associate, cStore, release } from "../support/pdu.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { CT, MR } from "./_dicomweb.ts";
import { type OneSite, oneSite, stopOneSite } from "./_one_site.ts";

const skip = skipReason("storescu") || await pydicomSkip();
if (skip) console.warn(`pixel_mismatch_test: skipped: ${skip}`);

interface Rig extends OneSite {
  study: string;
  series: string;
  stow: { status: number; warning: string | null };
  dir: string;
  files: Record<keyof typeof MISMATCHED, string>;
}

const shared = sharedRig<Rig>({
  skip,
  async setUp() {
    const site = await oneSite([CT]);
    const operator = (await site.hub.tokens.create("stow", "operator")).token;
    const dir = await Deno.makeTempDir({ prefix: "mismatch-" });
    const files = await writeMismatched(dir);
    const parts = [];
    for (const f of [...Object.values(files), MR]) parts.push({ bytes: await Deno.readFile(f) });
    const { body, contentType } = multipartRequest(parts);
    const res = await fetch(`http://127.0.0.1:${site.hub.port}/dicomweb/sites/north/studies`, {
      method: "POST",
      headers: { authorization: `Bearer ${operator}`, "content-type": contentType },
      body,
    });
    await res.body?.cancel();
    return {
      ...site,
      study: "1.3.6.1.4.1.5962.1.2.4.20040826185059.5457",
      series: "1.3.6.1.4.1.5962.1.3.4.1.20040826185059.5457",
      stow: { status: res.status, warning: res.headers.get("warning") },
      dir,
      files,
    };
  },
  async stop(r) {
    await stopOneSite(r);
    await Deno.remove(r.dir, { recursive: true });
  },
});

const instance = (r: Rig, sop: string) =>
  `http://127.0.0.1:${r.hub.port}/dicomweb/sites/north/studies/${r.study}/series/${r.series}/instances/${sop}`;

const MR_CLASS = "1.2.840.10008.5.1.4.1.1.4";
const OCTETS = 'multipart/related; type="application/octet-stream"';

async function ask(r: Rig, url: string, accept?: string) {
  return await fetch(url, { headers: { authorization: `Bearer ${r.token}`, ...(accept ? { accept } : {}) } });
}

/** The answer's status and its problem's detail (the body read either way). */
async function refusal(res: Response): Promise<[number, string]> {
  const text = await res.text();
  return [
    res.status,
    res.status >= 400 ? (JSON.parse(text) as { detail: string }).detail : text.slice(0, 80),
  ];
}

shared.test("STOW-RS stores objects whose pixel data contradicts their header, as a C-STORE does", async (r) => {
  await Promise.resolve();
  assert.deepEqual(r.stow, { status: 200, warning: null });
});

shared.test("PS3.18 10.4 frames of pixel data that contradicts its header are 404 with the reason, not bytes", async (r) => {
  const cases: [string, RegExp][] = [
    [
      MISMATCHED.rleNative,
      /native \(not encapsulated\) but transfer syntax 1\.2\.840\.10008\.1\.2\.5 is an encapsulated one/,
    ],
    [
      MISMATCHED.encapsulatedNative,
      /encapsulated \(fragments\) but transfer syntax 1\.2\.840\.10008\.1\.2\.1 is a native one/,
    ],
    [MISMATCHED.bits7, /Bits Allocated 7: native pixel data has 1 or a multiple of 8 bits/],
    [MISMATCHED.framesOver, /shorter than Rows, Columns and NumberOfFrames say/],
  ];
  for (const [sop, reason] of cases) {
    // As stored (no Accept, */*), native (octet-stream: the site would decode), and transcoded (image/jp2).
    for (const accept of [undefined, "*/*", OCTETS, 'multipart/related; type="image/jp2"']) {
      const [status, detail] = await refusal(await ask(r, `${instance(r, sop)}/frames/1`, accept));
      assert.equal(status, 404, `${sop} with Accept ${accept}: ${detail}`);
      assert.match(detail, reason, `${sop} with Accept ${accept}`);
    }
  }
});

shared.test("PS3.18 10.4.1.1.5 their Pixel Data as bulk data is 404 when its encoding contradicts the syntax", async (r) => {
  const cases: [string, number, RegExp?][] = [
    [MISMATCHED.rleNative, 404, /native \(not encapsulated\) but transfer syntax 1\.2\.840\.10008\.1\.2\.5/],
    [
      MISMATCHED.encapsulatedNative,
      404,
      /encapsulated \(fragments\) but transfer syntax 1\.2\.840\.10008\.1\.2\.1/,
    ],
    // The whole value, as stored: Bits Allocated and Number of Frames do not cut it.
    [MISMATCHED.bits7, 200],
    [MISMATCHED.framesOver, 200],
  ];
  for (const [sop, expected, reason] of cases) {
    const [status, detail] = await refusal(await ask(r, `${instance(r, sop)}/bulkdata/7FE00010`));
    assert.equal(status, expected, `${sop}: ${detail}`);
    if (reason) assert.match(detail, reason);
  }
});

shared.test("PS3.18 10.4.1.1.3 such objects and one in an unknown transfer syntax are not rendered (406)", async (r) => {
  const cases: [string, RegExp][] = [
    [MISMATCHED.rleNative, /is an encapsulated one/],
    [MISMATCHED.encapsulatedNative, /is a native one/],
    [MISMATCHED.bits7, /Bits Allocated 7/],
    [MISMATCHED.unknownSyntax, /frames in transfer syntax 1\.2\.840\.10008\.9\.9\.9 cannot be decoded here/],
  ];
  for (const [sop, reason] of cases) {
    for (const what of ["rendered", "frames/1/rendered"]) {
      const [status, detail] = await refusal(await ask(r, `${instance(r, sop)}/${what}`, "image/png"));
      assert.equal(status, 406, `${sop} ${what}: ${detail}`);
      assert.match(detail, reason, `${sop} ${what}`);
    }
  }
});

shared.test("PS3.18 8.7.3 frames of an unknown transfer syntax go as stored, labelled with it; a valid object's as stored", async (r) => {
  const mr = await Deno.readFile(MR);
  // MR_small's Pixel Data: its last 8192 bytes before the trailing padding (the same in the variant).
  const pixels = (file: Uint8Array) => {
    const at = file.length - 138 - 8192;
    return file.subarray(at, at + 8192);
  };
  for (const accept of [undefined, "*/*"]) {
    const res = await ask(r, `${instance(r, MISMATCHED.unknownSyntax)}/frames/1`, accept);
    assert.equal(res.status, 200);
    const [part] = await responseParts(res);
    assert.equal(part.type, "application/octet-stream; transfer-syntax=1.2.840.10008.9.9.9");
    assert.deepEqual(part.body, pixels(mr));
  }
  // Asked as native little endian, it is not (the site cannot know it is).
  const [status] = await refusal(await ask(r, `${instance(r, MISMATCHED.unknownSyntax)}/frames/1`, OCTETS));
  assert.equal(status, 406);
  const sop = "1.3.6.1.4.1.5962.1.1.4.1.1.20040826185059.5457";
  const res = await ask(r, `${instance(r, sop)}/frames/1`, OCTETS);
  assert.equal(res.status, 200);
  const [part] = await responseParts(res);
  assert.equal(part.type, "application/octet-stream");
  assert.deepEqual(part.body, pixels(mr));
});

shared.test("C-STORE stores the same objects too, each in its own syntax (the unknown one included): no word", async (r) => {
  const syntaxes: Record<keyof typeof MISMATCHED, string> = {
    rleNative: "1.2.840.10008.1.2.5",
    bits7: "1.2.840.10008.1.2.1",
    framesOver: "1.2.840.10008.1.2.1",
    encapsulatedNative: "1.2.840.10008.1.2.1",
    unknownSyntax: "1.2.840.10008.9.9.9",
  };
  const names = Object.keys(syntaxes) as (keyof typeof MISMATCHED)[];
  const { socket, ac } = await associate(r.north.port, {
    calledAet: "NORTH",
    callingAet: "MISMATCH",
    contexts: names.map((n, i) => ({
      id: 2 * i + 1,
      abstractSyntax: MR_CLASS,
      transferSyntaxes: [syntaxes[n]],
    })),
  });
  try {
    for (const [i, name] of names.entries()) {
      assert.equal(ac.contexts.find((c) => c.id === 2 * i + 1)?.result, 0, `${syntaxes[name]} accepted`);
      // Another SOP Instance UID of the same length (2.25.9820xx): not the copy STOW-RS stored.
      const dataset = (await datasetBytes(r.files[name])).slice();
      const text = new TextDecoder("latin1").decode(dataset);
      const at = text.indexOf(MISMATCHED[name]);
      dataset.set(new TextEncoder().encode(MISMATCHED[name].replace("98100", "98200")), at);
      const status = await cStore(socket, {
        contextId: 2 * i + 1,
        messageId: i + 1,
        sopClassUid: MR_CLASS,
        sopInstanceUid: MISMATCHED[name].replace("98100", "98200"),
        dataset,
        maxPduLength: ac.maxPduLength,
      });
      assert.equal(status, 0, `${name}: 0x${status.toString(16)}`);
    }
  } finally {
    await release(socket);
  }
  const [status, detail] = await refusal(await ask(r, `${instance(r, "2.25.982001")}/frames/1`));
  assert.equal(status, 404, detail);
});

shared.tearDown("pixel mismatch tests: tear down");

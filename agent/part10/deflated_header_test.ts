/**
 * The header of a deflated object is read from its first compressed bytes inflated up to 1 MiB, more only
 * when the header needs it: 64 KiB of deflated zeros no longer inflate to 64 MiB for a header of a few KiB.
 */
import assert from "node:assert/strict";
import { deflateRawSync } from "node:zlib";
import { TransferSyntax } from "@conduit/shared/dicom";
import { ctObject } from "../../tests/support/faults.ts";
import { part10 } from "../../tests/support/structure_defects.ts";
import { parseHeaderBytes, readHeader } from "./header.ts";
import { memorySource } from "./source.ts";

/** A CT data set (Explicit VR Little Endian) with `before` bytes of a private OB, and `pixels` zero bytes of pixel data. */
function dataset(key: string, pixels: number, before = 0): { sop: string; file: Uint8Array } {
  const o = ctObject(key, { rows: 4, columns: 4 });
  const ds = o.dataset;
  const view = new DataView(ds.buffer, ds.byteOffset, ds.byteLength);
  let at = 0;
  while (((view.getUint16(at, true) << 16) | view.getUint16(at + 2, true)) >>> 0 !== 0x7fe00010) {
    const vr = String.fromCharCode(ds[at + 4], ds[at + 5]);
    at += ["OB", "OW", "SQ", "UN", "UT"].includes(vr)
      ? 12 + view.getUint32(at + 8, true)
      : 8 + view.getUint16(at + 6, true);
  }
  const element = (group: number, el: number, vr: string, length: number) => {
    const h = new Uint8Array(12);
    const v = new DataView(h.buffer);
    v.setUint16(0, group, true);
    v.setUint16(2, el, true);
    h.set([vr.charCodeAt(0), vr.charCodeAt(1)], 4);
    v.setUint32(8, length, true);
    return h;
  };
  const privateOb = before ? [element(0x0029, 0x0010, "OB", before), new Uint8Array(before)] : [];
  const parts = [
    ds.subarray(0, at),
    ...privateOb,
    element(0x7fe0, 0x0010, "OW", pixels),
    new Uint8Array(pixels),
  ];
  const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let put = 0;
  for (const p of parts) whole.set(p, put), put += p.length;
  const file = part10(
    o,
    new Uint8Array(deflateRawSync(whole)),
    TransferSyntax.DeflatedExplicitVRLittleEndian,
  );
  return { sop: o.sopInstanceUid, file };
}

Deno.test("a deflated object's header is inflated up to 1 MiB, not as far as its first 64 KiB go", () => {
  const { sop, file } = dataset("deflated-header", 256 * 1024 * 1024);
  assert.ok(file.length > 64 * 1024, "more compressed bytes than the head");
  const header = parseHeaderBytes(file.subarray(0, 64 * 1024), file.length, false);
  assert.equal(header.header.sopInstanceUid, sop);
  // before: the 64 KiB head inflated to some 64 MiB, all of it kept in `bytes`
  assert.ok(header.bytes.length <= 1024 * 1024, `${header.bytes.length} bytes inflated`);
});

Deno.test("a deflated object's header larger than 1 MiB inflated is read whole", async () => {
  const { sop, file } = dataset("deflated-big-header", 1024, 3 * 1024 * 1024);
  const header = await readHeader(memorySource(file));
  assert.equal(header.header.sopInstanceUid, sop);
  assert.ok(header.dataset.elements.some((e) => e.tag === 0x00291000 || e.tag === 0x00290010));
});

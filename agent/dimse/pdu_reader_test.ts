import assert from "node:assert/strict";
import { PduReader } from "./pdu_reader.ts";
import { BufferPool, Lease } from "./read_buffers.ts";

/** A P-DATA-TF PDU of `n` body bytes, each byte `fill`. */
function pdu(n: number, fill: number): Buffer {
  const b = Buffer.alloc(6 + n, fill);
  b[0] = 4;
  b[1] = 0;
  b.writeUInt32BE(n, 2);
  return b;
}

const accept = () => undefined;

Deno.test("Lease gives its buffer back once every holder has released it, each release counting once", () => {
  const pool = new BufferPool(16, 4);
  const lease = new Lease(pool.take(), pool);
  const a = lease.hold();
  const b = lease.hold();
  a();
  a();
  assert.equal(pool.free, 0, "a second release of one hold does not count");
  b();
  assert.equal(pool.free, 1);
});

Deno.test("PduReader hands PDUs inside a chunk on as views holding the chunk's buffer, and joins the others into its own", () => {
  const pool = new BufferPool(64, 8);
  const reader = new PduReader(accept, 64);
  // Two reads: [PDU 1 (10 bytes), first 8 bytes of PDU 2] and [the rest of PDU 2 (20 bytes in all)].
  const one = pdu(10, 1);
  const two = pdu(20, 2);
  const wire = Buffer.concat([one, two]);
  const got: { bytes: Buffer; release: () => void }[] = [];
  const feed = (part: Buffer) => {
    const bytes = pool.take();
    bytes.set(part);
    const lease = new Lease(bytes, pool);
    const release = lease.hold();
    reader.push(
      Buffer.from(bytes.buffer, bytes.byteOffset, part.length),
      (p, r) => got.push({ bytes: p, release: r }),
      lease,
    );
    release();
  };
  feed(wire.subarray(0, one.length + 8));
  assert.equal(got.length, 1);
  assert.deepEqual(Buffer.from(got[0].bytes), one);
  feed(wire.subarray(one.length + 8));
  assert.equal(got.length, 2);
  assert.deepEqual(Buffer.from(got[1].bytes), two, "the PDU across two reads, joined");
  // The first read's buffer is held by PDU 1 only now; the second's by nothing (PDU 2 was copied out).
  assert.equal(pool.free, 1);
  got[0].release();
  assert.equal(pool.free, 2, "both read buffers are back once PDU 1 is released");
  // The joined buffer is the reader's: it takes the next joined PDU once PDU 2 is released.
  const joined = got[1].bytes.buffer;
  got[1].release();
  feed(wire.subarray(0, one.length + 8));
  feed(wire.subarray(one.length + 8));
  assert.equal(got[3].bytes.buffer, joined, "the joined buffer is used again");
  assert.deepEqual(Buffer.from(got[3].bytes), two);
});

Deno.test("PduReader refuses a header at once and lets go of what it held", () => {
  const pool = new BufferPool(64, 8);
  const reader = new PduReader((type) => (type === 4 ? undefined : "unrecognised PDU type"), 64);
  const bytes = pool.take();
  bytes.set(pdu(30, 3).subarray(0, 10));
  const lease = new Lease(bytes, pool);
  const release = lease.hold();
  assert.equal(
    reader.push(Buffer.from(bytes.buffer, 0, 10), () => assert.fail("no PDU is complete"), lease),
    undefined,
  );
  release();
  assert.equal(pool.free, 0, "the reader holds the start of the PDU");
  reader.clear();
  assert.equal(pool.free, 1);

  const refusing = new PduReader((type) => (type === 4 ? undefined : "unrecognised PDU type"), 64);
  const badBytes = pool.take();
  badBytes.set([9, 0, 0, 0, 0, 0]);
  const badLease = new Lease(badBytes, pool);
  const ours = badLease.hold();
  assert.equal(
    refusing.push(Buffer.from(badBytes.buffer, 0, 6), () => assert.fail("refused"), badLease),
    "unrecognised PDU type",
  );
  ours();
  assert.equal(pool.free, 1, "a refused header's chunk is let go");
  assert.equal(refusing.push(pdu(1, 1), () => assert.fail("nothing after a refusal")), undefined);
});

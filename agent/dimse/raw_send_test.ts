import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { streamRawDataset } from "./_raw_send.ts";
import type { WireSocket } from "./deno_socket.ts";
import type { OutgoingObject } from "./handlers.ts";

/** A socket that keeps what it is given and calls each write's callback only when told to. */
class HeldWrites extends EventEmitter {
  destroyed = false;
  writableLength = 0;
  writes: { bytes: Uint8Array; copy: Uint8Array; cb?: (err?: Error | null) => void }[] = [];
  write(data: Uint8Array, cb?: (err?: Error | null) => void): boolean {
    this.writes.push({ bytes: data, copy: data.slice(), cb });
    return true;
  }
  /** Lets every write so far complete. */
  flush(): void {
    for (const w of this.writes) w.cb?.(), w.cb = undefined;
  }
}

function object(bytes: Uint8Array): OutgoingObject {
  return {
    sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    sopInstanceUid: "1.2.3",
    transferSyntax: "1.2.840.10008.1.2.1",
    datasetSize: bytes.length,
    openDataset: () =>
      Promise.resolve({
        read: (into: Uint8Array, position: number) => {
          const n = Math.min(into.length, bytes.length - position);
          into.set(bytes.subarray(position, position + n));
          return Promise.resolve(n);
        },
        close: () => Promise.resolve(),
      }),
  } as unknown as OutgoingObject;
}

/** The PDVs of the P-DATA-TF PDUs in `wire`: their context, flags and values. */
function pdvs(wire: Uint8Array): { pcId: number; flags: number; value: Uint8Array }[] {
  const out = [];
  const view = new DataView(wire.buffer, wire.byteOffset, wire.byteLength);
  for (let at = 0; at < wire.length;) {
    assert.equal(wire[at], 0x04, `a P-DATA-TF PDU at ${at}`);
    const pduLength = view.getUint32(at + 2);
    const pdvLength = view.getUint32(at + 6);
    assert.equal(pdvLength, pduLength - 4, "one PDV per PDU");
    out.push({
      pcId: wire[at + 10],
      flags: wire[at + 11],
      value: wire.subarray(at + 12, at + 6 + pduLength),
    });
    at += 6 + pduLength;
  }
  return out;
}

/** `n` random bytes (the API gives at most 64 KiB a call). */
function random(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let at = 0; at < n; at += 65536) crypto.getRandomValues(out.subarray(at, Math.min(n, at + 65536)));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) all.set(p, at), at += p.length;
  return all;
}

Deno.test("streamRawDataset sends a data set over several blocks as whole PDUs of the peer's size, last flag on the last only", async () => {
  const big = random(2_700_001);
  const socket = new HeldWrites();
  await streamRawDataset(socket as unknown as WireSocket, object(big), 5, 16384);
  assert.ok(socket.writes.length >= 3, "more than one block");
  const all = pdvs(concat(socket.writes.map((w) => w.copy)));
  assert.ok(all.every((p) => p.pcId === 5 && p.value.length <= 16378));
  assert.deepEqual(all.map((p) => p.flags).filter((f) => f !== 0), [2], "one last fragment");
  assert.equal(all.at(-1)!.flags, 2);
  assert.deepEqual(concat(all.map((p) => p.value)), big);
});

Deno.test("streamRawDataset does not reuse a buffer the socket has not finished writing, and reuses it after", async () => {
  const socket = new HeldWrites();
  const a = random(300_000);
  const b = random(300_000);
  await streamRawDataset(socket as unknown as WireSocket, object(a), 1, 4096);
  await streamRawDataset(socket as unknown as WireSocket, object(b), 1, 4096);
  assert.notEqual(
    socket.writes[0].bytes.buffer,
    socket.writes[1].bytes.buffer,
    "held buffers are not reused",
  );
  // What was handed to the socket is unchanged until its callback.
  assert.deepEqual(socket.writes[0].bytes, socket.writes[0].copy);
  assert.deepEqual(concat(pdvs(socket.writes[0].bytes).map((p) => p.value)), a);
  socket.flush();
  await streamRawDataset(socket as unknown as WireSocket, object(a), 1, 4096);
  assert.ok(
    [socket.writes[0].bytes.buffer, socket.writes[1].bytes.buffer].includes(socket.writes[2].bytes.buffer),
    "a written buffer is used again",
  );
  assert.deepEqual(concat(pdvs(socket.writes[2].copy).map((p) => p.value)), a);
});

Deno.test("streamRawDataset fails on an object shorter than its size", async () => {
  const socket = new HeldWrites();
  const obj = object(new Uint8Array(1000));
  await assert.rejects(
    streamRawDataset(socket as unknown as WireSocket, { ...obj, datasetSize: 2000 }, 1, 16384),
    /shorter than its index says/,
  );
  assert.equal(socket.writes.length, 0);
});

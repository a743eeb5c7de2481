import assert from "node:assert/strict";
import { z } from "zod";
import { BULK_RECORD, Channel } from "./channel.ts";
import { sendRanges } from "./file_ranges.ts";
import { Request } from "./messages.ts";
import { Session } from "./session.ts";
import type { Stream } from "./stream.ts";
import { memoryPair } from "./transport.ts";

function channels(): Promise<[Channel, Channel, () => void]> {
  const [a, b] = memoryPair();
  return new Promise((resolve) => {
    const server = new Session(b, {
      side: "server",
      onStream: (s: Stream) => resolve([here, new Channel(s), () => (client.close(), server.close())]),
    });
    const client = new Session(a, { side: "client" });
    const here = new Channel(client.open());
    here.send({ op: "status" });
  });
}

Deno.test("Channel carries messages and bytes in order, bytes records read in pieces as they arrive", async () => {
  const [here, there, close] = await channels();
  const body = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => i % 253);
  const sending = (async () => {
    await here.sendBytes(body);
    await here.send({ type: "end" });
    await here.end();
  })();
  assert.deepStrictEqual(await there.expect(Request), { op: "status" });
  const parts: Uint8Array<ArrayBuffer>[] = [];
  for (let r = await there.next(); r; r = await there.next()) {
    if (r.kind === "bytes") parts.push(r.data.slice());
    else assert.deepStrictEqual(r.value, { type: "end" });
  }
  await sending;
  // Four records of at most 1 MiB, each read as the frames (64 KiB) that carry it arrive.
  assert.ok(parts.length >= 4, `${parts.length} pieces`);
  assert.ok(parts.every((p) => p.byteLength > 0 && p.byteLength <= 64 * 1024));
  assert.deepStrictEqual(new Uint8Array(await new Blob(parts).arrayBuffer()), body);
  close();
});

Deno.test("sendRanges sends ranges through one buffer read in place, the bytes arriving as they were", async () => {
  const [here, there, close] = await channels();
  const file = new Uint8Array(3 * BULK_RECORD + 1000).map((_, i) => (i * 31 + (i >> 9)) % 251);
  const buffers = new Set<ArrayBufferLike>();
  const source = {
    read: (into: Uint8Array, position: number) => {
      buffers.add(into.buffer);
      const n = Math.min(into.byteLength, file.byteLength - position);
      into.set(file.subarray(position, position + n));
      return Promise.resolve(n);
    },
  };
  const ranges = [{ offset: 5, length: 2 * BULK_RECORD + 7 }, { offset: 3 * BULK_RECORD, length: 1000 }];
  const sending = (async () => {
    await sendRanges(here, source, ranges);
    await here.end();
  })();
  await there.expect(Request);
  const parts: Uint8Array<ArrayBuffer>[] = [];
  for (let r = await there.next(); r; r = await there.next()) {
    if (r.kind === "bytes") parts.push(r.data.slice());
  }
  await sending;
  const want = new Uint8Array(
    await new Blob(ranges.map((r) => file.slice(r.offset, r.offset + r.length))).arrayBuffer(),
  );
  assert.deepStrictEqual(new Uint8Array(await new Blob(parts).arrayBuffer()), want);
  assert.equal(buffers.size, 1, "every read went into the one buffer");
  close();
});

Deno.test("Channel.expect() resets the stream on a message its schema refuses", async () => {
  const [here, there, close] = await channels();
  await there.expect(Request);
  await here.send({ op: "echo" }); // no node
  await assert.rejects(there.expect(Request), /bad message: node/);
  if (!here.stream.signal.aborted) {
    await new Promise((r) => here.stream.signal.addEventListener("abort", r));
  }
  await assert.rejects(here.stream.write(new Uint8Array(1)), /reset by the peer/);
  close();
});

Deno.test("Channel.next() refuses a record longer than its limit", async () => {
  const [here, there, close] = await channels();
  await there.expect(z.unknown());
  const header = new Uint8Array(5);
  header[0] = 2;
  new DataView(header.buffer).setUint32(1, 2 * 1024 * 1024);
  await here.stream.write(header);
  await assert.rejects(there.next(), /limit/);
  close();
});

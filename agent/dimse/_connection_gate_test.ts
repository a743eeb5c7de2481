import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { ConnectionGate, type GatedSocket, type SilentClose } from "./_connection_gate.ts";

/** A connection as the gate sees it: bytes received, and a destroy that emits close (as sockets do, later). */
class FakeSocket extends EventEmitter implements GatedSocket {
  bytesRead = 0;
  destroyed = false;
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    queueMicrotask(() => this.emit("close"));
  }
}

function gate(limit: number, firstByteMs = 60_000) {
  const closed: [FakeSocket, SilentClose][] = [];
  const g = new ConnectionGate({
    limit: () => limit,
    firstByteMs,
    onSilentClosed: (socket, _port, why) => closed.push([socket as FakeSocket, why]),
  });
  return { g, closed };
}

Deno.test("ConnectionGate.admit() closes the oldest silent connection for a new one when the budget is full", () => {
  const { g, closed } = gate(3);
  const [a, b, c, d] = [new FakeSocket(), new FakeSocket(), new FakeSocket(), new FakeSocket()];
  a.bytesRead = 74; // spoke: an A-ASSOCIATE-RQ
  for (const s of [a, b, c]) assert.equal(g.admit(s, "dicom"), true);
  assert.equal(g.admit(d, "dicom"), true);
  assert.deepEqual(closed, [[b, "room for a new connection"]]);
  assert.equal(b.destroyed, true);
  assert.equal(a.destroyed, false);
  assert.equal(g.size, 3, "the closed one leaves the count at once");
  for (const s of [a, c, d]) s.destroy();
});

Deno.test("ConnectionGate.admit() refuses a new connection when every one held has spoken", async () => {
  const { g, closed } = gate(2);
  const held = [new FakeSocket(), new FakeSocket()];
  for (const s of held) {
    s.bytesRead = 1;
    assert.equal(g.admit(s, "tls"), true);
  }
  assert.equal(g.admit(new FakeSocket(), "tls"), false);
  assert.deepEqual(closed, []);
  held[0].destroy();
  await Promise.resolve(); // its close event
  assert.equal(g.size, 1);
  const next = new FakeSocket();
  assert.equal(g.admit(next, "tls"), true);
  for (const s of [held[1], next]) s.destroy();
});

Deno.test("ConnectionGate closes a connection that sent nothing after the first-byte timeout, and no other", async () => {
  const { g, closed } = gate(10, 30);
  const [silent, spoke] = [new FakeSocket(), new FakeSocket()];
  g.admit(silent, "dicom");
  g.admit(spoke, "dicom");
  spoke.bytesRead = 6;
  // The gate's timer does not hold the process open (unref): this one does, meanwhile.
  const hold = setTimeout(() => {}, 5_000);
  await new Promise<void>((r) => silent.once("close", () => r()));
  clearTimeout(hold);
  assert.deepEqual(closed, [[silent, "first-byte timeout"]]);
  assert.equal(spoke.destroyed, false);
  assert.equal(g.size, 1);
  spoke.destroy();
  await Promise.resolve();
  assert.equal(g.size, 0);
});

import assert from "node:assert/strict";
import { encodeFrame, Flag, FrameType, HEADER_BYTES, LARGE_PAYLOAD, Reason } from "./frame.ts";
import { Session, SessionClosedError, type SessionEnd, StreamsBusyError } from "./session.ts";
import type { Stream } from "./stream.ts";
import { memoryPair, type MemoryTransport } from "./transport.ts";

function pair(serverOptions: { window?: number; maxStreams?: number } = {}) {
  const [a, b] = memoryPair();
  const accepted: Stream[] = [];
  const waiting: ((s: Stream) => void)[] = [];
  const server = new Session(b, {
    side: "server",
    ...serverOptions,
    onStream: (s) => {
      const w = waiting.shift();
      if (w) w(s);
      else accepted.push(s);
    },
  });
  const client = new Session(a, { side: "client", window: serverOptions.window });
  const accept = () =>
    accepted.length ? Promise.resolve(accepted.shift()!) : new Promise<Stream>((r) => waiting.push(r));
  return { client, server, accept, transports: { a, b } };
}

async function readAll(stream: Stream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c.slice());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), o += p.byteLength;
  return out;
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

Deno.test("Session delivers a stream's bytes in order across many frames", async () => {
  const { client, server, accept } = pair();
  const data = new Uint8Array(1_000_000).map((_, i) => (i * 7) % 251);
  const s = client.open();
  const write = s.write(data).then(() => s.close());
  const got = await readAll(await accept());
  await write;
  assert.deepStrictEqual(got, data);
  client.close();
  server.close();
});

Deno.test("Session keeps many streams apart", async () => {
  const { client, server, accept } = pair();
  const sends = Array.from({ length: 20 }, async (_, i) => {
    const s = client.open();
    await s.write(new Uint8Array(50_000).fill(i));
    await s.close();
  });
  const received = await Promise.all(Array.from({ length: 20 }, async () => readAll(await accept())));
  await Promise.all(sends);
  const fills = received.map((r) => {
    assert.deepStrictEqual(r.byteLength, 50_000);
    assert(r.every((b) => b === r[0]));
    return r[0];
  });
  assert.deepStrictEqual(fills.sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
  client.close();
  server.close();
});

Deno.test("Session holds a writer to the window while the reader does not read", async () => {
  const window = 64 * 1024;
  const { client, server, accept } = pair({ window });
  const s = client.open();
  let written = 0;
  const writer = (async () => {
    for (let i = 0; i < 64; i++) {
      await s.write(new Uint8Array(16 * 1024));
      written += 16 * 1024;
    }
    await s.close();
  })();
  const peer = await accept();
  await tick(50);
  // The writer stops at the window: nothing more sits unread on the receiving side.
  assert.deepStrictEqual(written, window);
  assert.deepStrictEqual(peer.buffered, window);
  const all = await readAll(peer);
  await writer;
  assert.deepStrictEqual(all.byteLength, 64 * 16 * 1024);
  client.close();
  server.close();
});

Deno.test("Stream.reset() fails the peer's reads and the writer's pending write", async () => {
  const { client, server, accept } = pair({ window: 16 * 1024 });
  const s = client.open();
  const write = s.write(new Uint8Array(100_000));
  const peer = await accept();
  assert(!peer.signal.aborted);
  peer.reset("cancelled");
  await assert.rejects(write, /reset by the peer/);
  await assert.rejects(peer.read(), /reset here/);
  assert(peer.signal.aborted);
  // The session lives on.
  const t = client.open();
  await t.write(new Uint8Array([1, 2, 3]));
  await t.close();
  assert.deepStrictEqual(await readAll(await accept()), new Uint8Array([1, 2, 3]));
  client.close();
  server.close();
});

Deno.test("Session.ping() measures a round trip", async () => {
  const { client, server } = pair();
  const ms = await client.ping();
  assert(ms >= 0 && ms < 1000);
  client.close();
  server.close();
});

Deno.test("Session.beat(): one heartbeat in flight at a time, its round trip, and how late it is", async () => {
  const { client, server } = pair();
  assert.equal(server.beatUnansweredMs, 0);
  server.beat();
  assert.ok(server.beatUnansweredMs >= 0);
  for (let i = 0; i < 200 && server.beatUnansweredMs !== 0; i++) await tick();
  assert.equal(server.beatUnansweredMs, 0, "answered");
  assert.ok(server.beatRttMs !== undefined && server.beatRttMs >= 0 && server.beatRttMs < 1000);
  assert.ok(server.beatAnsweredAt !== undefined && Math.abs(server.beatAnsweredAt - Date.now()) < 1000);
  // A ping and a heartbeat at once are told apart by their values.
  const [ms] = await Promise.all([client.ping(), server.ping(), (server.beat(), tick())]);
  assert.ok(ms >= 0);
  // The heartbeat's answer may come a turn after the pings' on a busy machine.
  for (let i = 0; i < 200 && server.beatUnansweredMs !== 0; i++) await tick();
  assert.equal(server.beatUnansweredMs, 0);
  client.close();
  server.close();

  // A peer that never answers: the heartbeat stays in flight and grows late; no second one is sent.
  const [a, b] = memoryPair();
  const lone = new Session(b, { side: "server" });
  const sent: Uint8Array[] = [];
  a.start({ message: (d) => typeof d !== "string" && sent.push(d), close: () => {} });
  lone.beat();
  await tick(30);
  lone.beat();
  await tick();
  assert.equal(sent.length, 1, "one ping frame on the wire");
  assert.ok(lone.beatUnansweredMs >= 25, `late by ${lone.beatUnansweredMs} ms`);
  assert.equal(lone.beatRttMs, undefined);
  lone.close();
});

Deno.test("Session.goAway() lets open streams finish and refuses new ones", async () => {
  const { client, server, accept } = pair();
  const s = client.open();
  await s.write(new Uint8Array([9]));
  const peer = await accept();
  server.goAway();
  await tick();
  assert(!server.isClosed);
  let threw = false;
  try {
    client.open();
  } catch {
    threw = true;
  }
  assert(threw, "opening a stream after the peer's GoAway throws");
  await s.close();
  assert.deepStrictEqual(await readAll(peer), new Uint8Array([9]));
  await server.shutdown(1000);
  assert.deepStrictEqual((await client.ended).reason, Reason.Normal);
});

Deno.test("Session refuses a stream past maxStreams with RST and keeps the others", async () => {
  const { client, server, accept } = pair({ maxStreams: 2 });
  const a = client.open(), b = client.open(), c = client.open();
  await a.write(new Uint8Array([1]));
  await b.write(new Uint8Array([2]));
  // The refusal travels back as an RST: wait for it (however busy the machine), then writes fail.
  if (!c.signal.aborted) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise((resolve) => c.signal.addEventListener("abort", resolve)),
      new Promise((_, reject) => timer = setTimeout(() => reject(new Error("no RST within 10 s")), 10_000)),
    ]).finally(() => clearTimeout(timer));
  }
  await assert.rejects(c.write(new Uint8Array([3])), /reset/);
  await a.close();
  await b.close();
  assert.deepStrictEqual(await readAll(await accept()), new Uint8Array([1]));
  assert.deepStrictEqual(await readAll(await accept()), new Uint8Array([2]));
  assert(!server.isClosed);
  client.close();
});

Deno.test("Session.close() fails every open stream on both sides", async () => {
  const { client, server, accept } = pair();
  const s = client.open();
  await s.write(new Uint8Array([1]));
  const peer = await accept();
  await peer.read();
  client.close(Reason.Revoked, "revoked");
  await assert.rejects(peer.read(), /Revoked/);
  const end = await server.ended;
  assert.deepStrictEqual(end.reason, Reason.Revoked);
  assert.deepStrictEqual(end.local, false);
});

Deno.test("a transport cut ends the session with every stream failed", async () => {
  const { client, server, accept, transports } = pair();
  const s = client.open();
  await s.write(new Uint8Array([1]));
  const peer = await accept();
  await peer.read();
  (transports.a as MemoryTransport).cut();
  await assert.rejects(peer.read());
  await assert.rejects(s.write(new Uint8Array(1)));
  assert(client.isClosed && server.isClosed);
});

/** A session on one end and a raw transport on the other, to inject bad frames. */
function rawPeer() {
  const [raw, b] = memoryPair();
  let closed: { code: number; reason: string } | undefined;
  raw.start({ message: () => {}, close: (code, reason) => (closed = { code, reason }) });
  const ends: SessionEnd[] = [];
  const session = new Session(b, { side: "server", window: 1024, onClose: (e) => ends.push(e) });
  return { raw, session, ends, closedWith: () => closed };
}

function header(type: number, flags: number, stream: number, length: number): Uint8Array {
  return encodeFrame({ type: type as FrameType, flags, stream, length });
}

const badInputs: [string, (raw: MemoryTransport) => void, number][] = [
  ["a frame shorter than its header", (raw) => raw.send(new Uint8Array(5)), Reason.ProtocolError],
  ["an unknown frame type", (raw) => raw.send(header(9, 0, 1, 0)), Reason.ProtocolError],
  ["a wrong frame version", (raw) => {
    const f = header(FrameType.Ping, Flag.SYN, 0, 1);
    f[0] = 7;
    raw.send(f);
  }, Reason.BadVersion],
  ["a data frame for a stream never opened", (raw) =>
    raw.send(encodeFrame({
      type: FrameType.Data,
      flags: 0,
      stream: 5,
      length: 1,
      payload: new Uint8Array(1),
    })), Reason.UnknownStream],
  ["data past the window", (raw) => {
    raw.send(header(FrameType.WindowUpdate, Flag.SYN, 1, 0));
    raw.send(
      encodeFrame({ type: FrameType.Data, flags: 0, stream: 1, length: 0, payload: new Uint8Array(2048) }),
    );
  }, Reason.FlowControl],
  ["an oversize data frame", (raw) => {
    raw.send(header(FrameType.WindowUpdate, Flag.SYN, 1, 0));
    raw.send(
      encodeFrame({
        type: FrameType.Data,
        flags: 0,
        stream: 1,
        length: 0,
        payload: new Uint8Array(LARGE_PAYLOAD + 1),
      }),
    );
  }, Reason.Oversize],
  ["a length that disagrees with the payload", (raw) => {
    const f = new Uint8Array(HEADER_BYTES + 3);
    f.set(header(FrameType.Data, 0, 1, 10));
    raw.send(f);
  }, Reason.ProtocolError],
  [
    "a stream opened with the server's parity",
    (raw) => raw.send(header(FrameType.WindowUpdate, Flag.SYN, 2, 0)),
    Reason.ProtocolError,
  ],
  ["a text message inside the session", (raw) => raw.send("hello"), Reason.ProtocolError],
];

for (const [what, inject, reason] of badInputs) {
  Deno.test(`Session closes with a reason code on ${what}`, async () => {
    const { raw, session, ends, closedWith } = rawPeer();
    inject(raw);
    const end = await session.ended;
    assert.deepStrictEqual(end.reason, reason);
    assert.deepStrictEqual(ends.length, 1);
    await tick();
    assert.deepStrictEqual(closedWith()?.code, 4000 + reason);
  });
}

Deno.test("Stream.grow() lets the writer send past the default window", async () => {
  const window = 64 * 1024;
  const { client, server, accept } = pair({ window });
  const s = client.open();
  const peer = await accept();
  peer.grow(64 * 1024);
  await tick(10);
  let written = 0;
  const writer = (async () => {
    for (let i = 0; i < 16; i++) await s.write(new Uint8Array(16 * 1024)), written += 16 * 1024;
    await s.close();
  })();
  await tick(50);
  assert.deepStrictEqual(written, 128 * 1024);
  assert.deepStrictEqual(peer.buffered, 128 * 1024);
  const [all] = await Promise.all([readAll(peer), writer]);
  assert.deepStrictEqual(all.byteLength, 256 * 1024);
  client.close();
  server.close();
});

/**
 * A transport to a peer that reads nothing: every message sent stays queued (`bufferedAmount` only
 * grows); `inject` delivers a message from that peer.
 */
function deafPeer() {
  let handlers: { message(d: Uint8Array | string): void; close(code: number, reason: string): void };
  let queued = 0;
  let closed: number | undefined;
  const transport = {
    copiesOnSend: true,
    send(d: Uint8Array | string) {
      if (closed === undefined) queued += typeof d === "string" ? d.length : d.byteLength;
    },
    get bufferedAmount() {
      return queued;
    },
    start(h: typeof handlers) {
      handlers = h;
    },
    close(code = 1000) {
      closed ??= code;
    },
  };
  return {
    transport,
    inject: (d: Uint8Array) => handlers.message(d),
    queued: () => queued,
    closedWith: () => closed,
  };
}

/**
 * A peer that makes this side answer (pings; streams opened and reset) and never reads the answers ends
 * its session within a bounded number of answers. Until 2026-12-04 each ping was answered into the
 * socket's queue for as long as the peer kept sending, about 1 KB of the hub's memory for each 12-byte
 * answer: an enrolled agent that also answered the hub's heartbeat blindly (its ping values are a
 * counter) took a hub to 8 GB in 40 s.
 */
for (
  const [what, frame] of [
    [
      "pings",
      (i: number) => encodeFrame({ type: FrameType.Ping, flags: Flag.SYN, stream: 0, length: i & 0xffff }),
    ],
    [
      "streams opened and reset",
      (i: number) =>
        encodeFrame({
          type: FrameType.WindowUpdate,
          flags: Flag.SYN | Flag.RST,
          stream: 2 * i + 1,
          length: 0,
        }),
    ],
  ] as const
) {
  Deno.test(`Session ends a peer that reads none of the answers its ${what} ask for`, () => {
    const peer = deafPeer();
    const session = new Session(peer.transport, { side: "server" });
    let sent = 0;
    while (!session.isClosed && sent < 1_000_000) peer.inject(frame(sent++));
    assert.ok(session.isClosed, `the session answered ${sent} frames into a queue of ${peer.queued()} bytes`);
    assert.equal(peer.closedWith(), 4000 + Reason.FlowControl);
    assert.ok(sent < 20_000, `${sent} frames answered before the session ended`);
  });
}

Deno.test("Session: a reader that drains its queue is never taken for a deaf one", async () => {
  const { client, server, accept } = pair();
  // 30,000 pings (more than the limit), a thousand at a time, while 2 MB go through a stream.
  const s = client.open();
  const write = s.write(new Uint8Array(2_000_000)).then(() => s.close());
  const reading = accept().then(readAll);
  for (let i = 0; i < 30; i++) await Promise.all(Array.from({ length: 1000 }, () => client.ping()));
  const got = await reading;
  await write;
  assert.equal(got.byteLength, 2_000_000);
  assert.equal(client.isClosed || server.isClosed, false);
  client.close();
  server.close();
});

Deno.test("Session.openWhenFree() waits, first come first served, for a stream of its own to end rather than open one the peer refuses", async () => {
  const [a, b] = memoryPair();
  const server = new Session(b, { side: "server", maxStreams: 2 });
  const client = new Session(a, { side: "client", peerMaxStreams: 2 });
  const first = await client.openWhenFree(1000), second = await client.openWhenFree(1000);
  let third: Stream | undefined, fourth: Stream | undefined;
  const waiting = [
    client.openWhenFree(10_000).then((s) => third = s),
    client.openWhenFree(10_000).then((s) => fourth = s),
  ];
  await tick(20);
  assert.equal(third, undefined, "no third stream while two are open");
  first.reset("done");
  await waiting[0];
  await tick(20);
  assert.equal(fourth, undefined, "the fourth waits for the next stream to end");
  await second.close(); // half-closed only: still open
  await tick(20);
  assert.equal(fourth, undefined);
  second.reset("done");
  await waiting[1];
  await third!.write(new Uint8Array([3]));
  await fourth!.write(new Uint8Array([4]));
  await tick(20);
  assert.ok(!third!.signal.aborted && !fourth!.signal.aborted, "the peer took both (no RST)");
  await assert.rejects(client.openWhenFree(50), StreamsBusyError);
  const late = client.openWhenFree(10_000);
  client.close();
  await assert.rejects(late, SessionClosedError);
  server.close();
});

Deno.test("Session.shutdown() waits its grace on monotonic time: a wall clock stepped back an hour does not hold it", async () => {
  const { client, server, accept } = pair();
  const s = client.open();
  await s.write(new Uint8Array([1]));
  await accept(); // a stream open on both sides that nobody ends
  const real = Date.now;
  let stepped = false;
  // The wall clock goes back an hour just after the shutdown has read it (an NTP step, `date -s`).
  Date.now = () => (stepped ? real() - 3_600_000 : (stepped = true, real()));
  try {
    const done = await Promise.race([
      client.shutdown(200).then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 3000)),
    ]);
    assert.ok(done, "the shutdown ended after its 200 ms grace, not an hour later");
  } finally {
    Date.now = real;
    client.close();
    server.close();
  }
});

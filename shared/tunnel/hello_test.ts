import assert from "node:assert/strict";
import { HEADER_BYTES, LARGE_PAYLOAD, MAX_PAYLOAD } from "./frame.ts";
import { z } from "zod";
import {
  clientHandshake,
  FEATURE_COMMITMENT_STATE,
  FEATURE_CONFLICT_RESOLVE,
  FEATURE_CONFLICTS,
  FEATURE_CREDENTIAL,
  FEATURE_DEAD_LETTER_MANAGE,
  FEATURE_DELIVERY,
  FEATURE_DELIVERY_NOT_STORED,
  FEATURE_ERASE,
  FEATURE_INSTANCE_PATH,
  FEATURE_OBJECTS_AFTER,
  FEATURE_QUERY_OFFSET,
  FEATURE_QUEUE_HELD,
  FEATURE_SERIES_TRANSFER,
  FEATURE_SITE_ONLINE,
  FEATURE_TRANSFER_DEID_CUSTOM,
  framePayloadFor,
  HandshakeError,
  Hello,
  serverHandshake,
  versionWithout,
} from "./hello.ts";
import * as hello from "./hello.ts";
import { Session } from "./session.ts";
import type { Stream } from "./stream.ts";
import type { Transport } from "./transport.ts";

/** The welcome as an agent from before `maxFrame` parsed it: strictly, refusing unknown fields. */
const OLD_WELCOME = z.object({
  protocol: z.literal("conduit-tunnel"),
  version: z.number().int(),
  accepted: z.literal(true),
  site: z.string(),
  hubVersion: z.string(),
  heartbeatSeconds: z.number().positive(),
}).strict();

/**
 * The welcome as an agent from before `heartbeatTimeoutSeconds` parsed it: with `maxFrame`, ignoring (zod's
 * object strips) the fields it does not know.
 */
const PREVIOUS_WELCOME = z.object({
  protocol: z.literal("conduit-tunnel"),
  version: z.number().int(),
  accepted: z.literal(true),
  site: z.string(),
  hubVersion: z.string(),
  heartbeatSeconds: z.number().positive(),
  maxFrame: z.number().int().optional(),
});

/** A transport that records the length of every frame sent through it. */
function counting(transport: Transport, sizes: number[]): Transport {
  return Object.assign(Object.create(transport) as Transport, {
    send: (data: Uint8Array) => {
      sizes.push(data.byteLength - HEADER_BYTES);
      transport.send(data);
    },
  });
}

async function readAll(stream: Stream): Promise<number> {
  let n = 0;
  for await (const c of stream) n += c.byteLength;
  return n;
}

/**
 * The hello and the welcome each offer the largest frame their side accepts, and each side then sends
 * frames up to it: over a real WebSocket pair, 600 kB each way go in frames larger than 64 KiB and none
 * larger than LARGE_PAYLOAD. A peer that offers nothing gets 64 KiB frames.
 */
for (const offer of [true, false]) {
  Deno.test(`hello: frames ${offer ? "up to the size the peer offered" : "of 64 KiB to a peer that offered none"}`, async () => {
    const accepted = Promise.withResolvers<
      { session: Session; maxFrame?: number; features?: string[]; sizes: number[] }
    >();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      serverHandshake(
        socket,
        () => Promise.resolve({ ok: true as const, heartbeatSeconds: 5, hubVersion: "test" }),
        (hello, transport) => {
          const sizes: number[] = [];
          const session = new Session(counting(transport, sizes), {
            side: "server",
            sendPayload: framePayloadFor(hello.maxFrame),
            onStream: (stream) => {
              readAll(stream).then(async (n) => {
                await stream.write(new Uint8Array(n));
                await stream.close();
              });
            },
          });
          accepted.resolve({ session, maxFrame: hello.maxFrame, features: hello.features, sizes });
        },
      ).catch(accepted.reject);
      return response;
    });
    const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
    await new Promise((r) => (ws.onopen = r));
    let clientSession: Session | undefined;
    try {
      let welcomeFrame: number | undefined;
      let welcomed: unknown;
      let transport: Transport;
      if (offer) {
        const r = await clientHandshake(ws, { site: "north", agentVersion: "test" });
        welcomeFrame = r.welcome.maxFrame;
        transport = r.transport;
      } else {
        // A peer of an earlier version: its hello names no frame size.
        const hello: Hello = { protocol: "conduit-tunnel", version: 1, site: "north", agentVersion: "old" };
        const welcome = new Promise<unknown>((r) => (ws.onmessage = (e) => r(JSON.parse(String(e.data)))));
        ws.send(JSON.stringify(hello));
        welcomed = await welcome;
        welcomeFrame = (welcomed as { maxFrame?: number }).maxFrame;
        ws.onmessage = null;
        const { webSocketTransport } = await import("./transport.ts");
        transport = webSocketTransport(ws);
      }
      if (offer) assert.equal(welcomeFrame, LARGE_PAYLOAD, "the welcome offers the hub side's frame size");
      else {
        assert.equal(
          welcomeFrame,
          undefined,
          "a welcome to an agent that offered nothing names no frame size",
        );
        assert.ok(OLD_WELCOME.safeParse(welcomed).success, "an agent of the old hello takes the welcome");
      }
      const sizes: number[] = [];
      clientSession = new Session(counting(transport, sizes), {
        side: "client",
        sendPayload: offer ? framePayloadFor(welcomeFrame) : MAX_PAYLOAD,
      });
      const far = await accepted.promise;
      assert.equal(far.maxFrame, offer ? LARGE_PAYLOAD : undefined);
      // What the hub may ask beyond version 1 (an older agent names nothing, and is asked as before).
      assert.deepEqual(
        far.features,
        offer
          ? [
            FEATURE_INSTANCE_PATH,
            FEATURE_DELIVERY,
            FEATURE_SERIES_TRANSFER,
            FEATURE_TRANSFER_DEID_CUSTOM,
            FEATURE_CREDENTIAL,
            FEATURE_COMMITMENT_STATE,
            FEATURE_CONFLICTS,
            FEATURE_ERASE,
            FEATURE_CONFLICT_RESOLVE,
            FEATURE_DEAD_LETTER_MANAGE,
            FEATURE_DELIVERY_NOT_STORED,
            FEATURE_QUERY_OFFSET,
            FEATURE_OBJECTS_AFTER,
            FEATURE_SITE_ONLINE,
            FEATURE_QUEUE_HELD,
          ]
          : undefined,
      );
      const stream = clientSession.open();
      const written = stream.write(new Uint8Array(600_000)).then(() => stream.close());
      assert.equal(await readAll(stream), 600_000);
      await written;
      for (const [side, list] of [["client", sizes], ["server", far.sizes]] as const) {
        const largest = Math.max(...list);
        if (offer) {
          assert.ok(largest > MAX_PAYLOAD, `${side} sent frames of at most ${largest} bytes`);
          assert.ok(largest <= LARGE_PAYLOAD, `${side} sent a frame of ${largest} bytes`);
        } else assert.equal(largest, MAX_PAYLOAD, `${side} sent a frame of ${largest} bytes`);
      }
      far.session.close();
    } finally {
      clientSession?.close();
      await server.shutdown();
    }
  });
}

Deno.test("hello: framePayloadFor takes the smaller of the offer and this side's largest", () => {
  assert.equal(framePayloadFor(undefined), MAX_PAYLOAD);
  assert.equal(framePayloadFor(128 * 1024), 128 * 1024);
  assert.equal(framePayloadFor(1024 * 1024), LARGE_PAYLOAD);
});

Deno.test("hello: fields of a later version are ignored, a bad frame size refused", () => {
  const base = { protocol: "conduit-tunnel", version: 1, site: "north", agentVersion: "9.0.0" };
  assert.ok(Hello.safeParse({ ...base, somethingNew: true }).success);
  assert.equal(Hello.safeParse({ ...base, maxFrame: 1024 }).success, false);
  assert.equal(Hello.safeParse({ ...base, maxFrame: "big" }).success, false);
});

/** A server that runs `serverHandshake` on every upgrade and reports how each ended. */
function handshakeServer(ended: (outcome: unknown) => void) {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    serverHandshake(
      socket,
      () => Promise.resolve({ ok: true as const, heartbeatSeconds: 5, hubVersion: "test" }),
      () => "started",
    ).then(ended, ended);
    return response;
  });
}

/**
 * The hub names its heartbeat timeout in the welcome, so the agent gives a half-open link up when the hub
 * does: to an agent that offered a frame size (every such agent ignores fields it does not know; the one
 * before this field takes the welcome and keeps its own 10 s), never to an agent of the first, strict hello.
 */
Deno.test("hello: the welcome names the hub's heartbeat timeout to agents that take it", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    serverHandshake(
      socket,
      () =>
        Promise.resolve({
          ok: true as const,
          heartbeatSeconds: 2,
          heartbeatTimeoutSeconds: 7,
          hubVersion: "test",
        }),
      () => "started",
    ).catch(() => {});
    return response;
  });
  /** The welcome, as received, to a hello of `fields` (beyond the four every version sends). */
  const welcomeTo = async (fields: Record<string, unknown>) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
    await new Promise((r) => (ws.onopen = r));
    const got = new Promise<unknown>((r) => (ws.onmessage = (e) => r(JSON.parse(String(e.data)))));
    ws.send(
      JSON.stringify({ protocol: "conduit-tunnel", version: 1, site: "north", agentVersion: "x", ...fields }),
    );
    const welcome = await got;
    const closed = new Promise((r) => (ws.onclose = r));
    ws.close();
    await closed;
    return welcome as Record<string, unknown>;
  };
  try {
    // This version's agent: the welcome's timeout is the one it uses.
    const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
    await new Promise((r) => (ws.onopen = r));
    const { welcome, transport } = await clientHandshake(ws, { site: "north", agentVersion: "test" });
    assert.equal(welcome.heartbeatTimeoutSeconds, 7);
    assert.equal(welcome.heartbeatSeconds, 2);
    transport.close();
    // The agent before the field (maxFrame and features in its hello): it takes the welcome.
    const previous = await welcomeTo({ maxFrame: LARGE_PAYLOAD, features: [FEATURE_INSTANCE_PATH] });
    assert.equal(previous.heartbeatTimeoutSeconds, 7);
    assert.ok(PREVIOUS_WELCOME.safeParse(previous).success, "the previous agent takes the welcome");
    // The agent of the first hello parses strictly: it is sent neither maxFrame nor the timeout.
    const first = await welcomeTo({});
    assert.equal(first.heartbeatTimeoutSeconds, undefined);
    assert.ok(OLD_WELCOME.safeParse(first).success, "the first agent takes the welcome");
  } finally {
    await server.shutdown();
  }
});

/**
 * A hello whose version is no number, or whose refusal would not fit a close frame (123 bytes of UTF-8),
 * is still refused and the socket closed at once: until 2026-12-04 a version of 200 "é" made the refusal's
 * close throw, so the socket stayed open for good (an unhandled rejection, and a connection anyone could
 * hold without a credential).
 */
Deno.test("hello: a version that is no number, however long, is refused and the socket closed", async () => {
  const outcomes: unknown[] = [];
  const server = handshakeServer((o) => outcomes.push(o));
  try {
    for (const version of ["é".repeat(200), { nested: ["x".repeat(10_000)] }, 2]) {
      const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
      await new Promise((r) => (ws.onopen = r));
      const got: string[] = [];
      ws.onmessage = (e) => got.push(String(e.data));
      const closed = new Promise<CloseEvent>((r) => (ws.onclose = r));
      ws.send(JSON.stringify({ protocol: "conduit-tunnel", version, site: "north", agentVersion: "1" }));
      const timer = setTimeout(() => ws.close(), 3000);
      const e = await closed;
      clearTimeout(timer);
      assert.equal(e.code, 4006, `version ${JSON.stringify(version).slice(0, 40)}: closed ${e.code}`);
      assert.ok(new TextEncoder().encode(e.reason).byteLength <= 123);
      const refusal = JSON.parse(got[0]);
      assert.equal(refusal.accepted, false);
      assert.equal(refusal.reason, 6);
      assert.ok(refusal.message.length < 200, `a refusal of ${refusal.message.length} characters`);
    }
    assert.equal(outcomes.length, 3);
    for (const o of outcomes) assert.ok(o instanceof HandshakeError && o.reason === 6, String(o));
  } finally {
    await server.shutdown();
  }
});

/**
 * An agent that reads a refusal with a reason code outside the close codes an application may send, or
 * a message longer than a close frame holds, rejects its handshake (and so reconnects later): until
 * 2026-12-04 closing the socket with them threw inside the message handler, and the handshake never ended.
 */
Deno.test("hello: the agent takes any refusal, whatever its reason code and message", async () => {
  for (const [reason, message] of [[1000, "from a later hub"], [7, "é".repeat(100)]] as const) {
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onmessage = () =>
        socket.send(
          JSON.stringify({ protocol: "conduit-tunnel", version: 1, accepted: false, reason, message }),
        );
      return response;
    });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
      await new Promise((r) => (ws.onopen = r));
      const err = await clientHandshake(ws, { site: "north", agentVersion: "test" }, 3000).then(
        () => undefined,
        (e) => e,
      );
      assert.ok(err instanceof HandshakeError, String(err));
      assert.equal(err.reason, reason);
      assert.match(err.message, /refused/);
    } finally {
      await server.shutdown();
    }
  }
});

/**
 * A hub that fails while checking a hello (its database down, say) tells the agent only that, and keeps
 * the reason for its own log: until 2026-12-04 the refusal quoted the error, a database error's query
 * (tables and columns) included, to anyone who sent a hello.
 */
Deno.test("hello: a hub that fails checking the hello does not send the agent why", async () => {
  const failed = Promise.withResolvers<unknown>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    serverHandshake(
      socket,
      () =>
        Promise.reject(new Error('Failed query: select "credential_hash" from "sites" where "name" = $1')),
      () => "started",
    ).then(failed.resolve, failed.resolve);
    return response;
  });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
    await new Promise((r) => (ws.onopen = r));
    const err = await clientHandshake(ws, { site: "north", agentVersion: "test" }, 3000).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof HandshakeError, String(err));
    assert.equal(err.reason, 2);
    assert.doesNotMatch(err.message, /credential_hash|Failed query/);
    const logged = await failed.promise;
    assert.ok(logged instanceof HandshakeError);
    assert.match(logged.message, /Failed query/, "the hub's side keeps the reason for its log");
  } finally {
    await server.shutdown();
  }
});

Deno.test("hello: a hello that times out on a socket already closing is refused, never a throw in a timer", async () => {
  // The agent left as the timeout came: the socket is closing and its close event not yet delivered.
  const ws = {
    readyState: WebSocket.CLOSING,
    send() {
      throw new DOMException("'readyState' not OPEN", "InvalidStateError");
    },
    close() {},
    onclose: null,
    onmessage: null,
  } as unknown as WebSocket;
  const err = await serverHandshake(ws, () => Promise.reject(new Error("not asked")), () => "started", 20)
    .then(() => undefined, (e) => e);
  assert.ok(err instanceof HandshakeError, String(err));
  assert.match(err.message, /no hello within 20 ms/);
});

/**
 * Every agent so far calls itself 0.1.0, so a hub's "this agent version (0.1.0) cannot ...: upgrade it" named
 * the hub's own version too (by hand, 2026-12-06, an agent of 2026-12-05 00:21 under a hub of 2026-12-06):
 * the message now says from when agents can.
 */
Deno.test("versionWithout() names the version and when agents began naming the feature", () => {
  assert.equal(versionWithout("0.1.0", FEATURE_ERASE), "0.1.0, older than 2026-12-05 09:03 UTC");
  assert.equal(versionWithout(undefined, FEATURE_CONFLICTS), "older than 2026-12-05 06:41 UTC");
  assert.equal(versionWithout("0.1.0", "a-later-feature"), "0.1.0");
  assert.equal(versionWithout(undefined, "a-later-feature"), "unknown version");
});

Deno.test("versionWithout() names an agent's build and the feature it lacks, not a date, once it names its build", () => {
  assert.equal(
    versionWithout("0.1.0+140c00aa (2026-12-06)", FEATURE_ERASE),
    '0.1.0+140c00aa (2026-12-06), which lacks the feature "erase"',
  );
  assert.equal(
    versionWithout("0.1.0+140c00aa (2026-12-07, modified)", "a-later-feature"),
    '0.1.0+140c00aa (2026-12-07, modified), which lacks the feature "a-later-feature"',
  );
  // A tree without a commit says so; the date then still tells something.
  assert.equal(
    versionWithout("0.1.0 (unknown commit)", FEATURE_ERASE),
    "0.1.0 (unknown commit), older than 2026-12-05 09:03 UTC",
  );
});

Deno.test("versionWithout() knows when each feature an agent names began", () => {
  const features = Object.entries(hello).filter(([key]) => key.startsWith("FEATURE_"));
  assert.ok(features.length >= 11);
  for (const [key, feature] of features) {
    assert.match(versionWithout(undefined, feature as string), /^older than 20\d\d-/, key);
  }
});

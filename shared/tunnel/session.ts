/**
 * A tunnel session: many streams over one transport, each with a credit window (the yamux model).
 * A side may send on a stream only as many bytes as the peer has granted; the peer grants more as
 * its reader consumes, so a slow reader holds at most one window per stream in memory, whatever the
 * sender's speed. The transport's `bufferedAmount` is a second guard: data writes also wait while
 * more than `highWater` bytes sit unsent.
 *
 * Any frame that breaks the protocol (malformed, unknown stream, window overrun, oversize, wrong
 * version) ends the whole session with a reason code; the peer learns it from a GoAway and from the
 * WebSocket close code (4000 + reason).
 */
import {
  decodeFrame,
  encodeFrame,
  encodeFrameInto,
  Flag,
  type Frame,
  FrameType,
  HEADER_BYTES,
  LARGE_PAYLOAD,
  MAX_PAYLOAD,
  ProtocolError,
  Reason,
  reasonName,
} from "./frame.ts";
import type { Transport } from "./transport.ts";
import { Stream, type StreamHost } from "./stream.ts";

export { Stream };

export interface SessionOptions {
  /** The client opens odd stream ids, the server even ones. */
  side: "client" | "server";
  /** The receive window each stream starts with, in bytes. */
  window?: number;
  /** The largest Data payload accepted from the peer (default LARGE_PAYLOAD). */
  maxPayload?: number;
  /**
   * The largest Data payload sent: MAX_PAYLOAD, which every peer accepts, unless the peer said in its
   * hello that it takes more (`framePayloadFor`).
   */
  sendPayload?: number;
  /** Streams the peer may have open at once; one more is refused with RST. */
  maxStreams?: number;
  /**
   * Streams this side may have open to the peer at once (the peer's `maxStreams`; 256, every agent's):
   * `openWhenFree` waits for one of them to end rather than open one the peer would refuse.
   */
  peerMaxStreams?: number;
  /** Data writes wait while the transport holds more than this many unsent bytes. */
  highWater?: number;
  /** Called for each stream the peer opens. */
  onStream?: (stream: Stream) => void;
  /** Called once when the session ends, with the reason. */
  onClose?: (end: SessionEnd) => void;
}

export interface SessionEnd {
  reason: Reason | number;
  message: string;
  /** Whether this side decided it (false: the peer or the network did). */
  local: boolean;
}

/** `openWhenFree` waited its time and every stream the peer takes was still open. */
export class StreamsBusyError extends Error {
  override name = "StreamsBusyError";
}

export class SessionClosedError extends Error {
  override name = "SessionClosedError";
  constructor(readonly reason: number, message: string) {
    super(message);
  }
}

const DEFAULT_WINDOW = 256 * 1024;

/**
 * A peer that keeps this side answering (pings, streams opened and refused or reset) and reads none of
 * the answers: each answer would wait in the socket's queue for as long as the peer keeps asking, and a
 * queued message costs the process far more than its 12 bytes (about 1 KB in Deno, a pending write
 * each). So once UNREAD_SENDS frames in a row went out while more than UNREAD_BYTES sat unsent, with no
 * Data among them, the session ends (FlowControl). A peer that reads is far from it: Data goes out only
 * while the queue is under `highWater`, and this side sends little else unless asked.
 */
const UNREAD_BYTES = 64 * 1024;
const UNREAD_SENDS = 10_000;

/**
 * The one buffer frames are encoded into for transports that copy each message inside send(): sends
 * are synchronous on this thread, so every session of the process can share it (a buffer per session
 * would be 256 KiB for each of a hub's thousand agents).
 */
const scratch = (() => {
  const bytes = new Uint8Array(HEADER_BYTES + LARGE_PAYLOAD);
  return { bytes, view: new DataView(bytes.buffer) };
})();

export class Session {
  readonly #transport: Transport;
  readonly #options: Required<Omit<SessionOptions, "onStream" | "onClose">> & SessionOptions;
  readonly #streams = new Map<number, Stream>();
  readonly #host: StreamHost;
  #nextId: number;
  #highestPeer = 0;
  #peerStreams = 0;
  /** Streams this side opened that are still open, and the callers of openWhenFree waiting, in order. */
  #ownStreams = 0;
  readonly #slotWaiters: { ready(): void; fail(e: Error): void }[] = [];
  #goingAway = false;
  #peerGoingAway = false;
  #end?: SessionEnd;
  readonly #ended: Promise<SessionEnd>;
  #resolveEnded!: (end: SessionEnd) => void;
  readonly #pings = new Map<number, { start: number; resolve(ms: number): void; reject(e: Error): void }>();
  #pingSeq = 0;
  /** The heartbeat in flight ({@link beat}): its ping value and when it left, or none. */
  #beatValue = 0;
  #beatSentAt = 0;
  /** The round trip of the last answered heartbeat, in ms, and when (epoch ms) it was answered. */
  beatRttMs?: number;
  beatAnsweredAt?: number;
  /** Frames are encoded into the shared scratch buffer (the transport copies what it is given). */
  readonly #reuse: boolean;
  /**
   * Frames sent in a row while more than UNREAD_BYTES sat unsent, none of them Data (data writes wait
   * for the peer to read): past UNREAD_SENDS the peer is making this side answer and reads nothing.
   */
  #unreadSends = 0;
  /** Bytes sent and received in frames, for metrics. */
  bytesOut = 0;
  bytesIn = 0;

  constructor(transport: Transport, options: SessionOptions) {
    this.#transport = transport;
    this.#options = {
      ...options,
      window: options.window ?? DEFAULT_WINDOW,
      maxPayload: options.maxPayload ?? LARGE_PAYLOAD,
      sendPayload: Math.min(options.sendPayload ?? MAX_PAYLOAD, LARGE_PAYLOAD),
      maxStreams: options.maxStreams ?? 256,
      peerMaxStreams: options.peerMaxStreams ?? 256,
      highWater: options.highWater ?? 4 * 1024 * 1024,
    };
    this.#nextId = options.side === "client" ? 1 : 2;
    this.#reuse = transport.copiesOnSend === true;
    this.#ended = new Promise((resolve) => (this.#resolveEnded = resolve));
    this.#host = {
      window: this.#options.window,
      maxPayload: this.#options.sendPayload,
      send: (frame) => this.#send(frame),
      drained: () => this.#drained(),
      forget: (stream) => this.#forget(stream),
      closedError: () => this.#closedError(),
    };
    transport.start({
      message: (data) => this.#onMessage(data),
      close: (code, reason) => {
        const r = code >= 4000 && code < 4100 ? code - 4000 : Reason.InternalError;
        this.#finish({ reason: r, message: reason || `transport closed (${code})`, local: false });
      },
    });
  }

  /** Resolves when the session has ended, with why. */
  get ended(): Promise<SessionEnd> {
    return this.#ended;
  }

  get isClosed(): boolean {
    return this.#end !== undefined;
  }

  /** Streams open now. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Opens a stream to the peer. Throws once the session is closed or either side is going away. */
  open(): Stream {
    this.#checkOpen();
    this.#ownStreams++;
    return this.#newStream();
  }

  #checkOpen(): void {
    if (this.#end) throw this.#closedError();
    if (this.#goingAway || this.#peerGoingAway) {
      throw new SessionClosedError(Reason.Normal, "the session is going away: no new streams");
    }
  }

  /** A stream of its own, counted in #ownStreams by the caller. */
  #newStream(): Stream {
    const id = this.#nextId;
    this.#nextId += 2;
    const stream = new Stream(id, this.#host);
    this.#streams.set(id, stream);
    this.#send({ type: FrameType.WindowUpdate, flags: Flag.SYN, stream: id, length: 0 });
    return stream;
  }

  /**
   * Opens a stream once the peer takes one more: while `peerMaxStreams` streams this side opened are open,
   * waits (first come, first served) for one of them to end, at most `timeoutMs` (then StreamsBusyError).
   * Throws as `open()` does once the session is closed or going away.
   */
  async openWhenFree(timeoutMs: number): Promise<Stream> {
    if (this.#ownStreams < this.#options.peerMaxStreams && this.#slotWaiters.length === 0) return this.open();
    this.#checkOpen();
    // Resolved with the slot of a stream that ended already counted for this caller (#forget).
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        ready: () => (clearTimeout(timer), resolve()),
        fail: (e: Error) => (clearTimeout(timer), reject(e)),
      };
      const timer = setTimeout(() => {
        this.#slotWaiters.splice(this.#slotWaiters.indexOf(waiter), 1);
        reject(
          new StreamsBusyError(
            `the peer's ${this.#options.peerMaxStreams} streams stayed in use for ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.#slotWaiters.push(waiter);
    });
    try {
      this.#checkOpen();
    } catch (err) {
      this.#freeSlot();
      throw err;
    }
    return this.#newStream();
  }

  /** Measures one round trip; rejects after `timeoutMs` or when the session ends. */
  ping(timeoutMs = 15_000): Promise<number> {
    if (this.#end) return Promise.reject(this.#closedError());
    const value = (this.#pingSeq = (this.#pingSeq + 1) & 0x7fffffff);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pings.delete(value);
        reject(new Error(`no ping answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pings.set(value, {
        start: performance.now(),
        resolve: (ms) => (clearTimeout(timer), resolve(ms)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.#send({ type: FrameType.Ping, flags: Flag.SYN, stream: 0, length: value });
    });
  }

  /**
   * A heartbeat for a caller sweeping many sessions (a hub holding thousands of sites pings each every
   * few seconds): sends a ping unless one is still unanswered, with no timer and no promise. The answer
   * sets {@link beatRttMs} and {@link beatAnsweredAt}; {@link beatUnansweredMs} says how late it is.
   */
  beat(): void {
    if (this.#end || this.#beatSentAt > 0) return;
    this.#beatValue = ((this.#beatValue + 1) | 0x80000000) >>> 0;
    this.#beatSentAt = performance.now();
    this.#send({ type: FrameType.Ping, flags: Flag.SYN, stream: 0, length: this.#beatValue });
  }

  /** For how long the heartbeat in flight has gone unanswered, in ms (0: none in flight). */
  get beatUnansweredMs(): number {
    return this.#beatSentAt > 0 ? performance.now() - this.#beatSentAt : 0;
  }

  /** Tells the peer this side opens and accepts no new streams; open ones carry on. */
  goAway(): void {
    if (this.#end || this.#goingAway) return;
    this.#goingAway = true;
    this.#send({ type: FrameType.GoAway, flags: 0, stream: 0, length: Reason.Normal });
  }

  /** GoAway, then waits up to `graceMs` for open streams to finish, then closes. */
  async shutdown(graceMs = 5_000): Promise<void> {
    this.goAway();
    // Monotonic: a wall clock stepped back during the stop must not hold it for as long as the step.
    const deadline = performance.now() + graceMs;
    while (this.#streams.size > 0 && !this.#end && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.close(Reason.Normal, "shutdown");
  }

  /** Ends the session now: every stream fails, the peer gets GoAway(reason) and the close code. */
  close(reason: Reason | number = Reason.Normal, message = reasonName(reason)): void {
    if (this.#end) return;
    this.#send({ type: FrameType.GoAway, flags: 0, stream: 0, length: reason });
    this.#transport.close(4000 + reason, message);
    this.#finish({ reason, message, local: true });
  }

  #closedError(): SessionClosedError {
    const end = this.#end;
    return new SessionClosedError(
      end?.reason ?? Reason.Normal,
      end ? `session closed: ${reasonName(end.reason)}: ${end.message}` : "session closed",
    );
  }

  #finish(end: SessionEnd): void {
    if (this.#end) return;
    this.#end = end;
    const error = this.#closedError();
    for (const stream of this.#streams.values()) stream._fail(error);
    this.#streams.clear();
    this.#ownStreams = 0;
    for (const waiter of this.#slotWaiters.splice(0)) waiter.fail(error);
    for (const ping of this.#pings.values()) ping.reject(error);
    this.#pings.clear();
    this.#resolveEnded(end);
    try {
      this.#options.onClose?.(end);
    } catch { /* a listener's failure must not break the session's end */ }
  }

  #send(frame: Frame): void {
    if (this.#end) return;
    const bytes = this.#reuse && (frame.payload?.byteLength ?? 0) <= LARGE_PAYLOAD
      ? encodeFrameInto(frame, scratch.bytes, scratch.view)
      : encodeFrame(frame);
    this.bytesOut += bytes.byteLength;
    if (frame.type === FrameType.Data || this.#transport.bufferedAmount <= UNREAD_BYTES) {
      this.#unreadSends = 0;
    } else this.#unreadSends++;
    this.#transport.send(bytes);
  }

  async #drained(): Promise<void> {
    while (!this.#end && this.#transport.bufferedAmount > this.#options.highWater) {
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  #forget(stream: Stream): void {
    if (this.#streams.get(stream.id) !== stream) return;
    this.#streams.delete(stream.id);
    if (this.#isPeerId(stream.id)) this.#peerStreams--;
    else this.#freeSlot();
  }

  /** One stream of ours fewer: the first caller of openWhenFree waiting takes the slot at once. */
  #freeSlot(): void {
    if (this.#end) return; // every count was dropped at the end
    this.#ownStreams--;
    if (this.#ownStreams >= this.#options.peerMaxStreams) return;
    const waiter = this.#slotWaiters.shift();
    if (!waiter) return;
    this.#ownStreams++;
    waiter.ready();
  }

  #isPeerId(id: number): boolean {
    return (id % 2 === 1) !== (this.#options.side === "client");
  }

  /** A stream id this session saw open and since closed (late frames for it are dropped). */
  #wasOpen(id: number): boolean {
    return this.#isPeerId(id) ? id <= this.#highestPeer : id < this.#nextId;
  }

  #protocolError(error: ProtocolError): void {
    this.close(error.reason, error.message);
  }

  #onMessage(data: Uint8Array | string): void {
    if (this.#end) return;
    if (this.#unreadSends > UNREAD_SENDS) {
      return this.#protocolError(
        new ProtocolError(Reason.FlowControl, "the peer reads nothing of what it makes this side send"),
      );
    }
    if (typeof data === "string") {
      return this.#protocolError(new ProtocolError(Reason.ProtocolError, "text message inside a session"));
    }
    this.bytesIn += data.byteLength;
    let frame: Frame;
    try {
      frame = decodeFrame(data, this.#options.maxPayload);
    } catch (e) {
      if (e instanceof ProtocolError) return this.#protocolError(e);
      throw e;
    }
    switch (frame.type) {
      case FrameType.Ping:
        if (frame.flags & Flag.SYN) {
          this.#send({ type: FrameType.Ping, flags: Flag.ACK, stream: 0, length: frame.length });
        } else if (frame.flags & Flag.ACK) {
          if (frame.length >= 0x80000000) {
            if (this.#beatSentAt > 0 && frame.length === this.#beatValue) {
              this.beatRttMs = performance.now() - this.#beatSentAt;
              this.beatAnsweredAt = Date.now();
              this.#beatSentAt = 0;
            }
            return;
          }
          const ping = this.#pings.get(frame.length);
          this.#pings.delete(frame.length);
          ping?.resolve(performance.now() - ping.start);
        }
        return;
      case FrameType.GoAway:
        this.#peerGoingAway = true;
        if (frame.length !== Reason.Normal) {
          this.#transport.close(4000 + frame.length, "peer ended the session");
          this.#finish({ reason: frame.length, message: `the peer ended the session`, local: false });
        }
        return;
      default:
        return this.#onStreamFrame(frame);
    }
  }

  #onStreamFrame(frame: Frame): void {
    const id = frame.stream;
    if (frame.flags & Flag.SYN) {
      if (!this.#isPeerId(id)) {
        return this.#protocolError(
          new ProtocolError(Reason.ProtocolError, `peer opened stream ${id}, one of ours`),
        );
      }
      if (id <= this.#highestPeer) {
        return this.#protocolError(new ProtocolError(Reason.ProtocolError, `peer reopened stream ${id}`));
      }
      this.#highestPeer = id;
      if (this.#goingAway || this.#peerStreams >= this.#options.maxStreams) {
        this.#send({ type: FrameType.WindowUpdate, flags: Flag.RST, stream: id, length: 0 });
        return;
      }
      const stream = new Stream(id, this.#host);
      this.#streams.set(id, stream);
      this.#peerStreams++;
      this.#send({ type: FrameType.WindowUpdate, flags: Flag.ACK, stream: id, length: 0 });
      try {
        this.#options.onStream?.(stream);
      } catch {
        stream.reset();
      }
    }
    const stream = this.#streams.get(id);
    if (!stream) {
      if (this.#wasOpen(id)) return; // in flight when the stream ended
      return this.#protocolError(
        new ProtocolError(Reason.UnknownStream, `frame for stream ${id}, which was never opened`),
      );
    }
    if (frame.flags & Flag.RST) return stream._remoteReset();
    if (frame.type === FrameType.WindowUpdate) stream._credit(frame.length);
    else if (frame.payload && frame.payload.byteLength > 0) {
      if (!stream._receive(frame.payload)) {
        return this.#protocolError(
          new ProtocolError(Reason.FlowControl, `stream ${id} sent past its window`),
        );
      }
    }
    if (frame.flags & Flag.FIN) stream._remoteFin();
  }
}

/**
 * One stream of a tunnel session: an ordered, flow-controlled byte pipe each way, half-closed with
 * FIN and aborted with RST. Created by `Session.open()` or handed to `onStream`.
 */
import { Flag, type Frame, FrameType } from "./frame.ts";

/** What a stream needs from its session. */
export interface StreamHost {
  window: number;
  /** The largest Data payload to send. */
  maxPayload: number;
  send(frame: Frame): void;
  drained(): Promise<void>;
  forget(stream: Stream): void;
  closedError(): Error;
}

export class StreamResetError extends Error {
  override name = "StreamResetError";
}

export class Stream {
  readonly id: number;
  readonly #host: StreamHost;
  #sendWindow: number;
  /** Credit granted to the peer and not yet used. */
  #recvWindow: number;
  /** Bytes the reader consumed since the last WindowUpdate. */
  #consumed = 0;
  readonly #chunks: Uint8Array[] = [];
  #reader?: { resolve(chunk: Uint8Array | null): void; reject(e: Error): void };
  #creditWaiter?: () => void;
  #writing: Promise<void> = Promise.resolve();
  #localFin = false;
  #remoteFin = false;
  #error?: Error;
  readonly #abort = new AbortController();

  constructor(id: number, host: StreamHost) {
    this.id = id;
    this.#host = host;
    this.#sendWindow = host.window;
    this.#recvWindow = host.window;
  }

  /** Aborted when the stream is reset or its session ends. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Bytes received and not yet read (never more than one window). */
  get buffered(): number {
    let n = 0;
    for (const c of this.#chunks) n += c.byteLength;
    return n;
  }

  /** Sends `data`, waiting for credit as needed. Writes on one stream go out in call order. */
  write(data: Uint8Array): Promise<void> {
    const run = this.#writing.then(() => this.#write(data));
    this.#writing = run.catch(() => {});
    return run;
  }

  async #write(data: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < data.byteLength) {
      this.#checkWritable();
      if (this.#sendWindow === 0) {
        await new Promise<void>((resolve) => (this.#creditWaiter = resolve));
        continue;
      }
      await this.#host.drained();
      this.#checkWritable();
      const n = Math.min(this.#sendWindow, this.#host.maxPayload, data.byteLength - offset);
      this.#host.send({
        type: FrameType.Data,
        flags: 0,
        stream: this.id,
        length: n,
        payload: data.subarray(offset, offset + n),
      });
      this.#sendWindow -= n;
      offset += n;
    }
  }

  #checkWritable(): void {
    if (this.#error) throw this.#error;
    if (this.#localFin) throw new Error(`stream ${this.id} is closed for writing`);
  }

  /** The next chunk, or null once the peer has closed its side. Rejects if the stream was reset. */
  read(): Promise<Uint8Array | null> {
    const chunk = this.#chunks.shift();
    if (chunk) {
      this.#consume(chunk.byteLength);
      return Promise.resolve(chunk);
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#remoteFin) return Promise.resolve(null);
    if (this.#reader) return Promise.reject(new Error(`stream ${this.id} already has a reader waiting`));
    return new Promise((resolve, reject) => (this.#reader = { resolve, reject }));
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (let c = await this.read(); c; c = await this.read()) yield c;
  }

  /**
   * Grants the peer `extra` bytes of window on this stream beyond the session's default (a bulk
   * transfer this side reads quickly: a larger window keeps more bytes in flight). The memory this
   * side may then hold for the stream grows by as much.
   */
  grow(extra: number): void {
    if (extra <= 0 || this.#error || this.#remoteFin) return;
    this.#recvWindow += extra;
    this.#host.send({ type: FrameType.WindowUpdate, flags: 0, stream: this.id, length: extra });
  }

  /** Half-closes: the peer reads end-of-stream after what was written. */
  async close(): Promise<void> {
    await this.#writing;
    if (this.#localFin || this.#error) return;
    this.#localFin = true;
    this.#host.send({ type: FrameType.WindowUpdate, flags: Flag.FIN, stream: this.id, length: 0 });
    if (this.#remoteFin) this.#host.forget(this);
  }

  /** Aborts both directions; the peer's reads and writes fail. */
  reset(reason = "reset"): void {
    if (this.#error) return;
    if (!(this.#localFin && this.#remoteFin)) {
      this.#host.send({ type: FrameType.WindowUpdate, flags: Flag.RST, stream: this.id, length: 0 });
    }
    this._fail(new StreamResetError(`stream ${this.id} reset here: ${reason}`));
    this.#host.forget(this);
  }

  #consume(n: number): void {
    this.#consumed += n;
    if (this.#remoteFin || this.#error) return;
    if (this.#consumed >= this.#host.window / 2) {
      this.#recvWindow += this.#consumed;
      this.#host.send({ type: FrameType.WindowUpdate, flags: 0, stream: this.id, length: this.#consumed });
      this.#consumed = 0;
    }
  }

  /** @internal Data arrived; false if it overruns the window granted. */
  _receive(chunk: Uint8Array): boolean {
    if (this.#remoteFin) return false;
    if (chunk.byteLength > this.#recvWindow) return false;
    this.#recvWindow -= chunk.byteLength;
    if (this.#error) return true; // reset here; late data is dropped
    // The frame's bytes belong to the transport's message; keep a view, not a copy.
    if (this.#reader) {
      const reader = this.#reader;
      this.#reader = undefined;
      this.#consume(chunk.byteLength);
      reader.resolve(chunk);
    } else this.#chunks.push(chunk);
    return true;
  }

  /** @internal */
  _credit(n: number): void {
    this.#sendWindow += n;
    const waiter = this.#creditWaiter;
    this.#creditWaiter = undefined;
    waiter?.();
  }

  /** @internal */
  _remoteFin(): void {
    if (this.#remoteFin) return;
    this.#remoteFin = true;
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.resolve(null);
    if (this.#localFin) this.#host.forget(this);
  }

  /** @internal */
  _remoteReset(): void {
    this._fail(new StreamResetError(`stream ${this.id} reset by the peer`));
    this.#host.forget(this);
  }

  /** @internal Fails pending and future reads and writes with `error`. */
  _fail(error: Error): void {
    if (this.#error) return;
    this.#error = error;
    this.#chunks.length = 0;
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.reject(error);
    const waiter = this.#creditWaiter;
    this.#creditWaiter = undefined;
    waiter?.();
    this.#abort.abort(error);
  }
}

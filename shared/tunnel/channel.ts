/**
 * Messages over one stream: records of `[kind u8][length u32][payload]`, where kind 1 is a JSON
 * control message and kind 2 a chunk of bytes (an object's body). A record is at most `maxRecord`
 * bytes, so a reader never holds more than one record plus one window.
 */
import type { z } from "zod";
import type { Stream } from "./stream.ts";
import { MAX_PAYLOAD } from "./frame.ts";

const JSON_RECORD = 1;
const BYTES_RECORD = 2;
const MAX_RECORD = 1024 * 1024;
/**
 * Bytes before each record's payload (kind and length). A sender of bulk bytes that sizes its records
 * to `k × frame payload − RECORD_HEADER` gets whole frames only.
 */
const RECORD_HEADER = 5;
/** Room a buffer given to `sendBytesRecord` keeps before its bytes, for the record's header. */
export const RECORD_ROOM = RECORD_HEADER;
/** Bytes per bulk record: with its header, four whole frames. */
export const BULK_RECORD = 4 * MAX_PAYLOAD - RECORD_HEADER;

export type Incoming = { kind: "json"; value: unknown } | { kind: "bytes"; data: Uint8Array };

/** A record that breaks the channel's rules; the stream is reset. */
export class ChannelError extends Error {
  override name = "ChannelError";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Channel {
  readonly stream: Stream;
  readonly #maxRecord: number;
  readonly #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #ended = false;
  /** Bytes of the current bytes record not yet returned by next(). */
  #bytesLeft = 0;

  constructor(stream: Stream, maxRecord = MAX_RECORD) {
    this.stream = stream;
    this.#maxRecord = maxRecord;
  }

  send(message: unknown): Promise<void> {
    return this.#record(JSON_RECORD, encoder.encode(JSON.stringify(message)));
  }

  /** Sends bytes as records of BULK_RECORD bytes (at most `maxRecord`): whole frames on the wire. */
  async sendBytes(data: Uint8Array): Promise<void> {
    const step = Math.min(this.#maxRecord, BULK_RECORD);
    for (let offset = 0; offset < data.byteLength; offset += step) {
      await this.#record(BYTES_RECORD, data.subarray(offset, offset + step));
    }
  }

  /**
   * Sends `buffer.subarray(RECORD_ROOM)` as one bytes record without copying it: the record's header is
   * written into the buffer's first RECORD_ROOM bytes. The stream copies the record into frames before
   * this resolves, so the buffer may then take the next record (file_ranges.ts reads straight into it).
   */
  sendBytesRecord(buffer: Uint8Array): Promise<void> {
    const length = buffer.byteLength - RECORD_HEADER;
    if (length < 0 || length > this.#maxRecord) {
      return Promise.reject(new ChannelError(`record of ${length} bytes (limit ${this.#maxRecord})`));
    }
    writeRecordHeader(buffer, BYTES_RECORD, length);
    return this.stream.write(buffer);
  }

  #record(kind: number, payload: Uint8Array): Promise<void> {
    if (payload.byteLength > this.#maxRecord) {
      return Promise.reject(
        new ChannelError(`record of ${payload.byteLength} bytes (limit ${this.#maxRecord})`),
      );
    }
    // One write, header and payload together: written apart, each record cost a 5-byte frame of its
    // own (the stream frames each write), and every frame costs the receiver more than the copy here.
    const one = new Uint8Array(RECORD_HEADER + payload.byteLength);
    writeRecordHeader(one, kind, payload.byteLength);
    one.set(payload, RECORD_HEADER);
    return this.stream.write(one);
  }

  /**
   * The next record, or null at the end of the stream. A bytes record comes in pieces as its frames
   * arrive (each piece a view of the frame, never copied): readers of bytes count them, they do not
   * rely on where the sender's records began or ended.
   */
  async next(): Promise<Incoming | null> {
    if (this.#bytesLeft > 0) return { kind: "bytes", data: await this.#piece() };
    const header = await this.#take(5);
    if (!header) return null;
    const kind = header[0];
    const length = new DataView(header.buffer, header.byteOffset, 5).getUint32(1);
    if (kind !== JSON_RECORD && kind !== BYTES_RECORD) throw this.#fail(`unknown record kind ${kind}`);
    if (length > this.#maxRecord) throw this.#fail(`record of ${length} bytes (limit ${this.#maxRecord})`);
    if (kind === BYTES_RECORD && length > 0) {
      this.#bytesLeft = length;
      return { kind: "bytes", data: await this.#piece() };
    }
    const payload = length === 0 ? new Uint8Array(0) : await this.#take(length);
    if (!payload) throw this.#fail("stream ended inside a record");
    if (kind === BYTES_RECORD) return { kind: "bytes", data: payload };
    try {
      return { kind: "json", value: JSON.parse(decoder.decode(payload)) };
    } catch {
      throw this.#fail("a control message is not JSON");
    }
  }

  /** The next record as a control message that `schema` accepts; anything else resets the stream. */
  async expect<T>(schema: z.ZodType<T>): Promise<T> {
    const record = await this.next();
    if (!record) throw this.#fail("stream ended where a message was expected", false);
    if (record.kind !== "json") throw this.#fail("bytes where a message was expected");
    const parsed = schema.safeParse(record.value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw this.#fail(`bad message: ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
    }
    return parsed.data;
  }

  /**
   * Hands over the bytes this channel read from its stream past the last record it returned, for a
   * caller that goes on reading the stream itself (the hub's relay, after the request). The channel
   * must not be read again.
   */
  detach(): Uint8Array[] {
    if (this.#bytesLeft > 0) throw new ChannelError("detach() inside a bytes record");
    const out = this.#pending.splice(0);
    this.#pendingBytes = 0;
    return out;
  }

  /** Half-closes the stream after what was sent. */
  end(): Promise<void> {
    return this.stream.close();
  }

  #fail(message: string, reset = true): ChannelError {
    if (reset) this.stream.reset(message);
    return new ChannelError(message);
  }

  /** What has arrived of the current bytes record (at least one byte, at most what is left of it). */
  async #piece(): Promise<Uint8Array> {
    while (this.#pendingBytes === 0 && !this.#ended) {
      const chunk = await this.stream.read();
      if (!chunk) this.#ended = true;
      else if (chunk.byteLength > 0) {
        this.#pending.push(chunk);
        this.#pendingBytes += chunk.byteLength;
      }
    }
    if (this.#pendingBytes === 0) throw this.#fail("stream ended inside a record", false);
    const first = this.#pending[0];
    const n = Math.min(first.byteLength, this.#bytesLeft);
    const out = first.subarray(0, n);
    if (n === first.byteLength) this.#pending.shift();
    else this.#pending[0] = first.subarray(n);
    this.#pendingBytes -= n;
    this.#bytesLeft -= n;
    return out;
  }

  /** Exactly `n` bytes, or null if the stream ends cleanly before any of them. */
  async #take(n: number): Promise<Uint8Array | null> {
    while (this.#pendingBytes < n && !this.#ended) {
      const chunk = await this.stream.read();
      if (!chunk) this.#ended = true;
      else {
        this.#pending.push(chunk);
        this.#pendingBytes += chunk.byteLength;
      }
    }
    if (this.#pendingBytes < n) {
      if (this.#pendingBytes === 0) return null;
      throw this.#fail("stream ended inside a record", false);
    }
    const first = this.#pending[0];
    if (first.byteLength >= n) {
      const out = first.subarray(0, n);
      if (first.byteLength === n) this.#pending.shift();
      else this.#pending[0] = first.subarray(n);
      this.#pendingBytes -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#pending[0];
      const take = Math.min(c.byteLength, n - filled);
      out.set(c.subarray(0, take), filled);
      filled += take;
      if (take === c.byteLength) this.#pending.shift();
      else this.#pending[0] = c.subarray(take);
    }
    this.#pendingBytes -= n;
    return out;
  }
}

/** A record's header (its kind, then its length, big-endian) in the first RECORD_HEADER bytes of `into`. */
function writeRecordHeader(into: Uint8Array, kind: number, length: number): void {
  into[0] = kind;
  new DataView(into.buffer, into.byteOffset, RECORD_HEADER).setUint32(1, length);
}

/**
 * Cuts the incoming byte stream into whole PDUs, checking each header as soon as it is complete:
 * an unknown type or a length beyond what we agreed to receive is refused before its body arrives.
 * A PDU that sits inside one received chunk is handed on without copying; others are joined once, into
 * a buffer of the reader's own pool. Each PDU comes with its release (read_buffers.ts): the caller calls
 * it once the PDU has been processed, and the buffers under it can then be used again.
 */
import { BufferPool, Lease, NO_RELEASE, receiveSpares } from "./read_buffers.ts";

export type PduCheck = (type: number, length: number) => string | undefined;

/** A received chunk not yet cut, and the hold it keeps on its buffer. */
interface Piece {
  bytes: Buffer;
  lease?: Lease;
  release: () => void;
}

/** Joined PDUs: buffers kept for the next ones (a few: PDUs are processed one after another). */
const JOINED_KEPT = 4;

export class PduReader {
  #pieces: Piece[] = [];
  #buffered = 0;
  #need = -1;
  #failed = false;
  #joined: BufferPool;

  constructor(private readonly check: PduCheck, joinedSize = 0) {
    this.#joined = new BufferPool(joinedSize, JOINED_KEPT, receiveSpares);
  }

  /** Bytes held waiting for the rest of a PDU. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Adds received bytes (`lease`: the pooled buffer they are in, held while any PDU or piece of one
   * uses it); calls `onPdu` for every complete PDU (header included), in order, with its release.
   * Returns an error message (and stops reading) when a header is refused.
   */
  push(
    data: Buffer,
    onPdu: (pdu: Buffer, release: () => void) => void,
    lease?: Lease,
  ): string | undefined {
    if (this.#failed) return undefined;
    this.#pieces.push({ bytes: data, lease, release: lease ? lease.hold() : NO_RELEASE });
    this.#buffered += data.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < 6) return undefined;
        const head = this.#peek(6);
        const type = head[0];
        const length = head.readUInt32BE(2);
        const refusal = this.check(type, length);
        if (refusal) {
          this.#failed = true;
          this.clear();
          return refusal;
        }
        this.#need = 6 + length;
      }
      if (this.#buffered < this.#need) return undefined;
      const { pdu, release } = this.#take(this.#need);
      this.#need = -1;
      onPdu(pdu, release);
    }
  }

  /** The connection ended: drops what is held; the joined buffers go to the shared spares. */
  close(): void {
    this.clear();
    this.#joined.close();
  }

  /** Drops what is held (the connection ended, or a header was refused). */
  clear(): void {
    for (const p of this.#pieces) p.release();
    this.#pieces = [];
    this.#buffered = 0;
    this.#need = -1;
  }

  #peek(n: number): Buffer {
    const first = this.#pieces[0].bytes;
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.#pieces.map((p) => p.bytes)).subarray(0, n);
  }

  #take(n: number): { pdu: Buffer; release: () => void } {
    const first = this.#pieces[0];
    this.#buffered -= n;
    if (first.bytes.length >= n) {
      const pdu = first.bytes.subarray(0, n);
      const release = first.lease ? first.lease.hold() : NO_RELEASE;
      if (first.bytes.length === n) {
        this.#pieces.shift();
        first.release();
      } else {
        first.bytes = first.bytes.subarray(n);
      }
      return { pdu, release };
    }
    const joined = this.#joined.take(n);
    const pdu = Buffer.from(joined.buffer, joined.byteOffset, n);
    let at = 0;
    while (at < n) {
      const piece = this.#pieces[0];
      const take = Math.min(piece.bytes.length, n - at);
      pdu.set(piece.bytes.subarray(0, take), at);
      at += take;
      if (take === piece.bytes.length) {
        this.#pieces.shift();
        piece.release();
      } else {
        piece.bytes = piece.bytes.subarray(take);
      }
    }
    return { pdu, release: new Lease(joined, this.#joined).hold() };
  }
}

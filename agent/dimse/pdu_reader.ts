/**
 * Cuts the incoming byte stream into whole PDUs, checking each header as soon as it is complete:
 * an unknown type or a length beyond what we agreed to receive is refused before its body arrives.
 * A PDU that sits inside one TCP chunk is handed on without copying; others are joined once.
 */

export type PduCheck = (type: number, length: number) => string | undefined;

export class PduReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #need = -1;
  #failed = false;

  constructor(private readonly check: PduCheck) {}

  /** Bytes held waiting for the rest of a PDU. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Adds received bytes; calls `onPdu` for every complete PDU (header included), in order.
   * Returns an error message (and stops reading) when a header is refused.
   */
  push(data: Buffer, onPdu: (pdu: Buffer) => void): string | undefined {
    if (this.#failed) return undefined;
    this.#chunks.push(data);
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
          this.#chunks = [];
          this.#buffered = 0;
          return refusal;
        }
        this.#need = 6 + length;
      }
      if (this.#buffered < this.#need) return undefined;
      const pdu = this.#take(this.#need);
      this.#need = -1;
      onPdu(pdu);
    }
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.#chunks).subarray(0, n);
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0];
    this.#buffered -= n;
    if (first.length >= n) {
      const pdu = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return pdu;
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const chunk = this.#chunks[0];
      const take = Math.min(chunk.length, n - at);
      chunk.copy(out, at, 0, take);
      at += take;
      if (take === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(take);
    }
    return out;
  }
}

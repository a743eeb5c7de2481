/**
 * Sending a raw data set: the bytes of a stored object after its File Meta group, read about 1 MiB
 * at a time and written as whole P-DATA-TF PDUs, honouring the socket's backpressure. Nothing is
 * re-encoded and a large object never sits whole in memory.
 */
import type { WireSocket } from "./deno_socket.ts";
import type { OutgoingObject } from "./handlers.ts";

/** Bytes read from a stored object per read when sending it. */
const READ_BLOCK = 1 << 20;

/** Streams the data set of `raw` on presentation context `pcId` in PDUs of at most `maxPduLength`. */
export async function streamRawDataset(
  socket: WireSocket,
  raw: OutgoingObject,
  pcId: number,
  maxPduLength: number,
): Promise<void> {
  const { datasetSize } = raw;
  const reader = await raw.openDataset();
  try {
    if (datasetSize === 0) {
      socket.write(pdataPdu(pcId, Buffer.alloc(0), false, true));
      return;
    }
    // Read about 1 MiB at a time and send it as one write of whole PDUs: one file read and one
    // socket write per block, however small the peer's PDUs are.
    const chunk = maxPduLength - 6;
    const perBlock = Math.max(1, Math.floor(READ_BLOCK / chunk));
    const block = Buffer.allocUnsafe(perBlock * chunk);
    let sent = 0;
    while (sent < datasetSize) {
      const want = Math.min(block.length, datasetSize - sent);
      let got = 0;
      while (got < want) {
        const n = await reader.read(block.subarray(got, want), sent + got);
        if (n <= 0) break;
        got += n;
      }
      if (got !== want) {
        throw new Error(`object shorter than its index says (${sent + got} of ${datasetSize})`);
      }
      const pdus = Math.ceil(want / chunk);
      const out = Buffer.allocUnsafe(pdus * 12 + want);
      let at = 0;
      for (let i = 0; i < pdus; i++) {
        const n = Math.min(chunk, want - i * chunk);
        writePdataHeader(out.subarray(at), pcId, n, false, sent + i * chunk + n === datasetSize);
        block.copy(out, at + 12, i * chunk, i * chunk + n);
        at += 12 + n;
      }
      sent += want;
      if (socket.destroyed) throw new Error("connection closed while sending");
      if (!socket.write(out)) await drained(socket);
    }
  } finally {
    await reader.close();
  }
}

function writePdataHeader(pdu: Buffer, pcId: number, n: number, isCommand: boolean, last: boolean): void {
  pdu[0] = 0x04;
  pdu[1] = 0;
  pdu.writeUInt32BE(n + 6, 2);
  pdu.writeUInt32BE(n + 2, 6);
  pdu[10] = pcId;
  pdu[11] = (isCommand ? 1 : 0) | (last ? 2 : 0);
}

/** One P-DATA-TF PDU holding one PDV. */
export function pdataPdu(pcId: number, value: Buffer, isCommand: boolean, last: boolean): Buffer {
  const pdu = Buffer.allocUnsafe(12 + value.length);
  writePdataHeader(pdu, pcId, value.length, isCommand, last);
  value.copy(pdu, 12);
  return pdu;
}

function drained(socket: WireSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      socket.off("close", onClose);
      resolve();
    };
    const onClose = () => {
      socket.off("drain", onDrain);
      reject(new Error("connection closed while sending"));
    };
    socket.once("drain", onDrain);
    socket.once("close", onClose);
  });
}

/**
 * The least a C-STORE SCP written for Deno does per object, as a reference for issue 16 (`bench runtime`):
 * it accepts every presentation context (explicit VR little endian when offered, else the first transfer
 * syntax), reads whole PDUs from the socket into one buffer, writes each object's File Meta group and its
 * data set's fragments straight from that buffer to a new file with blocking writes (no sync, no rename),
 * and answers Success. No checks, no index, no queue, no logging, no library: what the agent cannot go
 * below on this runtime. Not a receiver to use: it trusts its peer.
 *
 *   deno run -A bench/_least_scp.ts --port 11112 --dir DIR     # prints "listening <port>" when ready
 */
import * as path from "node:path";
import { parseArgs } from "node:util";

const EXPLICIT_LE = "1.2.840.10008.1.2.1";
const IMPLEMENTATION_UID = "1.2.826.0.1.3680043.10.1450.9";
const MAX_PDU = 131_072;

const te = new TextEncoder();
const td = new TextDecoder();

function uidText(bytes: Uint8Array): string {
  let s = td.decode(bytes);
  while (s.endsWith("\0") || s.endsWith(" ")) s = s.slice(0, -1);
  return s;
}

function item(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  out[0] = type;
  new DataView(out.buffer).setUint16(2, body.length);
  out.set(body, 4);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One implicit VR little endian element, its value padded to even length. */
function element(group: number, elem: number, value: Uint8Array): Uint8Array {
  const len = value.length + (value.length & 1);
  const out = new Uint8Array(8 + len);
  const v = new DataView(out.buffer);
  v.setUint16(0, group, true);
  v.setUint16(2, elem, true);
  v.setUint32(4, len, true);
  out.set(value, 8);
  return out;
}

const u16 = (n: number) => new Uint8Array([n & 0xff, n >> 8]);
const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};

/** The A-ASSOCIATE-AC for an A-ASSOCIATE-RQ's body, and each accepted context's transfer syntax. */
function accept(rq: Uint8Array): { ac: Uint8Array; syntaxes: Map<number, string> } {
  const syntaxes = new Map<number, string>();
  const items: Uint8Array[] = [];
  const v = new DataView(rq.buffer, rq.byteOffset, rq.length);
  let at = 68;
  let appContext: Uint8Array = new Uint8Array();
  while (at + 4 <= rq.length) {
    const type = rq[at];
    const len = v.getUint16(at + 2);
    const body = rq.subarray(at + 4, at + 4 + len);
    if (type === 0x10) appContext = body;
    if (type === 0x20) {
      const id = body[0];
      const offered: string[] = [];
      let s = 4;
      while (s + 4 <= body.length) {
        const sl = new DataView(body.buffer, body.byteOffset).getUint16(s + 2);
        if (body[s] === 0x40) offered.push(uidText(body.subarray(s + 4, s + 4 + sl)));
        s += 4 + sl;
      }
      const ts = offered.includes(EXPLICIT_LE) ? EXPLICIT_LE : offered[0];
      syntaxes.set(id, ts);
      items.push(item(0x21, concat([new Uint8Array([id, 0, 0, 0]), item(0x40, te.encode(ts))])));
    }
    at += 4 + len;
  }
  const maxLength = new Uint8Array(4);
  new DataView(maxLength.buffer).setUint32(0, MAX_PDU);
  const userInfo = item(
    0x50,
    concat([item(0x51, maxLength), item(0x52, te.encode(IMPLEMENTATION_UID))]),
  );
  const body = concat([rq.subarray(0, 68), item(0x10, appContext), ...items, userInfo]);
  const ac = new Uint8Array(6 + body.length);
  ac[0] = 0x02;
  new DataView(ac.buffer).setUint32(2, body.length);
  ac.set(body, 6);
  return { ac, syntaxes };
}

/** The values of a command set's elements this receiver needs. */
function command(bytes: Uint8Array): { sopClass: string; sopInstance: string; messageId: number } {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let sopClass = "", sopInstance = "", messageId = 0;
  for (let at = 0; at + 8 <= bytes.length;) {
    const tag = v.getUint32(at, true);
    const len = v.getUint32(at + 4, true);
    const value = bytes.subarray(at + 8, at + 8 + len);
    if (tag === 0x0002_0000) sopClass = uidText(value);
    else if (tag === 0x1000_0000) sopInstance = uidText(value);
    else if (tag === 0x0110_0000) messageId = v.getUint16(at + 8, true);
    at += 8 + len;
  }
  return { sopClass, sopInstance, messageId };
}

function storeResponse(pcId: number, rq: ReturnType<typeof command>): Uint8Array {
  const elements = concat([
    element(0, 0x0002, te.encode(rq.sopClass)),
    element(0, 0x0100, u16(0x8001)),
    element(0, 0x0120, u16(rq.messageId)),
    element(0, 0x0800, u16(0x0101)),
    element(0, 0x0900, u16(0)),
    element(0, 0x1000, te.encode(rq.sopInstance)),
  ]);
  const cmd = concat([element(0, 0, u32(elements.length)), elements]);
  const pdu = new Uint8Array(6 + 6 + cmd.length);
  const v = new DataView(pdu.buffer);
  pdu[0] = 0x04;
  v.setUint32(2, 6 + cmd.length);
  v.setUint32(6, 2 + cmd.length);
  pdu[10] = pcId;
  pdu[11] = 0x03;
  pdu.set(cmd, 12);
  return pdu;
}

function fileMeta(sopClass: string, sopInstance: string, ts: string): Uint8Array {
  const explicit = (elem: number, vr: string, value: Uint8Array) => {
    const len = value.length + (value.length & 1);
    const out = new Uint8Array((vr === "OB" ? 12 : 8) + len);
    const v = new DataView(out.buffer);
    v.setUint16(0, 2, true);
    v.setUint16(2, elem, true);
    out.set(te.encode(vr), 4);
    if (vr === "OB") v.setUint32(8, len, true);
    else v.setUint16(6, len, true);
    out.set(value, vr === "OB" ? 12 : 8);
    return out;
  };
  const group = concat([
    explicit(0x0001, "OB", new Uint8Array([0, 1])),
    explicit(0x0002, "UI", te.encode(sopClass)),
    explicit(0x0003, "UI", te.encode(sopInstance)),
    explicit(0x0010, "UI", te.encode(ts)),
    explicit(0x0012, "UI", te.encode(IMPLEMENTATION_UID)),
  ]);
  const head = new Uint8Array(132);
  head.set(te.encode("DICM"), 128);
  return concat([head, explicit(0x0000, "UL", u32(group.length)), group]);
}

/** Numbers the files of every association of this process. */
let serial = 0;

async function serve(conn: Deno.Conn, dir: string): Promise<void> {
  let buf = new Uint8Array(4 * MAX_PDU);
  let start = 0, end = 0;
  let syntaxes = new Map<number, string>();
  let cmdParts: Uint8Array[] = [];
  let rq: ReturnType<typeof command> | undefined;
  let file: Deno.FsFile | undefined;
  const writeAll = (f: Deno.FsFile, bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) at += f.writeSync(bytes.subarray(at));
  };
  const sendAll = async (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
  };
  try {
    while (true) {
      // Whole PDUs in the buffer: handle them.
      while (end - start >= 6) {
        const v = new DataView(buf.buffer, start);
        const length = v.getUint32(2);
        if (end - start < 6 + length) break;
        const type = buf[start];
        const body = buf.subarray(start + 6, start + 6 + length);
        start += 6 + length;
        if (type === 0x01) {
          const a = accept(body);
          syntaxes = a.syntaxes;
          await sendAll(a.ac);
        } else if (type === 0x04) {
          const bv = new DataView(body.buffer, body.byteOffset, body.length);
          for (let at = 0; at + 6 <= body.length;) {
            const pdvLength = bv.getUint32(at);
            const pcId = body[at + 4];
            const control = body[at + 5];
            const value = body.subarray(at + 6, at + 4 + pdvLength);
            at += 4 + pdvLength;
            if (control & 1) {
              cmdParts.push(value.slice());
              if (control & 2) {
                rq = command(concat(cmdParts));
                cmdParts = [];
                file = Deno.openSync(path.join(dir, `${serial++}.dcm`), { write: true, createNew: true });
                writeAll(file, fileMeta(rq.sopClass, rq.sopInstance, syntaxes.get(pcId) ?? EXPLICIT_LE));
              }
            } else if (file && rq) {
              writeAll(file, value);
              if (control & 2) {
                file.close();
                file = undefined;
                await sendAll(storeResponse(pcId, rq));
              }
            }
          }
        } else if (type === 0x05) {
          await sendAll(new Uint8Array([0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0]));
          return;
        } else {
          return; // an abort, or anything else: done with this association
        }
      }
      // Room for the next PDU: move what is left to the front when the end is near.
      if (buf.length - end < MAX_PDU + 6) {
        buf.copyWithin(0, start, end);
        end -= start;
        start = 0;
        if (buf.length - end < MAX_PDU + 6) {
          const bigger = new Uint8Array(buf.length * 2);
          bigger.set(buf.subarray(0, end));
          buf = bigger;
        }
      }
      const n = await conn.read(buf.subarray(end));
      if (n === null) return;
      end += n;
    }
  } finally {
    file?.close();
    try {
      conn.close();
    } catch {
      // closed by the peer
    }
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { port: { type: "string", default: "0" }, dir: { type: "string" } },
  });
  if (!values.dir) throw new Error("--dir DIR is required");
  const listener = Deno.listen({ hostname: "127.0.0.1", port: Number(values.port) });
  console.log(`listening ${(listener.addr as Deno.NetAddr).port}`);
  for await (const conn of listener) {
    conn.setNoDelay(true);
    serve(conn, values.dir).catch((err) => console.error(`association failed: ${err}`));
  }
}

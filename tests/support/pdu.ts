/**
 * Raw DICOM upper-layer PDUs (PS3.8 9.3) over a plain `Deno.connect` TCP socket, for fault tests that
 * need to send what no well-behaved peer sends and to read the exact answer codes: A-ASSOCIATE-RQ with
 * chosen AE titles and presentation contexts, P-DATA-TF with command and data PDVs, A-RELEASE-RQ, and
 * decoders for A-ASSOCIATE-AC/-RJ, A-ABORT and DIMSE command sets (implicit VR little endian).
 *
 * ```ts
 * const { socket, ac } = await associate(port, {
 *   calledAet: "CONDUIT",
 *   callingAet: "FAULTS",
 *   contexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT_LE] }],
 * });
 * const { maxPduLength } = ac;
 * const status = await cStore(socket, { contextId: 1, sopClassUid: CT, sopInstanceUid, dataset, maxPduLength });
 * await release(socket);
 * ```
 */

/** PDU types (PS3.8 9.3.1). */
export const PduType = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PData: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

const PDU_NAMES: Record<number, string> = {
  0x01: "A-ASSOCIATE-RQ",
  0x02: "A-ASSOCIATE-AC",
  0x03: "A-ASSOCIATE-RJ",
  0x04: "P-DATA-TF",
  0x05: "A-RELEASE-RQ",
  0x06: "A-RELEASE-RP",
  0x07: "A-ABORT",
};

/** The DICOM application context name (PS3.7 A.2.1). */
export const APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1";

/** Presentation context results in an A-ASSOCIATE-AC (PS3.8 9.3.3.2). */
export const ContextResult = {
  Acceptance: 0,
  UserRejection: 1,
  NoReason: 2,
  AbstractSyntaxNotSupported: 3,
  TransferSyntaxesNotSupported: 4,
} as const;

const ascii = new TextEncoder();
const latin1 = new TextDecoder("latin1");

// ---------------------------------------------------------------------------------------------------
// Encoding

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A PDU: type, reserved byte, 32-bit big-endian length, then the body. */
export function pdu(type: number, body: Uint8Array, announcedLength = body.length): Uint8Array {
  const out = new Uint8Array(6 + body.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(2, announcedLength >>> 0, false);
  out.set(body, 6);
  return out;
}

/** An association item or sub-item: type, reserved byte, 16-bit big-endian length, then the value. */
function item(type: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + value.length);
  out[0] = type;
  new DataView(out.buffer).setUint16(2, value.length, false);
  out.set(value, 4);
  return out;
}

/** An AE title as the 16 bytes of an A-ASSOCIATE-RQ (space padded). */
function aeField(aet: string): Uint8Array {
  const out = new Uint8Array(16).fill(0x20);
  out.set(ascii.encode(aet.slice(0, 16)));
  return out;
}

/** One presentation context to propose. */
export interface ContextProposal {
  /** Odd, 1 to 255. */
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

/** What an A-ASSOCIATE-RQ proposes. */
export interface AssociateRqOptions {
  calledAet: string;
  callingAet: string;
  contexts: ContextProposal[];
  /** Our maximum P-DATA-TF length; default 65536. */
  maxPduLength?: number;
  /** Default a 2.25 UID naming these tests. */
  implementationClassUid?: string;
}

/** Builds an A-ASSOCIATE-RQ PDU. */
export function associateRq(opts: AssociateRqOptions): Uint8Array {
  const items: Uint8Array[] = [item(0x10, ascii.encode(APPLICATION_CONTEXT))];
  for (const pc of opts.contexts) {
    const sub = [
      item(0x30, ascii.encode(pc.abstractSyntax)),
      ...pc.transferSyntaxes.map((ts) => item(0x40, ascii.encode(ts))),
    ];
    items.push(item(0x20, concat([new Uint8Array([pc.id, 0, 0, 0]), ...sub])));
  }
  const maxLength = new Uint8Array(4);
  new DataView(maxLength.buffer).setUint32(0, opts.maxPduLength ?? 65536, false);
  items.push(item(
    0x50,
    concat([
      item(0x51, maxLength),
      item(0x52, ascii.encode(opts.implementationClassUid ?? "2.25.1234567890123456789")),
      item(0x55, ascii.encode("CONDUIT_TEST")),
    ]),
  ));
  const fixed = new Uint8Array(68);
  new DataView(fixed.buffer).setUint16(0, 1, false); // protocol version
  fixed.set(aeField(opts.calledAet), 4);
  fixed.set(aeField(opts.callingAet), 20);
  return pdu(PduType.AssociateRq, concat([fixed, ...items]));
}

/** One presentation data value: a fragment of a command or data set. */
export interface Pdv {
  contextId: number;
  command: boolean;
  last: boolean;
  value: Uint8Array;
}

/** Builds a P-DATA-TF PDU holding the PDVs in order. */
export function pdataTf(pdvs: Pdv[]): Uint8Array {
  const items = pdvs.map((p) => {
    const out = new Uint8Array(6 + p.value.length);
    new DataView(out.buffer).setUint32(0, p.value.length + 2, false);
    out[4] = p.contextId;
    out[5] = (p.command ? 1 : 0) | (p.last ? 2 : 0);
    out.set(p.value, 6);
    return out;
  });
  return pdu(PduType.PData, concat(items));
}

/** Splits a value into P-DATA-TF PDUs whose length stays within `maxPduLength` (one PDV each). */
export function pdataTfs(
  contextId: number,
  command: boolean,
  value: Uint8Array,
  maxPduLength: number,
): Uint8Array[] {
  const chunk = Math.max(1, maxPduLength - 6);
  const out: Uint8Array[] = [];
  let at = 0;
  do {
    const end = Math.min(value.length, at + chunk);
    out.push(pdataTf([{ contextId, command, last: end === value.length, value: value.subarray(at, end) }]));
    at = end;
  } while (at < value.length);
  return out;
}

/** A-RELEASE-RQ. */
export function releaseRq(): Uint8Array {
  return pdu(PduType.ReleaseRq, new Uint8Array(4));
}

/** A-ABORT with a source (0 service user, 2 service provider) and reason. */
export function abortPdu(source = 0, reason = 0): Uint8Array {
  return pdu(PduType.Abort, new Uint8Array([0, 0, source, reason]));
}

// ---------------------------------------------------------------------------------------------------
// Decoding

/** What one presentation context came back as in an A-ASSOCIATE-AC. */
export interface ContextAnswer {
  id: number;
  /** See {@link ContextResult}. */
  result: number;
  transferSyntax: string;
}

/** A decoded A-ASSOCIATE-AC. */
export interface AssociateAc {
  calledAet: string;
  callingAet: string;
  contexts: ContextAnswer[];
  /** The peer's maximum P-DATA-TF length (0: unlimited). */
  maxPduLength: number;
}

function uidText(bytes: Uint8Array): string {
  return latin1.decode(bytes).replace(/[\0 ]+$/, "");
}

/** Decodes the body (after the 6-byte header) of an A-ASSOCIATE-AC. */
export function decodeAssociateAc(body: Uint8Array): AssociateAc {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const ac: AssociateAc = {
    calledAet: latin1.decode(body.subarray(4, 20)).trim(),
    callingAet: latin1.decode(body.subarray(20, 36)).trim(),
    contexts: [],
    maxPduLength: 0,
  };
  let at = 68;
  while (at + 4 <= body.length) {
    const type = body[at];
    const length = view.getUint16(at + 2, false);
    const value = body.subarray(at + 4, at + 4 + length);
    if (type === 0x21) {
      let transferSyntax = "";
      const sub = value.subarray(4);
      if (sub.length >= 4 && sub[0] === 0x40) {
        transferSyntax = uidText(sub.subarray(4, 4 + ((sub[2] << 8) | sub[3])));
      }
      ac.contexts.push({ id: value[0], result: value[2], transferSyntax });
    } else if (type === 0x50) {
      let s = 0;
      while (s + 4 <= value.length) {
        const subLength = (value[s + 2] << 8) | value[s + 3];
        if (value[s] === 0x51 && subLength === 4) {
          ac.maxPduLength = new DataView(value.buffer, value.byteOffset + s + 4, 4).getUint32(0, false);
        }
        s += 4 + subLength;
      }
    }
    at += 4 + length;
  }
  return ac;
}

/** A decoded A-ASSOCIATE-RJ (PS3.8 9.3.4). */
export interface AssociateRj {
  /** 1 rejected-permanent, 2 rejected-transient. */
  result: number;
  /** 1 service user, 2 service provider (ACSE), 3 service provider (presentation). */
  source: number;
  reason: number;
}

/** Decodes the body of an A-ASSOCIATE-RJ. */
export function decodeAssociateRj(body: Uint8Array): AssociateRj {
  return { result: body[1], source: body[2], reason: body[3] };
}

/** A decoded A-ABORT (PS3.8 9.3.8). */
export interface Abort {
  /** 0 service user, 2 service provider. */
  source: number;
  reason: number;
}

/** Decodes the body of an A-ABORT. */
export function decodeAbort(body: Uint8Array): Abort {
  return { source: body[2], reason: body[3] };
}

/** Decodes the PDV items of a P-DATA-TF body. */
export function decodePdata(body: Uint8Array): Pdv[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: Pdv[] = [];
  let at = 0;
  while (at + 6 <= body.length) {
    const length = view.getUint32(at, false);
    const control = body[at + 5];
    out.push({
      contextId: body[at + 4],
      command: (control & 1) === 1,
      last: (control & 2) === 2,
      value: body.subarray(at + 6, at + 4 + length),
    });
    at += 4 + length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// DIMSE command sets (always implicit VR little endian, PS3.7 6.3.1)

/** Command Field values (PS3.7 E.1). */
export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
} as const;

/** Tags of the command elements used here. */
export const CommandTag = {
  AffectedSopClassUid: 0x00000002,
  CommandField: 0x00000100,
  MessageId: 0x00000110,
  MessageIdBeingRespondedTo: 0x00000120,
  Priority: 0x00000700,
  CommandDataSetType: 0x00000800,
  Status: 0x00000900,
  AffectedSopInstanceUid: 0x00001000,
  ErrorComment: 0x00000902,
} as const;

type CommandValue = { uid: string } | { us: number };

function implicitElement(tag: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + value.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, tag >>> 16, true);
  view.setUint16(2, tag & 0xffff, true);
  view.setUint32(4, value.length, true);
  out.set(value, 8);
  return out;
}

/** Builds a command set: the given elements (in tag order) behind a correct (0000,0000) group length. */
export function commandSet(elements: Record<number, CommandValue>): Uint8Array {
  const parts = Object.entries(elements)
    .map(([tag, v]) => [Number(tag), v] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([tag, v]) => {
      if ("uid" in v) {
        const bytes = ascii.encode(v.uid);
        const padded = new Uint8Array(bytes.length + (bytes.length % 2));
        padded.set(bytes);
        return implicitElement(tag, padded);
      }
      const us = new Uint8Array(2);
      new DataView(us.buffer).setUint16(0, v.us, true);
      return implicitElement(tag, us);
    });
  const body = concat(parts);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, body.length, true);
  return concat([implicitElement(0x00000000, length), body]);
}

/** A C-STORE-RQ command set announcing a data set. */
export function cStoreRq(
  opts: { messageId: number; sopClassUid: string; sopInstanceUid: string },
): Uint8Array {
  return commandSet({
    [CommandTag.AffectedSopClassUid]: { uid: opts.sopClassUid },
    [CommandTag.CommandField]: { us: CommandField.CStoreRq },
    [CommandTag.MessageId]: { us: opts.messageId },
    [CommandTag.Priority]: { us: 0 },
    [CommandTag.CommandDataSetType]: { us: 0x0000 },
    [CommandTag.AffectedSopInstanceUid]: { uid: opts.sopInstanceUid },
  });
}

/** A C-ECHO-RQ command set. */
export function cEchoRq(messageId: number): Uint8Array {
  return commandSet({
    [CommandTag.AffectedSopClassUid]: { uid: "1.2.840.10008.1.1" },
    [CommandTag.CommandField]: { us: CommandField.CEchoRq },
    [CommandTag.MessageId]: { us: messageId },
    [CommandTag.CommandDataSetType]: { us: 0x0101 },
  });
}

/** A decoded command set: element values by tag. */
export class Command {
  constructor(readonly elements: Map<number, Uint8Array>) {}

  /** Parses an implicit VR little endian command set. */
  static parse(bytes: Uint8Array): Command {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const elements = new Map<number, Uint8Array>();
    let at = 0;
    while (at + 8 <= bytes.length) {
      const tag = ((view.getUint16(at, true) << 16) | view.getUint16(at + 2, true)) >>> 0;
      const length = view.getUint32(at + 4, true);
      elements.set(tag, bytes.subarray(at + 8, at + 8 + length));
      at += 8 + length;
    }
    return new Command(elements);
  }

  /** A US element's value, or undefined when absent. */
  us(tag: number): number | undefined {
    const v = this.elements.get(tag);
    return v && v.length >= 2 ? v[0] | (v[1] << 8) : undefined;
  }

  /** A string element's value without padding, or undefined when absent. */
  text(tag: number): string | undefined {
    const v = this.elements.get(tag);
    return v ? uidText(v).trim() : undefined;
  }

  get commandField(): number | undefined {
    return this.us(CommandTag.CommandField);
  }

  get status(): number | undefined {
    return this.us(CommandTag.Status);
  }
}

/** A status as the standard writes it, e.g. `0xA900`. */
export function hexStatus(status: number | undefined): string {
  return status === undefined ? "none" : "0x" + status.toString(16).toUpperCase().padStart(4, "0");
}

// ---------------------------------------------------------------------------------------------------
// The socket

/** One answer read from the peer: a whole PDU, or the end of the connection. */
export type Received =
  | { kind: "pdu"; type: number; body: Uint8Array }
  | { kind: "closed"; reset: boolean }
  | { kind: "timeout" };

/** A short text for assertion messages. */
export function describe(r: Received): string {
  if (r.kind === "closed") return r.reset ? "connection reset" : "connection closed";
  if (r.kind === "timeout") return "no answer in time";
  const name = PDU_NAMES[r.type] ?? `PDU type 0x${r.type.toString(16)}`;
  if (r.type === PduType.AssociateRj) {
    const rj = decodeAssociateRj(r.body);
    return `${name} (result ${rj.result}, source ${rj.source}, reason ${rj.reason})`;
  }
  if (r.type === PduType.Abort) {
    const a = decodeAbort(r.body);
    return `${name} (source ${a.source}, reason ${a.reason})`;
  }
  return `${name} of ${r.body.length} bytes`;
}

type ReadResult = { n: number | null } | { err: unknown };

/** A TCP connection that writes raw bytes and reads whole PDUs, each read bounded by a timeout. */
export class PduSocket {
  #conn: Deno.TcpConn;
  #buffer = new Uint8Array(0);
  #chunk = new Uint8Array(64 * 1024);
  #pending: Promise<ReadResult> | undefined;
  #ended: { reset: boolean } | undefined;
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects to 127.0.0.1 (or `hostname`) and disables Nagle. */
  static async connect(port: number, hostname = "127.0.0.1"): Promise<PduSocket> {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return new PduSocket(conn);
  }

  /** True once the peer has closed or reset the connection (as far as reads have seen). */
  get peerClosed(): boolean {
    return this.#ended !== undefined;
  }

  /** Writes all bytes; throws when the connection is gone. */
  async send(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  /** Writes all bytes; false when the peer has closed or reset the connection meanwhile. */
  async trySend(bytes: Uint8Array): Promise<boolean> {
    try {
      await this.send(bytes);
      return true;
    } catch {
      return false;
    }
  }

  /** Reads more bytes into the buffer; false on timeout. */
  async #fill(deadline: number): Promise<boolean> {
    if (this.#ended) return true;
    this.#pending ??= this.#conn.read(this.#chunk).then((n) => ({ n }), (err) => ({ err }));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
    });
    const r = await Promise.race([this.#pending, timeout]);
    clearTimeout(timer);
    if (r === "timeout") return false;
    this.#pending = undefined;
    if ("err" in r) this.#ended = { reset: true };
    else if (r.n === null) this.#ended = { reset: false };
    else {
      const next = new Uint8Array(this.#buffer.length + r.n);
      next.set(this.#buffer);
      next.set(this.#chunk.subarray(0, r.n), this.#buffer.length);
      this.#buffer = next;
    }
    return true;
  }

  /** Reads the next whole PDU, or reports the end of the connection or a timeout. */
  async read(timeoutMs = 10_000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#buffer.length >= 6) {
        const length = new DataView(this.#buffer.buffer, this.#buffer.byteOffset).getUint32(2, false);
        if (this.#buffer.length >= 6 + length) {
          const type = this.#buffer[0];
          const body = this.#buffer.slice(6, 6 + length);
          this.#buffer = this.#buffer.slice(6 + length);
          return { kind: "pdu", type, body };
        }
      }
      if (this.#ended) return { kind: "closed", reset: this.#ended.reset };
      if (!(await this.#fill(deadline))) return { kind: "timeout" };
    }
  }

  /**
   * Reads until the peer closes the connection. Returns the PDUs seen on the way and how long the close
   * took, or `closed: false` when it stayed open for `timeoutMs`.
   */
  async untilClosed(timeoutMs: number): Promise<{ closed: boolean; afterMs: number; pdus: Received[] }> {
    const start = Date.now();
    const pdus: Received[] = [];
    for (;;) {
      const left = timeoutMs - (Date.now() - start);
      if (left <= 0) return { closed: false, afterMs: Date.now() - start, pdus };
      const r = await this.read(left);
      if (r.kind === "timeout") return { closed: false, afterMs: Date.now() - start, pdus };
      if (r.kind === "closed") return { closed: true, afterMs: Date.now() - start, pdus };
      pdus.push(r);
    }
  }

  /** Closes our end (idempotent) and settles any read in flight. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch { /* already closed */ }
    }
    if (this.#pending) {
      await this.#pending;
      this.#pending = undefined;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Conversations

/** The association was not accepted; `answer` says what came instead. */
export class NotAccepted extends Error {
  override name = "NotAccepted";
  constructor(readonly answer: Received) {
    super(`association not accepted: ${describe(answer)}`);
  }
}

/** Connects and sends an A-ASSOCIATE-RQ; returns the first answer (AC, RJ, A-ABORT or close). */
export async function requestAssociation(
  port: number,
  opts: AssociateRqOptions,
  timeoutMs = 10_000,
): Promise<{ socket: PduSocket; answer: Received }> {
  const socket = await PduSocket.connect(port);
  try {
    await socket.send(associateRq(opts));
  } catch { /* the answer (or the close) tells */ }
  return { socket, answer: await socket.read(timeoutMs) };
}

/** Associates; throws {@link NotAccepted} (closing the socket) unless an A-ASSOCIATE-AC comes back. */
export async function associate(
  port: number,
  opts: AssociateRqOptions,
  timeoutMs = 10_000,
): Promise<{ socket: PduSocket; ac: AssociateAc }> {
  const { socket, answer } = await requestAssociation(port, opts, timeoutMs);
  if (answer.kind !== "pdu" || answer.type !== PduType.AssociateAc) {
    await socket.close();
    throw new NotAccepted(answer);
  }
  return { socket, ac: decodeAssociateAc(answer.body) };
}

/** A DIMSE message read back, or why none came. */
export type DimseAnswer =
  | { kind: "command"; command: Command; contextId: number }
  | { kind: "other"; received: Received };

/** Reads P-DATA-TF PDUs until a whole command set has arrived (data set PDVs are skipped). */
export async function readCommand(socket: PduSocket, timeoutMs = 15_000): Promise<DimseAnswer> {
  const deadline = Date.now() + timeoutMs;
  const fragments: Uint8Array[] = [];
  for (;;) {
    const r = await socket.read(Math.max(0, deadline - Date.now()));
    if (r.kind !== "pdu" || r.type !== PduType.PData) return { kind: "other", received: r };
    for (const pdv of decodePdata(r.body)) {
      if (!pdv.command) continue;
      fragments.push(pdv.value);
      if (pdv.last) {
        return { kind: "command", command: Command.parse(concat(fragments)), contextId: pdv.contextId };
      }
    }
  }
}

/** What a C-STORE sends. */
export interface StoreMessage {
  contextId: number;
  messageId?: number;
  sopClassUid: string;
  sopInstanceUid: string;
  /** The data set bytes in the context's transfer syntax (no File Meta group). */
  dataset: Uint8Array;
  /** The peer's maximum PDU length from its A-ASSOCIATE-AC (0: unlimited). */
  maxPduLength: number;
}

/** Sends the command and the data set of a C-STORE-RQ (or, with `upTo`, only that many data set bytes). */
export async function sendCStore(socket: PduSocket, msg: StoreMessage, upTo?: number): Promise<void> {
  const max = msg.maxPduLength === 0 ? 1 << 20 : Math.min(msg.maxPduLength, 1 << 20);
  const command = cStoreRq({
    messageId: msg.messageId ?? 1,
    sopClassUid: msg.sopClassUid,
    sopInstanceUid: msg.sopInstanceUid,
  });
  for (const p of pdataTfs(msg.contextId, true, command, max)) await socket.send(p);
  if (upTo === undefined) {
    for (const p of pdataTfs(msg.contextId, false, msg.dataset, max)) await socket.send(p);
    return;
  }
  // A part only: whole PDUs until `upTo` bytes of the data set are out, none marked last.
  const chunk = max - 6;
  for (let at = 0; at < upTo; at += chunk) {
    const end = Math.min(upTo, at + chunk, msg.dataset.length - 1);
    if (end <= at) break;
    await socket.send(
      pdataTf([{
        contextId: msg.contextId,
        command: false,
        last: false,
        value: msg.dataset.subarray(at, end),
      }]),
    );
  }
}

/** Sends a C-STORE-RQ and returns the C-STORE-RSP's status; throws when no response comes. */
export async function cStore(socket: PduSocket, msg: StoreMessage, timeoutMs = 30_000): Promise<number> {
  await sendCStore(socket, msg);
  const answer = await readCommand(socket, timeoutMs);
  if (answer.kind !== "command") throw new Error(`no C-STORE-RSP: ${describe(answer.received)}`);
  const { command } = answer;
  if (command.commandField !== CommandField.CStoreRsp || command.status === undefined) {
    throw new Error(`expected a C-STORE-RSP with a status, got command field ${command.commandField}`);
  }
  return command.status;
}

/** Sends A-RELEASE-RQ, waits for A-RELEASE-RP, closes; throws when something else comes back. */
export async function release(socket: PduSocket, timeoutMs = 10_000): Promise<void> {
  try {
    await socket.send(releaseRq());
    const r = await socket.read(timeoutMs);
    if (r.kind !== "pdu" || r.type !== PduType.ReleaseRp) {
      throw new Error(`expected A-RELEASE-RP, got ${describe(r)}`);
    }
  } finally {
    await socket.close();
  }
}

/**
 * Raw DICOM upper-layer PDUs (PS3.8 9.3) over a plain `Deno.connect` TCP socket, for fault tests that
 * need to send what no well-behaved peer sends and to read the exact answer codes: A-ASSOCIATE-RQ with
 * chosen AE titles and presentation contexts, P-DATA-TF with command and data PDVs, A-RELEASE-RQ, and
 * decoders for A-ASSOCIATE-AC/-RJ, A-ABORT and DIMSE command sets (implicit VR little endian).
 *
 * This module holds the socket ({@link PduSocket}) and the conversations on it (associate, C-STORE,
 * release) and re-exports the PDU encoders and decoders of ./pdu_codec.ts and the command sets of
 * ./pdu_dimse.ts, so tests import everything from here.
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
import {
  type AssociateAc,
  associateRq,
  type AssociateRqOptions,
  concat,
  decodeAbort,
  decodeAssociateAc,
  decodeAssociateRj,
  decodePdata,
  pdataTf,
  pdataTfs,
  PDU_NAMES,
  PduType,
  releaseRq,
} from "./pdu_codec.ts";
import { Command, CommandField, CommandTag, cStoreRq } from "./pdu_dimse.ts";

export * from "./pdu_codec.ts";
export * from "./pdu_dimse.ts";

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
  #conn: Deno.Conn;
  #buffer = new Uint8Array(0);
  #chunk = new Uint8Array(64 * 1024);
  #pending: Promise<ReadResult> | undefined;
  #ended: { reset: boolean } | undefined;
  #closed = false;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Connects to 127.0.0.1 (or `hostname`) and disables Nagle. */
  static async connect(port: number, hostname = "127.0.0.1"): Promise<PduSocket> {
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    return new PduSocket(conn);
  }

  /** Connects over TLS to 127.0.0.1 (as `localhost`), trusting `caCerts` and showing a client certificate. */
  static async connectTls(
    port: number,
    tls: { caCerts: string[]; cert?: string; key?: string },
  ): Promise<PduSocket> {
    const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, ...tls });
    return new PduSocket(conn);
  }

  /** Wraps an accepted connection (a test playing the SCP) and disables Nagle. */
  static accepted(conn: Deno.TcpConn): PduSocket {
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

/** Reads one whole DIMSE message: its command set and, when it announces one, its data set. */
export async function readMessage(
  socket: PduSocket,
  timeoutMs = 15_000,
): Promise<
  { kind: "message"; command: Command; dataset?: Uint8Array; contextId: number } | {
    kind: "other";
    received: Received;
  }
> {
  const deadline = Date.now() + timeoutMs;
  const commandParts: Uint8Array[] = [];
  const dataParts: Uint8Array[] = [];
  let command: Command | undefined;
  let contextId = 0;
  for (;;) {
    const r = await socket.read(Math.max(0, deadline - Date.now()));
    if (r.kind !== "pdu" || r.type !== PduType.PData) return { kind: "other", received: r };
    for (const pdv of decodePdata(r.body)) {
      contextId = pdv.contextId;
      if (pdv.command) {
        commandParts.push(pdv.value);
        if (!pdv.last) continue;
        command = Command.parse(concat(commandParts));
        if (command.us(CommandTag.CommandDataSetType) === 0x0101) {
          return { kind: "message", command, contextId };
        }
        continue;
      }
      dataParts.push(pdv.value);
      if (pdv.last && command) return { kind: "message", command, dataset: concat(dataParts), contextId };
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

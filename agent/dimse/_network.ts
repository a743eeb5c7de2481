// deno-lint-ignore-file no-explicit-any
/**
 * The base for both ends of an association. It extends the library's `Scp` (which is its
 * `Network` with request hooks) with what the library lacks:
 * - C-STOREs of stored objects sent by us (`sendStore`): the data set streams from disk in P-DATA PDUs,
 *   honouring socket backpressure, and the response comes back through our reader, not the library;
 * - our own P-DATA reader (_pdata.ts): a C-STORE's data set goes from the received PDUs straight to its
 *   sink, and its response is ours; the library sees every other message;
 * - a guard that aborts on PDUs of unknown type or larger than we agreed to receive, and on PDVs
 *   for presentation contexts that were not accepted;
 * - TCP_NODELAY on the socket;
 * - the idle timer counts our own sends as activity, so a long C-MOVE is not cut as idle.
 */
import type { WireSocket } from "./deno_socket.ts";
import { Scp } from "./_library.ts";
import { hashUid, Logger } from "@conduit/shared/log";
import { constants, responses } from "./_library.ts";
import { PduReader } from "./pdu_reader.ts";
import {
  associateAcMalformed,
  type AssociateRqFields,
  associateRqMalformed,
  readAssociateRq,
} from "./associate_rq.ts";
import type { Lease } from "./read_buffers.ts";
import { pdataPdu, streamRawDataset } from "./_raw_send.ts";
import { type IncomingStore, PDataReader, type StoreCommand } from "./_pdata.ts";
import { encodeCommand } from "./command_codec.ts";
import { completeStore, finished, openSink, sendStoreResponse, writeFragment } from "./_store_in.ts";
import { type DiscardStream, safeReason } from "./_refusal.ts";
import {
  type AssociationEnd,
  type AssociationInfo,
  type CommitmentReportHandler,
  type DimseEvent,
  DimseStatusError,
  type OutgoingObject,
  Status,
  statusHex,
  type StoreContext,
  type StoreHandler,
  type StoreSink,
} from "./handlers.ts";
import { readCommitmentReport } from "./_commitment.ts";

export interface NetworkOptions {
  /** Largest PDU we accept, as announced in our A-ASSOCIATE (bytes). */
  maxPduLength: number;
  /** ms without any PDU before the association is aborted. */
  idleTimeoutMs: number;
  /** ms to wait for the A-ASSOCIATE-RQ (or -AC) after connecting. */
  artimTimeoutMs: number;
}

const PDU_TYPES = new Set([1, 2, 3, 4, 5, 6, 7]);
const PDU_NAMES = [
  "",
  "A-ASSOCIATE-RQ",
  "A-ASSOCIATE-AC",
  "A-ASSOCIATE-RJ",
  "P-DATA-TF",
  "A-RELEASE-RQ",
  "A-RELEASE-RP",
  "A-ABORT",
];
/** Room for the PDV header beyond the negotiated maximum some peers take. */
const PDU_SLACK = 1024;
/** Association PDUs carry negotiation only; no real one comes near this. */
const MAX_CONTROL_PDU = 1 << 20;
/** PDUs whose body PS3.8 9.3 fixes at 4 bytes: A-ASSOCIATE-RJ, A-RELEASE-RQ and -RP, A-ABORT. */
const FOUR_BYTE_PDUS = new Set([3, 5, 6, 7]);
/** How long what is queued (an A-ABORT) may take to go out before the connection is closed without it. */
const ABORT_FLUSH_MS = 1000;

/** What an acceptor may owe its peer in answers not yet taken before it stops reading the peer's requests. */
const OWED_MAX = 1 << 20;

/** How long one association's PDU chain runs before it lets the event loop turn (ms). */
const BUSY_MS = 20;

/** A monotonic instant (performance.now()) as the wall-clock time that lies as far before Date.now(). */
function wallNow(mono: number | undefined): number | undefined {
  return mono === undefined ? undefined : Date.now() - (performance.now() - mono);
}

export class ConduitNetwork extends Scp {
  declare socket: WireSocket;
  protected readonly netOptions: NetworkOptions;
  /** Where incoming C-STOREs go (the SCP's archive, or a C-GET's sink). */
  protected storeHandler: StoreHandler | undefined;
  /** Where Storage Commitment reports on our requests go (N-EVENT-REPORT). */
  protected reports: CommitmentReportHandler | undefined;
  protected log: Logger = new Logger({ part: "dimse" });
  protected info: AssociationInfo = { callingAet: "", calledAet: "", remoteAddress: "" };
  /** Per C-STORE request being received: where its bytes go, and the context it was opened with. */
  protected readonly stores = new Map<any, { sink: StoreSink | DiscardStream; ctx: StoreContext }>();
  /** C-STOREs whose data set has arrived and whose response is not yet sent (committing). */
  #answering = new Set<Promise<void>>();
  #reader: PduReader;
  /** Bytes of a PDU the peer had begun and not finished when the connection closed (0: none). */
  cutShort = 0;
  /** PDUs handed to the library one after another, in order. */
  #processing: Promise<void> = Promise.resolve();
  #queued = 0;
  /** When the PDU chain last started from idle or let the event loop run (performance.now()). */
  #busySince = 0;
  /** Set when the guard has aborted: later data is ignored. */
  protected aborted = false;
  /** Set when the connection has closed: PDUs still queued are dropped, no file is opened any more. */
  #closed = false;
  #ended = false;
  /** Which of the library's timers ended the association, if one did. */
  #timedOut: "idle" | "artim" | undefined;
  /** Our P-DATA reader: C-STORE data sets go straight to their sinks, the rest to the library. */
  #pdata: PDataReader;
  /** Which end of the association we are: the SCP accepts, an SCU requests. */
  protected role: "acceptor" | "requestor" = "acceptor";
  /** The negotiation PDU has arrived (A-ASSOCIATE-RQ for the acceptor, -AC or -RJ for the requestor). */
  #negotiated = false;
  /** What the library does not keep of the A-ASSOCIATE-RQ (acceptor): Protocol Version, Application Context. */
  protected associateRq: AssociateRqFields | undefined;
  /** Where the last of our C-STORE requests stands on the wire: the next one's PDUs follow it. */
  #sending: Promise<void> = Promise.resolve();
  /** Our own C-STOREs awaiting their response (`sendStore`), by message ID. */
  #sentStores = new Map<number, (status: number) => void>();
  /**
   * When the connection was made and when its last PDU arrived, on the monotonic clock (performance.now()).
   * The library's ARTIM and PDU timers compare `Date.now()` with `connectedTime` and `lastPduTime` (a wall
   * clock stepped back an hour kept a silent connection an hour longer; stepped forward, ended idle ones at
   * once): those two read back as "now on the wall clock, less the monotonic time since", so the library's
   * subtraction gives monotonic time whatever the wall clock does. Not private fields: the library's
   * constructor sets both before ours run.
   */
  declare private monoConnected: number | undefined;
  declare private monoLastPdu: number | undefined;
  get connectedTime(): number | undefined {
    return wallNow(this.monoConnected);
  }
  set connectedTime(at: number | undefined) {
    this.monoConnected = at === undefined ? undefined : performance.now();
  }
  get lastPduTime(): number | undefined {
    return wallNow(this.monoLastPdu);
  }
  set lastPduTime(at: number | undefined) {
    this.monoLastPdu = at === undefined ? undefined : performance.now();
  }
  /** Accepted presentation contexts by SOP class and transfer syntax (`sendStore`). */
  #contexts: Map<string, number> | undefined;

  constructor(socket: WireSocket, opts: NetworkOptions) {
    super(socket, {
      ...opts,
      associationTimeout: opts.artimTimeoutMs,
      pduTimeout: opts.idleTimeoutMs,
      connectTimeout: Math.max(opts.idleTimeoutMs, opts.artimTimeoutMs) + 5000,
    });
    // The library's default name map is `{}`, which it spreads with dcmjs's whole dictionary (some 5000
    // keywords) into a new object for every data set it encodes: 1.1 ms of a C-FIND match's 1.3 ms.
    // Without a map it uses dcmjs's own.
    this.datasetNameMap = undefined;
    this.netOptions = opts;
    try {
      socket.setNoDelay(true);
    } catch { /* not connected yet: set again on connect */ }
    socket.once("connect", () => socket.setNoDelay(true));
    // Replace the library's reader (installed by its constructor) with ours.
    socket.removeAllListeners("data");
    this.#reader = new PduReader((type, length) => {
      if (!PDU_TYPES.has(type)) return `unrecognised PDU type 0x${type.toString(16)}`;
      const limit = type === 4 ? this.netOptions.maxPduLength + PDU_SLACK : MAX_CONTROL_PDU;
      if (length > limit) return `PDU of ${length} bytes exceeds the limit of ${limit}`;
      // The library reads these field by field: a shorter one threw and closed the connection without a word.
      if (FOUR_BYTE_PDUS.has(type) && length !== 4) return `${PDU_NAMES[type]} of ${length} bytes, not 4`;
      return undefined;
    }, opts.maxPduLength + 6);
    this.#pdata = new PDataReader({
      acceptedSyntax: (id) => {
        try {
          const pc = this.association?.getPresentationContext(id);
          if (pc?.getResult() === constants.PresentationContextResult.Accept) {
            return pc.getAcceptedTransferSyntaxUid();
          }
        } catch { /* an id that was never proposed */ }
        return undefined;
      },
      openStore: (command, syntax) => this.#openStore(command, syntax),
      toLibrary: (pdvs) => super._processPDataTf({ getPdvs: () => pdvs }),
      response: (command) => this.#storeResponse(command),
      abort: (reason, message) => this.protocolAbort(reason, message),
    });
    // Every PDU is released once processed (below), so the socket may read into buffers used again.
    socket.reuseReads?.();
    socket.on("data", (data: Buffer, lease?: Lease) => this.#onData(data, lease));
    // The library times ARTIM from `connectedTime`, which it sets only on a socket's "connect" event;
    // an accepted socket never has one, so a peer that never completes a PDU was never timed out.
    this.connectedTime = Date.now();
    // On every network error (ARTIM or idle timeout, unreadable PDU) the library stops its timers and
    // only half-closes the socket (`end()`): a peer that never closes its side would keep the socket, and
    // its association slot, for ever. Close it fully once what is queued (an A-ABORT) has gone out.
    this.on("networkError", (err: Error) => {
      // The library's ARTIM and idle timers send an A-ABORT before they report.
      const message = err?.message ?? "";
      if (/timeout/i.test(message)) this.endAssociation("timed-out");
      if (/PDU timeout/.test(message)) this.#timedOut = "idle";
      else if (/association timeout/.test(message)) this.#timedOut = "artim";
      this.closeAfterFlush();
    });
    this.info.remoteAddress = socket.remoteAddress ?? "";
    socket.on("close", () => {
      this.#closed = true;
      this.cutShort = this.#reader.buffered;
      this.#reader.close();
      this.#discardStores();
      this.endAssociation("closed");
    });
  }

  /**
   * Why the connection closed before `what` (`"the C-STORE response"`), for the error of a request it left
   * unanswered: the idle or ARTIM timeout that aborted the association, by its setting, or else a close.
   */
  closedBefore(what: string): string {
    if (!this.#timedOut) return `association closed before ${what}`;
    const [timer, ms] = this.#timedOut === "idle"
      ? ["idle timeout, dimse.idleTimeoutSeconds", this.netOptions.idleTimeoutMs]
      : ["ARTIM timeout, dimse.artimTimeoutSeconds", this.netOptions.artimTimeoutMs];
    const seconds = ms / 1000;
    return `no PDU from the peer for ${seconds} s (the ${timer}): the association was aborted before ${what}`;
  }

  /**
   * Closes the connection once what is queued (an A-ABORT) has gone out, and at the latest after
   * ABORT_FLUSH_MS: a peer that reads nothing (stopped, or its window full) kept the socket, its queued
   * bytes and its association slot for as long as it stayed so, whatever the idle timeout.
   */
  closeAfterFlush(): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    socket.end();
    const timer = setTimeout(() => socket.destroy(), ABORT_FLUSH_MS);
    socket.once("close", () => clearTimeout(timer));
  }

  #discardStores(): void {
    for (const { sink } of this.stores.values()) sink.discard();
    this.stores.clear();
  }

  /** Reports how the association ended, once (the first way wins). */
  protected endAssociation(outcome: AssociationEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.emitEvent({ type: "ended", outcome });
  }

  /**
   * A peer's A-ABORT takes effect when it arrives, not behind the PDUs still queued: they are dropped,
   * the object being received is discarded, and the connection is closed (PS3.8 9.1.5; a peer that
   * aborts and keeps its connection open would otherwise hold the association slot).
   */
  #peerAbort(pdu: Buffer): void {
    this.aborted = true;
    this.#discardStores();
    this.endAssociation("aborted");
    try {
      this.emit("abort", { source: pdu[8], reason: pdu[9] });
    } catch (err) {
      this.log.error("abort handling failed", { reason: (err as Error).message });
    }
    this.socket.destroy();
  }

  /**
   * An acceptor owes its peer more than {@link OWED_MAX} of answers not yet taken (a peer that sends requests
   * and reads nothing: a flood of C-ECHOs, say): its requests are not read until the peer takes them, so
   * the agent neither queues answers without bound nor spends its event loop on one peer's flood. The idle
   * timer then ends such an association. A requestor's own sends (the forwarder's C-STOREs) are not counted:
   * it must go on reading the answers to what it sends.
   */
  #owing(): boolean {
    return this.role === "acceptor" && this.socket.writableLength >= OWED_MAX;
  }

  #waitingToBePaid = false;

  #resumeWhenPaid(): void {
    if (!this.#owing()) return void this.socket.resume();
    if (this.#waitingToBePaid) return;
    this.#waitingToBePaid = true;
    this.socket.once("drain", () => {
      this.#waitingToBePaid = false;
      if (this.#queued < 4 && this.socket.isPaused()) this.#resumeWhenPaid();
    });
  }

  /** Takes received bytes in place of the library's accumulator (which re-copies every chunk). */
  #onData(data: Buffer, lease?: Lease): void {
    if (this.aborted) return;
    const refusal = this.#reader.push(data, (pdu, release) => {
      if (this.aborted || this.#closed) return release();
      this.lastPduTime = Date.now();
      if (pdu[0] === 7) {
        this.#peerAbort(pdu);
        return release();
      }
      const unexpected = this.#unexpected(pdu[0]);
      if (unexpected) {
        release();
        return this.protocolAbort(2, unexpected);
      }
      if (pdu[0] === 1) {
        // PS3.8 9.2.3 (AA-1): an A-ASSOCIATE-RQ that cannot be read is aborted, reason 6, not dropped silently.
        const malformed = associateRqMalformed(pdu);
        if (malformed) {
          release();
          return this.protocolAbort(6, malformed);
        }
        this.associateRq = readAssociateRq(pdu);
      }
      if (pdu[0] === 2) {
        // The same for the A-ASSOCIATE-AC a peer answers us with (the library would read on misaligned, or
        // fail without a word): aborted, and the requestor's open() told why (scu.ts).
        const malformed = associateAcMalformed(pdu);
        if (malformed) {
          release();
          return this.protocolAbort(6, malformed);
        }
      }
      if (this.#queued++ === 0) this.#busySince = performance.now();
      if (this.#queued > 16 || this.#owing()) this.socket.pause();
      this.#processing = this.#processing.then(async () => {
        try {
          // One peer's backlog (a chunk of thousands of small requests) does not hold the event loop: after
          // BUSY_MS of it the chain lets timers, other associations and HTTP run.
          if (performance.now() - this.#busySince > BUSY_MS) {
            await new Promise((r) => setTimeout(r, 0));
            this.#busySince = performance.now();
          }
          // The association ended while this PDU waited: nothing more is done for it.
          if (this.aborted || this.#closed) return;
          if (pdu[0] === 4) await this.#pdata.read(pdu);
          // The library may keep what it parses of a control PDU: it gets a copy.
          else await this._processPdu(Buffer.from(pdu));
        } catch (err) {
          this.log.error("PDU processing failed", { reason: (err as Error).message });
          // An association PDU the library cannot read leaves nothing negotiated to go on with.
          if (pdu[0] === 2) {
            this.protocolAbort(6, `A-ASSOCIATE-AC could not be read: ${(err as Error).message}`);
          }
        } finally {
          // The PDU's bytes are no longer used: its buffer may take the next read (read_buffers.ts).
          release();
          if (--this.#queued < 4 && this.socket.isPaused()) this.#resumeWhenPaid();
        }
      });
    }, lease);
    if (refusal) this.protocolAbort(refusal.startsWith("unrecognised") ? 1 : 6, refusal);
  }

  /**
   * The PDU types the upper layer state machine allows here (PS3.8 9.2): the acceptor first gets an
   * A-ASSOCIATE-RQ and never another, nor an -AC, -RJ or A-RELEASE-RP; the requestor first gets an
   * A-ASSOCIATE-AC or -RJ and then never one again, nor an -RQ. A second A-ASSOCIATE-RQ on one connection
   * was negotiated again and counted as a second association, whose slot was never given back.
   */
  #unexpected(type: number): string | undefined {
    const name = PDU_NAMES[type] ?? `PDU type ${type}`;
    const first = this.role === "acceptor" ? type === 1 : type === 2 || type === 3;
    if (!this.#negotiated) {
      if (first) {
        this.#negotiated = true;
        return undefined;
      }
      return `${name} before the ${this.role === "acceptor" ? "A-ASSOCIATE-RQ" : "A-ASSOCIATE-AC"}`;
    }
    const never = this.role === "acceptor" ? [1, 2, 3, 6] : [1, 2, 3];
    return never.includes(type) ? `unexpected ${name} on a negotiated association` : undefined;
  }

  /**
   * The library announces min(peer's maximum, ours) as the PDU size it will receive, so a peer that
   * receives 16 KiB PDUs would have to send us 16 KiB PDUs too. Announce ours, then keep the peer's
   * for what we send.
   */
  sendAssociationAccept(): void {
    const peers = this.association.getMaxPduLength();
    this.association.setMaxPduLength(this.netOptions.maxPduLength);
    super.sendAssociationAccept();
    this.association.setMaxPduLength(peers);
  }

  /** Sends A-ABORT (service provider) and closes the socket; `onProtocolError` hears why. */
  protected protocolAbort(reason: number, message: string): void {
    if (this.aborted) return;
    this.aborted = true;
    try {
      // A-ABORT: type 7, length 4, reserved, reserved, source 2 (service provider), reason
      this.socket.write(Buffer.from([7, 0, 0, 0, 0, 4, 0, 0, 2, reason]));
    } catch { /* socket already gone */ }
    this.onProtocolError(message);
    this.#discardStores();
    this.endAssociation("protocol-abort");
    this.closeAfterFlush(); // after the A-ABORT has gone out
  }

  /** Logs and reports a protocol error. */
  protected onProtocolError(message: string): void {
    this.log.warn("protocol error, association aborted", { reason: message });
    this.emitEvent({ type: "protocol-error", message });
  }

  /** Hook for metrics; the SCP forwards events to its owner. */
  protected emitEvent(_event: DimseEvent): void {}

  // ---- C-STORE (our own receive path: _pdata.ts, _store_in.ts) ----

  #openStore(command: StoreCommand, transferSyntax: string): IncomingStore {
    const ctx: StoreContext = {
      association: this.info,
      sopClassUid: command.sopClassUid,
      sopInstanceUid: command.sopInstanceUid,
      transferSyntax,
    };
    const sink = openSink(this.storeHandler, ctx, this.#closed || this.aborted);
    const key = {};
    this.stores.set(key, { sink, ctx });
    return {
      write: (value) => writeFragment(sink, value),
      end: () => {
        const answered: Promise<void> = finished(sink).then(async () => {
          // Discarded meanwhile (the association ended): nothing to commit or answer.
          if (!this.stores.delete(key)) return;
          const { status, comment, bytes } = await completeStore(this.storeHandler, sink, ctx, this.log);
          this.emitEvent({ type: "store", status, bytes });
          this.lastPduTime = Date.now();
          sendStoreResponse(this.socket, command, status, comment);
        }).catch((err) => this.log.error("C-STORE completion failed", { reason: safeReason(err) }))
          .finally(() => this.#answering.delete(answered));
        this.#answering.add(answered);
      },
    };
  }

  /**
   * Resolves once every C-STORE whose data set has arrived is answered: an A-RELEASE-RP sent before a
   * response would end the association with that response unsent, or sent after it (PS3.8 9.2: P-DATA
   * goes on until the A-RELEASE-RP).
   */
  protected storesAnswered(): Promise<void> {
    return Promise.all(this.#answering).then(() => {});
  }

  /**
   * A Storage Commitment report (N-EVENT-REPORT) on a request of ours: read, handed to the job logic, and
   * answered once it is recorded (Success), or with the status of why not. Without a handler: 0x0118.
   */
  nEventReportRequest(request: any, callback: (rsp: any) => void): void {
    const answer = (status: number, comment?: string) => {
      try {
        const rsp = responses.NEventReportResponse.fromRequest(request);
        rsp.setStatus(status);
        if (comment) rsp.setErrorComment?.(comment.slice(0, 64));
        callback(rsp);
      } catch (err) {
        this.log.error("N-EVENT-REPORT response failed", { reason: safeReason(err) });
      }
    };
    const handler = this.reports;
    Promise.resolve().then(() => {
      if (!handler) {
        throw new DimseStatusError(Status.NoSuchSopClass, "no Storage Commitment request of ours");
      }
      const report = readCommitmentReport(request);
      return handler.received(report, this.info);
    }).then(() => answer(Status.Success), (err) => {
      const status = err instanceof DimseStatusError ? err.status : Status.ProcessingFailure;
      this.log.warn("N-EVENT-REPORT refused", { status: statusHex(status), reason: safeReason(err) });
      answer(status, safeReason(err));
    });
  }

  /** A C-STORE request with no data set reaches the library (ours take the data set path): refused. */
  cStoreRequest(request: any, callback: (rsp: any) => void): void {
    try {
      const rsp = responses.CStoreResponse.fromRequest(request);
      rsp.setStatus(Status.ProcessingFailure);
      rsp.setErrorComment?.("no data set received");
      this.emitEvent({ type: "store", status: Status.ProcessingFailure, bytes: 0 });
      callback(rsp);
    } catch (err) {
      this.log.error("C-STORE response failed", { err });
    }
  }

  /**
   * The library finds the request a response answers in `pending` but never takes it off: every
   * request an association sent stayed there, with what it held, until the association ended. A final
   * response now takes its request off.
   */
  _performDimse(context: any, dimse: any): void {
    super._performDimse(context, dimse);
    // Responses only (command field with bit 0x8000 set): a C-CANCEL request names a message too.
    if (!((dimse?.getCommandFieldType?.() ?? 0) & 0x8000)) return;
    const status = dimse.getStatus();
    if (status === Status.Pending || status === Status.PendingWarning) return;
    const pending = (this as any).pending as any[] | undefined;
    const id = dimse.getMessageIdBeingRespondedTo();
    const i = pending?.findIndex((r) => r.getMessageId() === id) ?? -1;
    if (i >= 0) pending!.splice(i, 1);
  }

  _sendDimse(dimse: any): void {
    this.lastPduTime = Date.now();
    super._sendDimse(dimse);
  }

  /**
   * Sends a C-STORE request for a stored object and resolves with the status of its response, without
   * the library's request machinery (issue 16: its queue, its P-DATA accumulator and its response objects
   * cost the event loop about a quarter of a millisecond per object forwarded). The command is encoded by
   * command_codec.ts, the data set streamed by `streamRawDataset`, and the response is taken by our
   * P-DATA reader. The caller times the response and watches the socket's close (_store_request.ts).
   */
  sendStore(
    item: OutgoingObject,
    extra?: { moveOriginatorAet?: string; moveOriginatorMessageId?: number },
  ): Promise<number> {
    const pcId = this.#contextFor(item.sopClassUid, item.transferSyntax);
    if (pcId === undefined) {
      return Promise.reject(
        new Error("no accepted presentation context for the object's SOP class and syntax"),
      );
    }
    const messageId = this._getNextMessageId();
    const command = encodeCommand({
      CommandField: 0x0001,
      MessageID: messageId,
      Priority: 0,
      CommandDataSetType: 0x0202,
      AffectedSOPClassUID: item.sopClassUid,
      AffectedSOPInstanceUID: item.sopInstanceUid,
      ...(extra?.moveOriginatorAet
        ? {
          MoveOriginatorApplicationEntityTitle: extra.moveOriginatorAet,
          MoveOriginatorMessageID: extra.moveOriginatorMessageId,
        }
        : {}),
    });
    if (!command) return Promise.reject(new Error("the C-STORE command cannot be encoded"));
    const max = 4 * 1024 * 1024;
    const peerMax = this.association.getMaxPduLength();
    const maxPduLength = peerMax === 0 ? max : Math.min(peerMax, max);
    return new Promise((resolve, reject) => {
      this.#sentStores.set(messageId, resolve);
      let opened = false;
      // One message after the other on the wire (PS3.8 9.3.5): with an asynchronous operations window a
      // request goes out while earlier ones wait for their responses, never inside another's data set.
      const sent = this.#sending.then(async () => {
        // The stored object is opened (and its size checked) before any byte of its request goes out: one
        // missing or changed file fails its own C-STORE (a C-MOVE's or C-GET's sub-operation, a forward's
        // attempt), not the association and every object after it.
        const dataset = await item.openDataset().catch((err) => {
          throw new ObjectUnreadableError(
            `the archived object cannot be read: ${unreadable(err)}`,
            err instanceof Deno.errors.NotFound,
          );
        });
        opened = true;
        this.lastPduTime = Date.now();
        this.socket.write(pdataPdu(pcId, Buffer.from(command), true, true));
        return streamRawDataset(this.socket, item, pcId, maxPduLength, dataset);
      });
      this.#sending = sent.catch(() => {});
      sent.catch((err) => {
        this.#sentStores.delete(messageId);
        if (!opened) return reject(err);
        this.protocolAbort(0, `sending object ${hashUid(item.sopInstanceUid)} failed: ${safeReason(err)}`);
      });
    });
  }

  /**
   * Runs `write` once the messages `sendStore` has started are on the wire: a command of ours (a C-GET's
   * pending response) never lands inside a C-STORE sub-operation's data set (PS3.8 9.3.5), which with an
   * asynchronous operations window may be streaming when an earlier sub-operation is answered.
   */
  protected afterSending(write: () => void): void {
    const done = this.#sending.then(write);
    this.#sending = done.catch(() => {});
  }

  /** The accepted presentation context for a SOP class in a transfer syntax, as the library picks it. */
  #contextFor(sopClassUid: string, transferSyntax: string): number | undefined {
    if (!this.#contexts) {
      this.#contexts = new Map();
      for (const { id } of this.association.getPresentationContexts()) {
        const pc = this.association.getPresentationContext(id);
        if (pc.getResult() !== constants.PresentationContextResult.Accept) continue;
        const key = `${pc.getAbstractSyntaxUid()} ${pc.getAcceptedTransferSyntaxUid()}`;
        this.#contexts.set(key, id); // the last one, as the library picks
      }
    }
    return this.#contexts.get(`${sopClassUid} ${transferSyntax}`);
  }

  /** A C-STORE response to one of `sendStore`'s requests ends it; any other command goes to the library. */
  #storeResponse(command: Record<string, unknown>): boolean {
    if (command.CommandField !== 0x8001) return false;
    const id = Number(command.MessageIDBeingRespondedTo);
    const done = this.#sentStores.get(id);
    if (!done) return false;
    this.#sentStores.delete(id);
    this.lastPduTime = Date.now();
    done(Number(command.Status));
    return true;
  }
}

/**
 * Why a stored object could not be opened, without its path (which names its UIDs): the file system's
 * error as its name and code (`NotFound (ENOENT)`), or our own words (a size that changed).
 */
/** An object to send could not be opened; `missing` when it is not there at all (erased, removed). */
export class ObjectUnreadableError extends Error {
  override name = "ObjectUnreadableError";
  constructor(message: string, readonly missing: boolean) {
    super(message);
  }
}

function unreadable(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e instanceof Deno.errors.NotFound) return "missing (NotFound)";
  if (e?.name && e.name !== "Error") return e.code ? `${e.name} (${e.code})` : e.name;
  return e?.message && !e.message.includes("/") ? e.message : "unreadable";
}

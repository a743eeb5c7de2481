// deno-lint-ignore-file no-explicit-any
/**
 * The agent's SCP: association policy, C-ECHO, raw C-STORE, C-FIND, C-MOVE and C-GET. Every
 * library hook is guarded: a throw inside dcmjs-dimse would end the process, so each failure
 * becomes a DIMSE status, an abort, or a log line.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import { constants, Dataset, responses } from "./_library.ts";
import { malformedIdentifier } from "./identifier_codec.ts";
import type { WireSocket } from "./deno_socket.ts";
import { ConduitNetwork, type NetworkOptions } from "./_network.ts";
import { safeReason } from "./_refusal.ts";
import {
  type CommitmentHandler,
  type CommitmentReport,
  type CommitmentReportHandler,
  type CommitmentRequest,
  type DimseEvent,
  DimseStatusError,
  type Identifier,
  isWarning,
  type OutgoingObject,
  type QueryHandler,
  type RetrieveHandler,
  Status,
  statusHex,
  type StoreHandler,
} from "./handlers.ts";
import { NoContextAcceptedError, ScuAssociation, storageGroups } from "./scu.ts";
import { reencoded, ReencodeError, reencodeTargets } from "./_reencode.ts";
import { sendStoreAndWait } from "./_store_request.ts";
import {
  FailureLog,
  finalStatus,
  pending,
  responseTo,
  runSubOperations,
  SubOperations,
  Unsendable,
} from "./_suboperations.ts";
import { CALLING_NOT_ALLOWED, getWindow, negotiate, QR_FIND, QR_GET, QR_MOVE } from "./_negotiate.ts";
import { readCommitmentRequest, ReportUnansweredError, sendEventReport } from "./_commitment.ts";
import { AssociationTally } from "./_association_tally.ts";

export interface ScpOptions extends NetworkOptions {
  aet: string;
  /** Calling AE titles allowed to associate; "*" allows any. */
  allowedCallingAets: string[];
  /**
   * The configured node a calling AE title is, if any: a node refused by `allowedCallingAets` (its Storage
   * Commitment reports, its C-STOREs of a C-MOVE retrieval) is warned of, not only logged.
   */
  nodeOfCaller?: (aet: string) => string | undefined;
  /** Refuse associations whose called AE title is not ours. */
  checkCalledAet: boolean;
  maxAssociations: number;
  /**
   * Associations that fit in the descriptors left (agent/descriptors.ts), when less than
   * `maxAssociations`: beyond it an association is rejected (transient, local limit exceeded).
   */
  associationLimit?: () => number;
  /** Accept storage SOP classes outside the standard storage roots (private classes). */
  acceptAnySopClass: boolean;
  /** Outstanding operations granted to a requestor that proposes an asynchronous operations window. */
  maxOpsPerformed?: number;
  /** C-GET sub-operations outstanding at once, at most what the requestor proposed to perform. */
  maxOpsInvoked?: number;
  store: StoreHandler;
  query: QueryHandler;
  retrieve: RetrieveHandler;
  /** The Storage Commitment Push Model SCP's job logic; without it the SOP class is not accepted. */
  commitment?: CommitmentHandler;
  /**
   * Reports on the agent's own Storage Commitment requests (nodes with `storageCommitment`), which a node
   * sends on an association it opens to us, the SOP class in the SCU role for us (PS3.4 J.3.3).
   */
  commitmentReports?: CommitmentReportHandler;
  log: Logger;
  onEvent?: (event: DimseEvent) => void;
}

/** Shared state of one SCP: its options, and the associations open on all its ports. */
export interface ScpShared {
  options: ScpOptions;
  active: number;
}

/** Serves one connection (plain TCP, or TLS once its handshake succeeded). */
export function serveConnection(socket: WireSocket, shared: ScpShared, secure: boolean): void {
  const scp = new AgentScp(socket, shared, secure);
  scp.connected = true;
  scp.connectedTime = Date.now();
  scp.on("networkError", (err: Error) => {
    shared.options.log.debug("connection error", { reason: err.message });
    socket.end();
  });
}

/** How long a requester has to answer a Storage Commitment report sent on its association. */
const REPORT_RESPONSE_TIMEOUT_MS = 60_000;

/** How many times one C-MOVE opens its association to the destination again after losing it. */
const MAX_MOVE_REOPENS = 3;

class AgentScp extends ConduitNetwork {
  #shared: ScpShared;
  #counted = false;
  #accepted = false;
  /** The requester asked to release: no report goes on this association any more. */
  #releasing = false;
  #operations = new Map<number, AbortController>();
  #tally = new AssociationTally();
  /**
   * When the connection came (monotonic): the library clears `connectedTime` once the socket closes, so an
   * association that ended by a close or an abort was logged as lasting 0 s (until 2026-12-08).
   */
  readonly #openedAt = performance.now();

  constructor(socket: WireSocket, shared: ScpShared, secure: boolean) {
    super(socket, shared.options);
    this.#shared = shared;
    this.storeHandler = shared.options.store;
    this.reports = shared.options.commitmentReports;
    this.log = shared.options.log.child({
      remote: this.info.remoteAddress,
      ...(secure ? { tls: true } : {}),
    });
    socket.on("close", () => this.#closed());
    socket.on("error", () => {/* reported through the library's networkError */});
  }

  get #options(): ScpOptions {
    return this.#shared.options;
  }

  protected override emitEvent(event: DimseEvent): void {
    // Only an association we accepted has an end to count.
    if (event.type === "ended" && !this.#accepted) return;
    // One line per accepted association at its end: who, how it ended, what it did (operations.md#logs).
    try {
      this.#tally.count(event);
      if (event.type === "ended") {
        const fields = this.#tally.fields(event.outcome, Date.now() - (performance.now() - this.#openedAt));
        this.log.info("association ended", { calledAet: this.info.calledAet, ...fields });
      }
    } catch { /* a log line never breaks the wire */ }
    try {
      this.#options.onEvent?.(event);
    } catch { /* metrics never break the wire */ }
  }

  #closed(): void {
    if (this.#counted) {
      this.#shared.active--;
      this.#counted = false;
    }
    for (const op of this.#operations.values()) op.abort();
    this.#operations.clear();
  }

  associationRequested(association: any): void {
    try {
      this.#negotiate(association);
    } catch (err) {
      this.log.error("association negotiation failed", { err });
      try {
        this.sendAssociationReject(constants.RejectResult.Transient, constants.RejectSource.ServiceUser, 1);
      } catch { /* socket gone */ }
    }
  }

  #negotiate(association: any): void {
    const o = this.#options;
    const calling = String(association.getCallingAeTitle() ?? "").trim();
    const called = String(association.getCalledAeTitle() ?? "").trim();
    this.info = { ...this.info, callingAet: calling, calledAet: called };
    this.log = this.log.child({ callingAet: calling });
    const policy = {
      ...o,
      storageCommitment: o.commitment !== undefined || o.commitmentReports !== undefined,
      commitmentReports: o.commitmentReports !== undefined,
    };
    const full = this.#shared.active >= Math.min(o.maxAssociations, o.associationLimit?.() ?? Infinity);
    const rq = this.associateRq;
    const proposal = {
      calling,
      called,
      context: rq?.applicationContext,
      protocolVersion: rq?.protocolVersion ?? 1,
      contextIds: rq?.contextIds ?? [],
    };
    const refusal = negotiate(association, policy, proposal, full);
    if (refusal) {
      const [result, source, reason, why] = refusal;
      const node = why === CALLING_NOT_ALLOWED ? o.nodeOfCaller?.(calling) : undefined;
      if (node) {
        this.log.warn("association rejected", {
          reason: why,
          calledAet: called,
          node,
          hint:
            `the calling AE title is node ${node}'s: its Storage Commitment reports and the C-STOREs of ` +
            `retrievals from it are refused while dimse.allowedCallingAets does not name ${calling}`,
        });
      } else this.log.info("association rejected", { reason: why, calledAet: called });
      this.emitEvent({ type: "association", outcome: "rejected", reason: why });
      this.sendAssociationReject(result, source, reason);
      // PS3.8 9.1.4: the requestor closes after a reject; we close too, after a grace period (ARTIM).
      const socket = this.socket;
      socket.end();
      setTimeout(() => socket.destroy(), Math.min(this.netOptions.artimTimeoutMs, 5000)).unref?.();
      return;
    }
    this.#shared.active++;
    this.#counted = true;
    this.#accepted = true;
    this.emitEvent({ type: "association", outcome: "accepted" });
    this.log.debug("association accepted", { calledAet: called });
    this.sendAssociationAccept();
  }

  /**
   * Answers a release once every C-STORE whose data set arrived before it is answered (a sender that
   * releases without waiting for its responses gets them before the A-RELEASE-RP), and the objects this
   * SCP answered Success are in the index too (group commit): a sender that queries right after its
   * release finds them.
   */
  associationReleaseRequested(): void {
    this.#releasing = true;
    const release = () => {
      try {
        this.endAssociation("released");
        this.sendAssociationReleaseResponse();
      } catch { /* socket gone */ }
    };
    const settle = () => {
      let settled: Promise<void> | undefined;
      try {
        settled = this.#options.store.settled?.();
      } catch { /* answer at once */ }
      if (settled) settled.then(release, release);
      else release();
    };
    this.storesAnswered().then(settle, settle);
  }

  abort(): void {
    this.log.info("association aborted by peer");
  }

  cEchoRequest(request: any, callback: (rsp: any) => void): void {
    if (!this.#answerable(request, "C-ECHO")) return;
    try {
      const rsp = responses.CEchoResponse.fromRequest(request);
      rsp.setStatus(Status.Success);
      callback(rsp);
    } catch (err) {
      this.log.error("C-ECHO failed", { err });
    }
  }

  // ---- Storage Commitment Push Model (PS3.4 J.3) ----

  /**
   * An N-ACTION asking for Storage Commitment: checked, recorded by the job logic, answered, then decided;
   * the report goes on this association while the requester keeps it open (PS3.4 J.3.3), else on a new one
   * (the job logic's `deliverLater`).
   */
  nActionRequest(request: any, callback: (rsp: any) => void): void {
    const answer = (status: number, comment?: string) => {
      this.emitEvent({ type: "commitment", status });
      try {
        const rsp = responses.NActionResponse.fromRequest(request);
        rsp.setStatus(status);
        if (comment) rsp.setErrorComment?.(comment.slice(0, 64));
        callback(rsp);
      } catch (err) {
        this.log.error("N-ACTION response failed", { reason: safeReason(err) });
      }
    };
    const handler = this.#options.commitment;
    let parsed: CommitmentRequest;
    try {
      if (!handler) throw new DimseStatusError(Status.NoSuchSopClass, "Storage Commitment not offered");
      parsed = readCommitmentRequest(request, this.info);
    } catch (err) {
      const status = err instanceof DimseStatusError ? err.status : Status.ProcessingFailure;
      this.log.warn("N-ACTION refused", { status: statusHex(status), reason: safeReason(err) });
      return answer(status, safeReason(err));
    }
    const transaction = hashUid(parsed.transactionUid);
    // A handler that throws at once is caught like one that rejects (a throw here would end the process).
    Promise.resolve().then(() => handler.accept(parsed)).then(
      () => {
        this.log.info("storage commitment requested", { transaction, instances: parsed.references.length });
        answer(Status.Success);
        return this.#report(handler, parsed, transaction);
      },
      (err) => {
        const status = err instanceof DimseStatusError ? err.status : Status.ProcessingFailure;
        this.log.warn("N-ACTION refused", {
          status: statusHex(status),
          reason: safeReason(err),
          transaction,
        });
        answer(status, safeReason(err));
      },
    ).catch((err) => this.log.error("storage commitment failed", { reason: safeReason(err), transaction }));
  }

  /** The report of an accepted request: on this association while it is open, else handed on. */
  async #report(handler: CommitmentHandler, request: CommitmentRequest, transaction: string): Promise<void> {
    let report: CommitmentReport;
    try {
      report = await handler.decide(request);
    } catch (err) {
      this.log.warn("storage commitment not decided yet", { reason: safeReason(err), transaction });
      return handler.deliverLater(request, undefined);
    }
    if (this.#releasing || this.aborted || this.socket.destroyed) {
      return handler.deliverLater(request, report);
    }
    let status: number;
    try {
      // After the C-STOREs of a C-GET being streamed on this association, never inside one (PS3.8 9.3.5).
      const network = {
        socket: this.socket,
        sendRequests: (rq: unknown) => this.afterSending(() => this.sendRequests(rq)),
        closedBefore: (what: string) => this.closedBefore(what),
      };
      status = await sendEventReport(network, report, REPORT_RESPONSE_TIMEOUT_MS);
    } catch (err) {
      // Our own words when the association closed first or stayed silent (a requester that released at once,
      // as Orthanc does): until 2026-12-07 "Error: processing failed", which read as a fault (QA 35a).
      this.log.info("storage commitment report not answered on the requester's association", {
        reason: err instanceof ReportUnansweredError ? err.message : safeReason(err),
        then: "sent on an association the agent opens to the requester",
        transaction,
      });
      return handler.deliverLater(request, report);
    }
    if (status !== Status.Success && !isWarning(status)) {
      this.log.warn("storage commitment report refused on the requester's association", {
        status: statusHex(status),
        transaction,
      });
      return handler.deliverLater(request, report);
    }
    handler.reported(request, report, status);
  }

  // ---- C-FIND ----

  cFindRequest(request: any, callback: (rsp: any) => void): void {
    this.#runOperation(request, "find", callback, async (signal, send) => {
      const model = QR_FIND[request.getAffectedSopClassUid?.() ?? commandUid(request)];
      if (!model) throw new DimseStatusError(Status.SopClassNotSupported, "not a C-FIND model we serve");
      const identifier = readIdentifier(request);
      let count = 0;
      for await (const match of this.#options.query.find(model, identifier, signal)) {
        if (signal.aborted) return Status.Cancel;
        const rsp = responseTo(responses.CFindResponse, request);
        rsp.setStatus(Status.Pending);
        rsp.setDataset(new Dataset(match));
        send(rsp);
        // Let the event loop run now and then: a C-CANCEL (and other associations) can then be heard
        // in the middle of a long answer.
        if (++count % 32 === 0) await new Promise((r) => setTimeout(r, 0));
      }
      this.log.debug("C-FIND done", { matches: count });
      return signal.aborted ? Status.Cancel : Status.Success;
    });
  }

  // ---- C-MOVE and C-GET ----

  cMoveRequest(request: any, callback: (rsp: any) => void): void {
    this.#runOperation(request, "move", callback, async (signal, send) => {
      const model = QR_MOVE[commandUid(request)];
      if (!model) throw new DimseStatusError(Status.SopClassNotSupported, "not a C-MOVE model we serve");
      const destinationAet = String(request.getCommandDataset().getElement("MoveDestination") ?? "").trim();
      const destination = this.#options.retrieve.destination(destinationAet);
      if (!destination) {
        throw new DimseStatusError(
          Status.MoveDestinationUnknown,
          `unknown move destination ${destinationAet}`,
        );
      }
      const items = await this.#options.retrieve.locate(model, readIdentifier(request), signal);
      const counts = new SubOperations(items.length);
      const refused = new Unsendable();
      if (items.length === 0) return finalStatus(counts, send, request, responses.CMoveResponse);
      const connect = () =>
        new ScuAssociation({
          callingAet: this.#options.aet,
          node: destination,
          maxPduLength: this.netOptions.maxPduLength,
          idleTimeoutMs: this.netOptions.idleTimeoutMs,
          artimTimeoutMs: this.netOptions.artimTimeoutMs,
          asyncOps: destination.maxOpsInvoked,
        });
      // Objects spanning more (SOP class, syntax) pairs than one association holds go over several, one
      // after the other (storageGroups): the usual C-MOVE is one group.
      const groups = storageGroups(items);
      if (groups.length > 1) {
        this.log.info("C-MOVE split over several associations", {
          destination: destinationAet,
          associations: groups.length,
        });
      }
      let noContext: string | undefined;
      const failures = new FailureLog(this.log, "C-MOVE", { destination: destinationAet });
      for (const [g, group] of groups.entries()) {
        if (signal.aborted) break;
        const wanted = {
          storage: group.map((i) => ({ sopClassUid: i.sopClassUid, transferSyntax: i.transferSyntax })),
        };
        let scu = connect();
        const opened = [scu];
        try {
          await scu.open(wanted);
        } catch (err) {
          if (err instanceof NoContextAcceptedError) {
            // Reachable, but it accepts none of the SOP classes in a syntax the objects can go in (section 5
            // of the conformance statement): each sub-operation fails as one whose context alone was
            // refused would (0x0122), and the final response counts and lists them (PS3.4 C.4.2.1.5) with
            // the reason.
            this.log.warn("C-MOVE destination accepted no presentation context", {
              destination: destinationAet,
              objects: group.length,
              offered: [...new Set(group.map((i) => `${i.sopClassUid} ${i.transferSyntax}`))].slice(0, 16),
            });
            for (const item of group) counts.record(Status.SopClassNotSupported, item.sopInstanceUid);
            const syntaxes = [...new Set(group.map((i) => i.transferSyntax))].join(",");
            noContext ??= `${destinationAet} accepted no context for ${syntaxes}`;
            if (g < groups.length - 1) send(pending(request, responses.CMoveResponse, counts));
            continue;
          }
          if (g === 0) {
            // Nothing went: every sub-operation fails, and the final response (0xA702) counts and lists
            // them (PS3.4 C.4.2.1.5), with the reason as its Error Comment.
            const reason = (err as Error).message;
            this.log.warn("C-MOVE destination unreachable", {
              destination: destinationAet,
              objects: items.length,
              reason,
            });
            for (const item of items) counts.record(Status.ProcessingFailure, item.sopInstanceUid);
            return finalStatus(
              counts,
              send,
              request,
              responses.CMoveResponse,
              false,
              `cannot reach ${destinationAet}: ${reason}`,
            );
          }
          // Unreachable after an earlier group went: this group's sub-operations fail, the others stand.
          this.log.warn("C-MOVE destination unreachable for a further association", {
            destination: destinationAet,
            objects: group.length,
            reason: (err as Error).message,
          });
          for (const item of group) counts.record(Status.ProcessingFailure, item.sopInstanceUid);
          if (g < groups.length - 1) send(pending(request, responses.CMoveResponse, counts));
          continue;
        }
        // A destination that drops the association (DCMTK aborts on an object it cannot read, such as one of
        // odd length) fails the sub-operation in flight; the objects after it go on a new association,
        // opened at most MAX_MOVE_REOPENS times for one group.
        let reopens = 0;
        let reopening: Promise<ScuAssociation> | undefined;
        const live = (): Promise<ScuAssociation> => {
          if (scu.isOpen) return Promise.resolve(scu);
          if (reopens >= MAX_MOVE_REOPENS) {
            return Promise.reject(
              new Error(`${destinationAet} ended the association ${reopens + 1} times; not opened again`),
            );
          }
          reopening ??= (async () => {
            reopens++;
            this.log.info("C-MOVE association lost; opening another", { destination: destinationAet });
            const next = connect();
            opened.push(next);
            try {
              await next.open(wanted);
            } catch (err) {
              // Said here: the sub-operation that waited on it fails with this reason.
              this.log.warn("C-MOVE association could not be opened again", {
                destination: destinationAet,
                reason: (err as Error).message,
              });
              throw err;
            }
            return scu = next;
          })().finally(() => reopening = undefined);
          return reopening;
        };
        try {
          const messageId = request.getMessageId();
          // As many sub-operations outstanding as the destination granted (one without a window).
          await runSubOperations(
            group,
            scu.window,
            signal,
            counts,
            async (item) =>
              refused.note(
                await (await live()).store(item, {
                  moveOriginatorAet: this.info.callingAet,
                  moveOriginatorMessageId: messageId,
                }),
                item,
              ),
            (item, err) => failures.add(item, err),
            () => send(pending(request, responses.CMoveResponse, counts)),
          );
        } finally {
          await Promise.all(opened.map((a) => a.release()));
        }
      }
      const failed = failures.end();
      if (signal.aborted) return finalStatus(counts, send, request, responses.CMoveResponse, true);
      return finalStatus(
        counts,
        send,
        request,
        responses.CMoveResponse,
        false,
        refused.comment(destinationAet) ?? noContext ?? failed,
      );
    });
  }

  cGetRequest(request: any, callback: (rsp: any) => void): void {
    this.#runOperation(request, "get", callback, async (signal, send) => {
      const model = QR_GET[commandUid(request)];
      if (!model) throw new DimseStatusError(Status.SopClassNotSupported, "not a C-GET model we serve");
      const items = await this.#options.retrieve.locate(model, readIdentifier(request), signal);
      const counts = new SubOperations(items.length);
      const refused = new Unsendable();
      const failures = new FailureLog(this.log, "C-GET");
      // As many sub-operations outstanding as the requestor said it performs (one without a window).
      const window = Math.min(getWindow(this.association), items.length);
      const peak = await runSubOperations(
        items,
        window,
        signal,
        counts,
        (item) => this.#storeOverThisAssociation(item).then((status) => refused.note(status, item)),
        (item, err) => failures.add(item, err),
        () => send(pending(request, responses.CGetResponse, counts)),
      );
      const failed = failures.end();
      if (items.length > 0) {
        this.log.info("C-GET sub-operations sent", {
          objects: items.length,
          completed: counts.completed,
          failed: counts.failed,
          window,
          peakOutstanding: peak,
        });
      }
      return finalStatus(
        counts,
        send,
        request,
        responses.CGetResponse,
        signal.aborted,
        refused.comment(this.info.callingAet) ?? failed,
      );
    });
  }

  /** One C-GET sub-operation: a C-STORE from us on a context the SCU accepted in the SCP role. */
  async #storeOverThisAssociation(item: OutgoingObject): Promise<number> {
    const association = this.association;
    let context: any;
    const accepted = new Set<string>();
    // PS3.7 D.3.3.4: a requestor that did not offer the SCP role for the SOP class is its SCU only, and
    // takes no C-STORE-RQ. Roles are negotiated per SOP class (the library marks the first context of it).
    let scpRole = false;
    for (const pc of association.getPresentationContexts()) {
      const c = association.getPresentationContext(pc.id);
      if (c.getAbstractSyntaxUid() !== item.sopClassUid) continue;
      if (c.getProviderRole() === true) scpRole = true;
      if (c.getResult() !== constants.PresentationContextResult.Accept) continue;
      accepted.add(c.getAcceptedTransferSyntaxUid());
      if (c.getAcceptedTransferSyntaxUid() === item.transferSyntax) context = c;
    }
    if (!scpRole) return Status.SopClassNotSupported;
    if (!context) {
      // Not in its stored syntax: Implicit and Explicit VR Little Endian go in each other (_reencode.ts);
      // anything else (compressed, Deflated, Big Endian) goes as stored or not at all.
      const to = reencodeTargets(item.transferSyntax).find((ts) => accepted.has(ts));
      if (!to) return Status.SopClassNotSupported;
      try {
        item = await reencoded(item, to);
      } catch (err) {
        if (!(err instanceof ReencodeError)) throw err;
        this.log.warn("C-GET sub-operation not re-encoded", {
          sop: hashUid(item.sopInstanceUid),
          reason: err.message,
        });
        return Status.SopClassNotSupported;
      }
    }
    return await sendStoreAndWait(this, item);
  }

  cCancelRequest(request: any): void {
    try {
      const id = request.getMessageIdBeingRespondedTo?.() ??
        request.getCommandDataset().getElement("MessageIDBeingRespondedTo");
      this.#operations.get(id)?.abort();
    } catch { /* nothing to cancel */ }
  }

  /**
   * Whether a request can be answered: the library sends a response on an accepted presentation context
   * of the request's SOP class only, so a request sent on another class's context (a C-MOVE on a C-FIND
   * context, a Patient Root C-FIND on a Study Root one) would run and never be answered. Such a request is
   * a protocol error (PS3.7 9.1.1: a context's messages are of its abstract syntax): the association is
   * aborted (invalid PDU parameter value) before anything runs, and the log says why.
   */
  #answerable(request: any, what: string): boolean {
    let context: unknown;
    try {
      context = this.association.getAcceptedPresentationContextFromRequest(request);
    } catch { /* no context */ }
    if (context) return true;
    this.protocolAbort(
      6,
      `${what} for SOP class ${commandUid(request) || "(none)"} on no context of that class`,
    );
    return false;
  }

  /** Runs one C-FIND/C-MOVE/C-GET with cancellation and maps every failure to a final status. */
  #runOperation(
    request: any,
    kind: "find" | "move" | "get",
    callback: (rsp: any) => void,
    body: (signal: AbortSignal, send: (rsp: any) => void) => Promise<number | undefined>,
  ): void {
    if (!this.#answerable(request, `C-${kind.toUpperCase()}`)) return;
    const controller = new AbortController();
    const messageId = request.getMessageId();
    this.#operations.set(messageId, controller);
    const Response = kind === "find"
      ? responses.CFindResponse
      : kind === "move"
      ? responses.CMoveResponse
      : responses.CGetResponse;
    // The library's callback may be called only once; pending responses go out one by one instead.
    void callback;
    const write = (rsp: any) => {
      if (this.socket.destroyed) return;
      try {
        this.sendResponse(request, rsp);
      } catch (err) {
        this.log.error("sending a response failed", { err });
      }
    };
    // A C-GET's responses wait for the sub-operations being streamed on the same association.
    const send = kind === "get" ? (rsp: any) => this.afterSending(() => write(rsp)) : write;
    const finish = (status: number, comment?: string) => {
      this.#operations.delete(messageId);
      this.emitEvent({ type: kind, status });
      const rsp = responseTo(Response, request);
      rsp.setStatus(status);
      if (comment) rsp.setErrorComment?.(comment.slice(0, 64));
      send(rsp);
    };
    body(controller.signal, send).then(
      (status) => {
        if (status === undefined) {
          this.#operations.delete(messageId);
          return; // final response already sent
        }
        finish(status);
      },
      (err) => {
        const status = err instanceof DimseStatusError ? err.status : Status.UnableToProcess;
        const reason = safeReason(err);
        this.log.warn(`C-${kind.toUpperCase()} failed`, { status: statusHex(status), reason });
        finish(status, reason);
      },
    );
  }
}

function commandUid(request: any): string {
  return String(request.getCommandDataset().getElement("AffectedSOPClassUID") ?? "").replace(/\0/g, "")
    .trim();
}

function readIdentifier(request: any): Identifier {
  const ds = request.getDataset();
  if (!ds) throw new DimseStatusError(Status.DataSetMismatch, "request carries no identifier");
  const elements = ds.getElements();
  if (!elements || typeof elements !== "object") {
    throw new DimseStatusError(Status.CannotUnderstand, "identifier could not be parsed");
  }
  const malformed = malformedIdentifier(elements);
  if (malformed) throw new DimseStatusError(Status.CannotUnderstand, `identifier malformed: ${malformed}`);
  return elements as Identifier;
}

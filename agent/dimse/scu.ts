// deno-lint-ignore-file no-explicit-any
/**
 * The agent as an SCU towards a configured node: one association, many operations on it, each
 * answered or timed out. Stores go raw in the file's own transfer syntax (Implicit and Explicit VR Little
 * Endian re-encoded into each other when the node accepts only the other, _reencode.ts), C-GET
 * sub-operations arrive raw through a StoreHandler, C-FIND results stream as they come.
 */
import { DenoSocket, type WireSocket } from "./deno_socket.ts";
import { connectTls } from "./tls.ts";
import { AssociationError, NoContextAcceptedError } from "./scu_errors.ts";
import { constants, Dataset, requests } from "./_library.ts";
import { SopClass } from "@conduit/shared/dicom";
import { ConduitNetwork, type NetworkOptions } from "./_network.ts";
import {
  type Identifier,
  type NodeAddress,
  type OutgoingObject,
  type QueryModel,
  Status,
  type StoreHandler,
} from "./handlers.ts";
import { sendStoreAndWait } from "./_store_request.ts";
import { type ContextsWanted, FIND, GET, MAX_CONTEXTS, MOVE, proposal, storageGroups } from "./_propose.ts";
import { reencoded, ReencodeError, reencodeTargets } from "./_reencode.ts";
import { MIN_PEER_MAX_PDU, peerMaxPduUsable } from "./_negotiate.ts";
import { commitmentActionRequest, sendEventReport } from "./_commitment.ts";
import type { CommitmentReference, CommitmentReport, CommitmentReportHandler } from "./handlers.ts";

export type { ContextsWanted };
export { MAX_CONTEXTS, storageGroups };

export interface ScuOptions extends NetworkOptions {
  callingAet: string;
  node: NodeAddress;
  /** ms to wait for each response (reset by every pending response). */
  responseTimeoutMs?: number;
  /** ms to wait for the TCP connection. */
  connectTimeoutMs?: number;
  /**
   * C-STOREs to keep outstanding at once when the node grants an Asynchronous Operations Window (1: none
   * is proposed, each store waits for its response).
   */
  asyncOps?: number;
  /**
   * C-GET sub-operations (C-STOREs to us) the node may keep outstanding at once: above 1, proposed as the
   * window's maximum performed (PS3.7 D.3.3.3); the node sends as many as it grants itself.
   */
  performOps?: number;
  /** Where a Storage Commitment report the node sends on this association goes (`requestCommitment`). */
  reports?: CommitmentReportHandler;
}

/** Counts from a C-MOVE or C-GET final response. */
export interface RetrieveResult {
  status: number;
  completed: number;
  failed: number;
  warning: number;
  /** Objects that actually arrived through the store handler (C-GET). */
  received: number;
  comment?: string;
}

export { AssociationError, NoContextAcceptedError };

class ScuNetwork extends ConduitNetwork {
  received = 0;
  constructor(
    socket: WireSocket,
    opts: NetworkOptions,
    storeHandler?: StoreHandler,
    peer?: { callingAet: string; calledAet: string },
  ) {
    super(socket, opts);
    this.role = "requestor";
    this.storeHandler = storeHandler;
    // Objects a C-GET brings in are stored as if the node had sent them to us.
    if (peer) this.info = { ...this.info, ...peer };
  }
  set commitmentReports(handler: CommitmentReportHandler | undefined) {
    this.reports = handler;
  }
  protected override emitEvent(event: any): void {
    if (event.type === "store" && event.status === Status.Success) this.received++;
  }
  /** Why we aborted the association for the peer's protocol error (a malformed A-ASSOCIATE-AC...), if we did. */
  protocolError: string | undefined;
  protected override onProtocolError(message: string): void {
    this.protocolError ??= message;
    super.onProtocolError(message);
  }
  // A peer that aborts: the close listeners reject whatever waits.
  abort(): void {}
  associationRequested(): void {
    this.sendAssociationReject(constants.RejectResult.Permanent, constants.RejectSource.ServiceUser, 1);
  }
}

export class ScuAssociation {
  #network: ScuNetwork | undefined;
  #closed = false;
  #window = 1;
  /** C-STOREs sent and not yet answered, and the callers waiting for one of them to be. */
  #outstanding = 0;
  #slots: (() => void)[] = [];
  /** The (SOP class, stored syntax) pairs proposed for storage, accepted or not. */
  #offered = new Set<string>();
  readonly options: ScuOptions;

  constructor(options: ScuOptions, private readonly storeHandler?: StoreHandler) {
    this.options = options;
  }

  /** Connects and negotiates; rejects with the reason on refusal, timeout or no accepted context. */
  open(wanted: ContextsWanted): Promise<void> {
    this.#offered = new Set((wanted.storage ?? []).map((s) => `${s.sopClassUid}|${s.transferSyntax}`));
    const { node, callingAet } = this.options;
    const asyncOps = this.options.asyncOps ?? 1;
    const association = proposal(
      callingAet,
      node.aet,
      this.options.maxPduLength,
      wanted,
      asyncOps,
      // Only a C-GET brings operations back on the association to perform.
      wanted.get ? this.options.performOps ?? 1 : 1,
    );
    if (association.getPresentationContexts().length > MAX_CONTEXTS) {
      // Callers split what they send with storageGroups(): this is a caller's mistake.
      return Promise.reject(new AssociationError("more than 128 presentation contexts needed"));
    }

    const socket = node.tls
      ? connectTls(node.host, node.port, node.tls)
      : DenoSocket.connect(node.host, node.port);
    const network = new ScuNetwork(socket, this.options, this.storeHandler, {
      callingAet: node.aet,
      calledAet: callingAet,
    });
    network.commitmentReports = this.options.reports;
    this.#network = network;
    socket.on("error", () => {/* surfaced through close */});
    socket.on("close", () => {
      this.#closed = true;
    });
    return new Promise<void>((resolve, reject) => {
      const noAnswer = () =>
        new AssociationError(`no answer from ${node.aet}@${node.host}:${node.port} in time`);
      const timer = setTimeout(() => {
        fail(noAnswer());
        socket.destroy();
      }, this.options.connectTimeoutMs ?? this.options.artimTimeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      socket.once("close", () =>
        fail(
          new AssociationError(
            network.protocolError
              // What the peer sent that could not be taken (PS3.8 9.2.3: aborted), naming the peer.
              ? `${node.aet} at ${node.host}:${node.port} answered with a bad PDU: ${network.protocolError} (association aborted)`
              : network.cutShort
              // A PDU whose length announced more than the peer sent before it closed.
              ? `${node.aet} at ${node.host}:${node.port} closed the connection inside its answer: ${network.cutShort} bytes of a PDU whose length says more`
              : `connection to ${node.aet} closed during negotiation`,
          ),
        ));
      network.on("networkError", (err: Error) => {
        // The library's words begin with its socket's address, empty before a connection
        // (" -> Connection error: Connection refused"): the node's name and address say it instead.
        const reason = err.message.replace(/^[^>]*->\s*/, "");
        // The library's own timer for the same wait ("Exceeded association timeout (2000), closing
        // connection") may fire before ours on a busy machine: the same failure, said the same way.
        fail(
          /Exceeded association timeout/.test(reason)
            ? noAnswer()
            : new AssociationError(`${node.aet} at ${node.host}:${node.port}: ${reason}`),
        );
        socket.destroy();
      });
      network.on("connect", () => {
        try {
          network.sendAssociationRequest(association);
          // The A-ASSOCIATE-AC is read into the same object: a window it does not carry is no window.
          association.setNegotiateAsyncOps(false);
          association.setMaxAsyncOpsInvoked(1);
          association.setMaxAsyncOpsPerformed(1);
        } catch (err) {
          fail(err as Error);
        }
      });
      network.on("associationRejected", (r: any) => {
        fail(
          new AssociationError(
            `${node.aet} rejected the association (result ${r.result}, source ${r.source}, reason ${r.reason})`,
          ),
        );
        socket.end();
      });
      network.on("associationAccepted", (accepted: any) => {
        clearTimeout(timer);
        const peerMax = Number(accepted.getMaxPduLength());
        if (!peerMaxPduUsable(peerMax)) {
          // Sending within it is impossible (at 6 bytes and below a data set never ends): give up at once.
          reject(
            new AssociationError(
              `${node.aet} announced a maximum PDU length of ${peerMax}, below the ${MIN_PEER_MAX_PDU} the agent needs`,
            ),
          );
          this.abort();
          return;
        }
        const any = accepted.getPresentationContexts().some((pc: any) =>
          accepted.getPresentationContext(pc.id).getResult() === constants.PresentationContextResult.Accept
        );
        if (!any) {
          reject(new NoContextAcceptedError(`${node.aet} accepted no presentation context`));
          this.release();
          return;
        }
        // PS3.7 D.3.3.3.1: the acceptor's maximum invoked is at most ours; 0 there means no limit.
        const granted = accepted.getNegotiateAsyncOps() ? Number(accepted.getMaxAsyncOpsInvoked()) : 1;
        this.#window = granted === 0 ? asyncOps : Math.max(1, Math.min(granted, asyncOps));
        // Each outstanding C-STORE watches the connection's close (_store_request.ts).
        socket.setMaxListeners(Math.max(10, this.#window + 8));
        resolve();
      });
    });
  }

  /** C-STOREs that may be outstanding at once on this association, as negotiated (1 without a window). */
  get window(): number {
    return this.#window;
  }

  get #live(): ScuNetwork {
    if (!this.#network || this.#closed) throw new AssociationError("association is not open");
    return this.#network;
  }

  /** True while the association is negotiated and its connection has not closed. */
  get isOpen(): boolean {
    return Boolean(this.#network?.association) && !this.#closed;
  }

  /** True when a context for this SOP class and transfer syntax was accepted. */
  accepts(sopClassUid: string, transferSyntax?: string): boolean {
    const association = this.#network?.association;
    if (!association) return false;
    return association.getPresentationContexts().some((pc: any) => {
      const c = association.getPresentationContext(pc.id);
      return c.getAbstractSyntaxUid() === sopClassUid &&
        c.getResult() === constants.PresentationContextResult.Accept &&
        (!transferSyntax || c.getAcceptedTransferSyntaxUid() === transferSyntax);
    });
  }

  /**
   * The syntax an object stored in `transferSyntax` goes in on this association: the stored one when
   * accepted, else the one it can be re-encoded into (_reencode.ts); undefined when neither was accepted,
   * or the stored syntax was not proposed (a new association may get it accepted).
   */
  sendSyntax(sopClassUid: string, transferSyntax: string): string | undefined {
    if (this.accepts(sopClassUid, transferSyntax)) return transferSyntax;
    if (!this.#offered.has(`${sopClassUid}|${transferSyntax}`)) return undefined;
    return reencodeTargets(transferSyntax).find((ts) => this.accepts(sopClassUid, ts));
  }

  /**
   * Sends a Storage Commitment report (N-EVENT-REPORT) on an association opened with `commitment`; resolves
   * with the status of the response. Rejects when the node did not accept the context with us as its SCP.
   */
  eventReport(report: CommitmentReport): Promise<number> {
    const association = this.#live.association;
    const accepted = association.getPresentationContexts().some((pc: any) => {
      const c = association.getPresentationContext(pc.id);
      // A node that answers the role selection item with SCP role 0 takes no report from us (PS3.7 D.3.3.4);
      // one that answers with no item at all leaves the default roles, which PS3.4 J.3.3 lets the report use.
      return c.getAbstractSyntaxUid() === SopClass.StorageCommitmentPushModel &&
        c.getResult() === constants.PresentationContextResult.Accept && c.getProviderRole() !== false;
    });
    if (!accepted) {
      return Promise.reject(
        new NoContextAcceptedError(
          `${this.options.node.aet} did not accept Storage Commitment with us as SCP`,
        ),
      );
    }
    const network = this.#live;
    return sendEventReport(
      {
        socket: network.socket,
        sendRequests: (rq) => network.sendRequests(rq),
        closedBefore: (what) => network.closedBefore(what),
      },
      report,
      this.options.responseTimeoutMs ?? 120_000,
    );
  }

  /**
   * Asks the node for Storage Commitment of `references` (N-ACTION, PS3.4 J.3.2) on an association opened
   * with `commitmentRequest` (or any that has the context accepted); resolves with the N-ACTION-RSP status.
   * The report comes later, through the `reports` handler (here or on an association the node opens to us).
   */
  requestCommitment(transactionUid: string, references: CommitmentReference[]): Promise<number> {
    if (!this.accepts(SopClass.StorageCommitmentPushModel)) {
      return Promise.reject(
        new NoContextAcceptedError(`${this.options.node.aet} did not accept Storage Commitment`),
      );
    }
    return this.#single(commitmentActionRequest(transactionUid, references));
  }

  echo(): Promise<number> {
    const request = new requests.CEchoRequest();
    return this.#single(request);
  }

  /**
   * Sends one stored object as it is, or re-encoded into the other little endian uncompressed syntax when
   * only that was accepted for its SOP class; resolves with the peer's status (0x0122 locally when neither
   * was accepted, or the object cannot be re-encoded).
   */
  async store(
    item: OutgoingObject,
    extra?: { moveOriginatorAet?: string; moveOriginatorMessageId?: number },
  ): Promise<number> {
    const syntax = this.sendSyntax(item.sopClassUid, item.transferSyntax);
    if (!syntax) return Status.SopClassNotSupported;
    if (syntax !== item.transferSyntax) {
      try {
        item = await reencoded(item, syntax);
      } catch (err) {
        if (err instanceof ReencodeError) return Status.SopClassNotSupported;
        throw err;
      }
    }
    return await this.#storeAsIs(item, extra);
  }

  #storeAsIs(
    item: OutgoingObject,
    extra?: { moveOriginatorAet?: string; moveOriginatorMessageId?: number },
  ): Promise<number> {
    if (this.#outstanding >= this.#window) {
      // More than the window allows: this one waits until an earlier one is answered.
      return new Promise<void>((r) => this.#slots.push(r)).then(() => this.#storeAsIs(item, extra));
    }
    let network: ScuNetwork;
    try {
      network = this.#live;
    } catch (err) {
      this.#slots.shift()?.(); // the next waiter finds out too, rather than wait for a slot that never frees
      throw err;
    }
    this.#outstanding++;
    return sendStoreAndWait(network, item, extra, this.options.responseTimeoutMs ?? 120_000).finally(() => {
      this.#outstanding--;
      this.#slots.shift()?.();
    });
  }

  /** Streams C-FIND matches; cancel by breaking out of the loop or with the signal. */
  async *find(model: QueryModel, identifier: Identifier, signal?: AbortSignal): AsyncGenerator<Identifier> {
    const request = new requests.CFindRequest();
    request.setAffectedSopClassUid(FIND[model]);
    request.setDataset(new Dataset(identifier));
    const queue: Identifier[] = [];
    let finished: { status: number } | undefined;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const poke = () => {
      wake?.();
      wake = undefined;
    };
    const done = this.#run(request, (rsp: any) => {
      if (rsp.getStatus() === Status.Pending || rsp.getStatus() === Status.PendingWarning) {
        const ds = rsp.getDataset();
        if (ds) {
          const { _vrMap: _, ...elements } = ds.getElements();
          queue.push(elements);
        }
        poke();
      }
    }, signal);
    done.then((rsp) => {
      finished = { status: rsp.getStatus() };
      poke();
    }, (err) => {
      failure = err;
      poke();
    });
    try {
      for (;;) {
        while (queue.length) yield queue.shift()!;
        if (failure) throw failure;
        if (finished) {
          if (finished.status !== Status.Success && finished.status !== Status.Cancel) {
            throw new AssociationError(`C-FIND ended with status 0x${finished.status.toString(16)}`);
          }
          return;
        }
        await new Promise<void>((r) => (wake = r));
      }
    } finally {
      if (!finished && !failure) this.#network?.sendCancel(request);
    }
  }

  /** Asks the node to C-MOVE to `destinationAet`; resolves with the final counts. */
  async move(
    model: QueryModel,
    identifier: Identifier,
    destinationAet: string,
    signal?: AbortSignal,
  ): Promise<RetrieveResult> {
    const request = new requests.CMoveRequest();
    request.setAffectedSopClassUid(MOVE[model]);
    request.getCommandDataset().setElement("MoveDestination", destinationAet);
    request.setDataset(new Dataset(identifier));
    const rsp = await this.#run(request, () => {}, signal);
    return this.#counts(rsp);
  }

  /** C-GET: sub-operation objects arrive through the store handler given to the constructor. */
  async get(model: QueryModel, identifier: Identifier, signal?: AbortSignal): Promise<RetrieveResult> {
    if (!this.storeHandler) throw new AssociationError("C-GET needs a store handler");
    const request = new requests.CGetRequest();
    request.setAffectedSopClassUid(GET[model]);
    request.setDataset(new Dataset(identifier));
    const rsp = await this.#run(request, () => {}, signal);
    return this.#counts(rsp);
  }

  #counts(rsp: any): RetrieveResult {
    const cmd = rsp.getCommandDataset();
    const n = (k: string) => Number(cmd.getElement(k) ?? 0) || 0;
    return {
      status: rsp.getStatus(),
      completed: n("NumberOfCompletedSuboperations"),
      failed: n("NumberOfFailedSuboperations"),
      warning: n("NumberOfWarningSuboperations"),
      received: this.#network?.received ?? 0,
      comment: cmd.getElement("ErrorComment") || undefined,
    };
  }

  async #single(request: any): Promise<number> {
    const rsp = await this.#run(request, () => {});
    return rsp.getStatus();
  }

  /** Sends a request and resolves with its final response; every pending response resets the timer. */
  #run(request: any, onResponse: (rsp: any) => void, signal?: AbortSignal): Promise<any> {
    const network = this.#live;
    const timeoutMs = this.options.responseTimeoutMs ?? 120_000;
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          cleanup();
          reject(new AssociationError(`no response within ${timeoutMs} ms`));
          this.abort();
        }, timeoutMs);
      };
      const onClose = () => {
        cleanup();
        reject(new AssociationError(network.closedBefore("the final response")));
      };
      const onAbort = () => network.sendCancel(request);
      const cleanup = () => {
        clearTimeout(timer);
        network.socket.off("close", onClose);
        signal?.removeEventListener("abort", onAbort);
      };
      network.socket.once("close", onClose);
      signal?.addEventListener("abort", onAbort, { once: true });
      request.on("response", (rsp: any) => {
        try {
          const status = rsp.getStatus();
          if (status === Status.Pending || status === Status.PendingWarning) {
            arm();
            onResponse(rsp);
            return;
          }
          cleanup();
          resolve(rsp);
        } catch (err) {
          cleanup();
          reject(err);
        }
      });
      arm();
      network.sendRequests(request);
    });
  }

  /** Releases the association (A-RELEASE), or closes it if the peer does not answer. */
  release(): Promise<void> {
    const network = this.#network;
    if (!network || this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        network.socket.destroy();
      }, 5000);
      network.socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      network.on("associationReleaseResponse", () => network.socket.end());
      try {
        network.sendAssociationReleaseRequest();
      } catch {
        network.socket.destroy();
      }
    });
  }

  /** Aborts the association at once. */
  abort(): void {
    const network = this.#network;
    if (!network || this.#closed) return;
    try {
      network.sendAbort(constants.AbortSource.ServiceUser, constants.AbortReason.NotSpecified);
    } catch { /* gone */ }
    network.closeAfterFlush(); // once the A-ABORT is out, or without it from a peer that reads nothing
  }
}

/**
 * Ingest: the step that takes a received object (synced in a staging file by a C-STORE, a C-GET we asked
 * for, or the tunnel) and commits it. It checks that the object is DICOM and is what its sender announced,
 * places it in the archive, and in one index transaction records the instance, queues it for the routes
 * it matches (a route that de-identifies gets one row for its de-identification stage) and records a
 * conflict when the UID was known with other bytes. Only then is the sender answered Success.
 *
 * This file is the handler the wire layer and the tunnel call: staging files, the commit of each object
 * (through the intake and its group commit, or at once) and the barrier erasure takes. An object's path
 * from there reads in this order: checks.ts (what refuses it), place.ts (archived, a duplicate, or a
 * conflict), record.ts (its index transaction); then intake.ts, group_commit.ts and shared_commit.ts (how
 * commits are grouped), recover.ts (what a restart finds), resolve.ts (a conflict an operator resolves) and
 * backfill.ts (hashes computed later).
 */
import type { Logger } from "@conduit/shared/log";
import type { FileMetaFields } from "@conduit/shared/dicom";
import type { StoreContext, StoreHandler, StoreOutcome } from "../dimse/handlers.ts";
import { DimseStatusError, Status } from "../dimse/handlers.ts";
import { type ReceivedObject, StoreFileStream } from "../part10/file_stream.ts";
import type { Archive } from "../archive/archive.ts";
import type { Database } from "../index/db.ts";
import { archivedDataset, existingInstance, type IndexedDataset } from "../index/instances.ts";
import type { DuplicatePolicy } from "../index/conflicts.ts";
import { type CompiledRoute, sendsOriginalsToSites } from "../routing/rules.ts";
import type { Queue } from "../queue/queue.ts";
import type { Intake } from "./intake.ts";
import { GroupCommit, type GroupCommitOptions } from "./group_commit.ts";
import { SharedCommit } from "./shared_commit.ts";
import { type Checked, checkReceived, type EarlyCheck, earlyCheck } from "./checks.ts";
import { keepStored, prepare, type Prepared, routeTargets, sameAsStored } from "./place.ts";
import { write } from "./record.ts";

/** Called after an object is committed (metrics). */
export type StoredListener = (
  event: {
    sopInstanceUid: string;
    callingAet: string;
    bytes: number;
    /** The UID was known already. */
    duplicate: boolean;
    /** Known, with other bytes. */
    conflict?: boolean;
    /** The received object is now the archived one (a new object, or a keepLast replacement). */
    stored?: boolean;
  },
) => void;

/** Where new objects go next: the routes, and the queue their rows join in the index transaction. */
export interface Routing {
  routes: CompiledRoute[];
  queue: Queue;
  /** Called after commit with the destinations that got new rows. */
  queued(destinations: string[]): void;
}

/** A queue row an object gets besides what the routes give it (an object the hub sends for a node). */
export interface ExtraTarget {
  route: string;
  destination: string;
}

export interface IngestOptions {
  archive: Archive;
  db: Database;
  log: Logger;
  onStored?: StoredListener;
  /** Absent: objects are archived and indexed, never queued. */
  routing?: Routing;
  /** archive.duplicates (default keepFirst). */
  duplicates?: DuplicatePolicy;
  /** Incoming objects are refused (0xA700) while free space is below this. */
  minFreeBytes?: number;
  /**
   * The intake of C-STOREs: with it, a C-STORE is answered once its file is durable in the intake and
   * its index rows follow in a group commit (group_commit.ts); without it, each commits before Success.
   */
  intake?: Intake;
  /** Options of the group commit (with `intake`). */
  groupCommit?: GroupCommitOptions;
}

export class Ingest implements StoreHandler<StoreFileStream> {
  readonly #o: IngestOptions;
  /** The group commit of C-STOREs answered from the intake (when there is an intake). */
  readonly group: GroupCommit | undefined;
  /** C-STOREs being checked while their files sync (open's onWritten), until commit takes the result. */
  readonly #checking = new WeakMap<StoreFileStream, Promise<Checked>>();
  /** Objects committed before their answer (the tunnel's) share index transactions (shared_commit.ts). */
  readonly #shared = new SharedCommit((items) => this.write(items, true, true), () => this.#o.db.syncLog());

  /** Whether a C-STORE's bytes are hashed as they arrive (see {@link open}). */
  #hashOnReceipt: boolean;

  constructor(options: IngestOptions) {
    this.#o = options.routing ? { ...options, routing: { ...options.routing } } : options;
    this.#hashOnReceipt = sendsOriginalsToSites(options.routing?.routes ?? []);
    if (options.intake) this.group = new GroupCommit(this, options.log, options.groupCommit);
  }

  /**
   * The routes of objects whose rows are written from now on (a configuration reloaded on SIGHUP): objects
   * already routed keep their rows; one being received when they change takes the routes of its commit.
   */
  replaceRoutes(routes: CompiledRoute[]): void {
    if (!this.#o.routing) return;
    this.#o.routing.routes = routes;
    this.#hashOnReceipt = sendsOriginalsToSites(routes);
  }

  /**
   * A staging file for an object a C-STORE brings (its File Meta group names the calling AE title). Its
   * bytes are not hashed on the way to Success: the row is written without its SHA-256 and
   * backfill.ts adds it once the agent is idle (or a send or a duplicate needs it first). Unless a route
   * sends originals to another site: such an object's first send announces its hash, which would mean
   * reading the file once more to hash it, so it is hashed as it arrives instead (the same hash, one read
   * of the object less; issue 16).
   */
  open(ctx: StoreContext): StoreFileStream {
    const meta = {
      sopClassUid: ctx.sopClassUid,
      sopInstanceUid: ctx.sopInstanceUid,
      transferSyntax: ctx.transferSyntax,
      sourceAet: ctx.association.callingAet,
    };
    const intake = this.#o.intake;
    this.#checkFreeSpace();
    if (!intake) {
      const { archive } = this.#o;
      return new StoreFileStream(archive.staging(), meta, archive.sync, undefined, this.#hashOnReceipt);
    }
    if (this.group?.blocked) {
      throw new DimseStatusError(Status.OutOfResources, "objects cannot be committed now (index or disk)");
    }
    const staged = intake.take();
    const sink = new StoreFileStream(
      staged.path,
      meta,
      this.#o.archive.sync,
      staged.file,
      this.#hashOnReceipt,
    );
    // A resend of an archived object needs no sync: its bytes are durable in the archive already.
    // Without syncs there is nothing to spare, and the group commit finds the duplicate as it would.
    if (this.#o.archive.sync) sink.beforeSync = (written) => this.#resend(written);
    // The header checked while the rest of the object arrives (what the last byte changes is checked
    // then): without syncs, nothing else would hide its cost from the sender's wait for Success.
    let early: EarlyCheck | undefined;
    sink.onHead = (head) => early = earlyCheck(head, ctx);
    // Checked while its file syncs, not after: the sender waits for the sync either way.
    sink.onWritten = (written) => {
      const checked = this.check(written, ctx, early);
      checked.catch(() => {}); // commit() reports it; a sink that fails to sync is never committed
      this.#checking.set(sink, checked);
    };
    return sink;
  }

  /**
   * False (at once) unless the index holds an archived object under the announced SOP Instance UID,
   * class and transfer syntax with a data set of the same size; then whether the bytes written are its
   * bytes (by their hashes when both are known, else read back and compared; before any sync:
   * `StoreFileStream.beforeSync`).
   */
  #resend(written: ReceivedObject): boolean | Promise<boolean> {
    const { meta } = written;
    let known: IndexedDataset | undefined;
    try {
      known = archivedDataset(this.#o.db, meta.sopInstanceUid, meta.sopClassUid, meta.transferSyntax);
    } catch {
      return false;
    }
    if (!known || known.datasetSize !== written.datasetSize) return false;
    // Both hashed (this one as it arrived: Ingest.open): the hashes tell, as they do in the group commit.
    if (known.sha256 && written.datasetSha256) return known.sha256 === written.datasetSha256;
    return sameAsStored(this.#o, known, written);
  }

  #checkFreeSpace(): void {
    const { archive, minFreeBytes = 0 } = this.#o;
    if (minFreeBytes > 0 && archive.freeBytes() < minFreeBytes) {
      throw new DimseStatusError(Status.OutOfResources, "free disk space below the configured minimum");
    }
  }

  /**
   * A staging file for an object the tunnel brings, hashed as it arrives (its sender's SHA-256 is
   * checked) and synced when it finishes (dimse.sync), created off the event loop's thread (a create can
   * wait for others' syncs); throws DimseStatusError when free space is below the configured minimum.
   */
  async openObjectAsync(meta: FileMetaFields): Promise<StoreFileStream> {
    this.#checkFreeSpace();
    return await StoreFileStream.create(this.#o.archive.staging(), meta, this.#o.archive.sync);
  }

  /**
   * A C-STORE's object has been received (and synced). With an intake: checked, made durable in the
   * intake and answered Success, its rows committed in a group after; without: committed, then answered.
   */
  async commit(sink: StoreFileStream, ctx: StoreContext): Promise<StoreOutcome> {
    const commit = this.#commit(sink, ctx);
    this.#committing.add(commit);
    try {
      return await commit;
    } finally {
      this.#committing.delete(commit);
    }
  }

  /** C-STOREs between their last byte and their answer (being made durable, then queued for the group). */
  readonly #committing = new Set<Promise<StoreOutcome>>();

  async #commit(sink: StoreFileStream, ctx: StoreContext): Promise<StoreOutcome> {
    const intake = this.#o.intake;
    if (!intake || !this.group) return this.commitReceived(sink.received!, ctx, []);
    const early = this.#checking.get(sink);
    this.#checking.delete(sink);
    const checked = await (early ?? this.check(sink.received!, ctx));
    if (sink.sameAsStored) {
      // The same object again (a resend, a retried C-MOVE): nothing to make durable, nothing to commit.
      const received = sink.received!;
      await keepStored(this.#o, received, {
        sopInstanceUid: checked.attrs.sopInstanceUid,
        callingAet: ctx.association.callingAet,
        bytes: received.fileSize,
      });
      return { status: Status.Success };
    }
    const tempPath = await intake.accept(sink.received!.tempPath, ctx.association);
    this.group.add({ ...checked, received: { ...checked.received, tempPath } });
    return { status: Status.Success };
  }

  /**
   * Resolves once every C-STORE answered so far has been committed to the index (or the agent stops, or
   * its commit has been failing for a while: group_commit.ts).
   */
  settled(): Promise<void> {
    return this.group?.settled() ?? Promise.resolve();
  }

  /**
   * For a stop, once nothing can start a C-STORE any more (the SCP and the tunnel closed): resolves when
   * every C-STORE already received has been answered and committed. A closed socket does not stop an
   * object being made durable in the intake, and one that got there after `settled()` was asked missed
   * the group commit: the stop then left no clean-stop mark, and the next start reconciled (a CI run on a
   * busy machine saw it).
   */
  async drained(): Promise<void> {
    await Promise.allSettled([...this.#committing]);
    await this.settled();
  }

  /**
   * Commits like a C-STORE, and queues the object for `extra` destinations besides those the routes
   * pick (an object the hub sends for a named node). A known object kept as it is (the same bytes, or a
   * conflict kept aside) is not routed again, but an `extra` destination it has no live row for is
   * queued: resending to the same node is idempotent, sending to another node of the site delivers.
   */
  async commitReceived(
    received: ReceivedObject,
    ctx: StoreContext,
    extra: ExtraTarget[],
  ): Promise<StoreOutcome> {
    while (this.#barrier) await this.#barrier;
    this.#direct++;
    try {
      const checked = await this.check(received, ctx);
      const prepared = await this.prepare(checked, extra);
      if (prepared.kind === "index" && !(await this.#shared.commit(prepared))) {
        throw new DimseStatusError(Status.OutOfResources, "index commit failed");
      }
      return prepared.kind === "done" && prepared.kept ? { status: Status.Success, keptFirst: true } : {
        status: Status.Success,
      };
    } finally {
      if (--this.#direct === 0) { for (const done of this.#directDone.splice(0)) done(); }
    }
  }

  /** Commits of commitReceived under way, and who waits for them to end (`exclusive`). */
  #direct = 0;
  #directDone: (() => void)[] = [];
  /** Set while `exclusive` runs: commitReceived waits for it before it starts. */
  #barrier: Promise<void> | undefined;

  /**
   * Runs `fn` while nothing places or indexes an object: the group commit paused after its current group,
   * commits of received objects (tunnel, retrieve) finished and new ones held until `fn` ends. Erasure
   * (erase/erase.ts) takes objects out of the archive meanwhile, so that a copy of one received at the same
   * time is not placed at a key it then removes. C-STOREs are still answered (into the intake).
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#barrier) await this.#barrier;
    let open!: () => void;
    this.#barrier = new Promise((resolve) => (open = resolve));
    let resume: (() => void) | undefined;
    try {
      resume = await this.group?.pause();
      while (this.#direct > 0) await new Promise<void>((resolve) => this.#directDone.push(resolve));
      return await fn();
    } finally {
      resume?.();
      this.#barrier = undefined;
      open();
    }
  }

  /** What can refuse an object before it is answered ({@link checkReceived}). */
  check(received: ReceivedObject, ctx: StoreContext, early?: EarlyCheck): Promise<Checked> {
    return checkReceived(this.#o.log, received, ctx, early);
  }

  /**
   * Places a checked object (or drops it as a duplicate of the same bytes, or keeps it aside as a
   * conflict) and says what the index must record ({@link prepare}); `write` records it.
   */
  prepare(c: Checked, extra: ExtraTarget[]): Promise<Prepared> {
    return prepare(this.#o, c, extra);
  }

  /**
   * Indexes and routes an object already at its archive key (found there without its row after a
   * crash: placed by a group commit the kill interrupted). False when a row for the instance exists
   * already (the file is then not this instance's archived copy).
   */
  indexPlaced(c: Checked): boolean {
    if (existingInstance(this.#o.db, c.attrs.sopInstanceUid)) return false;
    if (this.write([{ kind: "index", checked: c, targets: routeTargets(this.#o, c) }], false).length) {
      throw new Error("index commit failed");
    }
    return true;
  }

  /**
   * Makes an object already at its archive key the archived one of its UID, in place of what the index
   * held, and routes it again under the current routes: the index update of keepLast, for a conflict's
   * kept copy an operator chose (resolve.ts). `also` runs in the same transaction. Throws when it did not
   * commit.
   */
  replacePlaced(c: Checked, also: () => void): void {
    if (
      this.write([{ kind: "index", checked: c, targets: routeTargets(this.#o, c), again: true, also }], false)
        .length
    ) {
      throw new Error("index commit failed");
    }
  }

  /** Records placed objects in one index transaction ({@link write}); returns those whose rows did not commit. */
  write(items: Extract<Prepared, { kind: "index" }>[], removeFailed = true, unsynced = false): Checked[] {
    return write(this.#o, items, removeFailed, unsynced);
  }
}

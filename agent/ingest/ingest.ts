/**
 * Ingest: the step that takes a received object (synced in a staging file by a C-STORE, a C-GET we asked
 * for, or the tunnel) and commits it. It checks that the object is DICOM and is what its sender announced,
 * places it in the archive, and in one index transaction records the instance, queues it for the routes
 * it matches (a route that de-identifies gets one row for its de-identification stage) and records a
 * conflict when the UID was known with other bytes. Only then is the sender answered Success.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import {
  DicomParseError,
  type FileMetaFields,
  type InstanceAttributes,
  instanceAttributes,
  TruncatedError,
} from "@conduit/shared/dicom";
import type { StoreContext, StoreHandler, StoreOutcome } from "../dimse/handlers.ts";
import { DimseStatusError, Status } from "../dimse/handlers.ts";
import { type ReceivedObject, StoreFileStream } from "../part10/file_stream.ts";
import { type FileHeader, parseHeaderBytes, readFileHeader } from "../part10/header.ts";
import { type Archive, asideKey, datasetHash, objectKey, withObject } from "../archive/archive.ts";
import type { Database } from "../index/db.ts";
import {
  archivedDataset,
  existingInstance,
  type IndexedDataset,
  indexInstances,
  NOT_HASHED,
} from "../index/instances.ts";
import { sha256Of } from "../part10/digest.ts";
import { sameRange } from "../part10/compare.ts";
import { openFile, withSource } from "../part10/source.ts";
import {
  type Conflict,
  type DuplicatePolicy,
  recordConflict,
  recordConflictInTransaction,
} from "../index/conflicts.ts";
import { type CompiledRoute, queueTargets, route, sendsOriginalsToSites } from "../routing/rules.ts";
import { routingFacts } from "../routing/facts.ts";
import type { Queue } from "../queue/queue.ts";
import type { Intake } from "./intake.ts";
import { GroupCommit, type GroupCommitOptions } from "./group_commit.ts";
import { SharedCommit } from "./shared_commit.ts";

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

/** An object whose checks passed: what the index will record about it, and where it goes. */
export interface Checked {
  received: ReceivedObject;
  ctx: StoreContext;
  header: FileHeader;
  attrs: InstanceAttributes;
  key: string;
  log: Logger;
}

/** What `prepare` did: nothing more to record, or placed with rows to write. */
export type Prepared =
  | { kind: "done" }
  | {
    kind: "index";
    checked: Checked;
    targets: { route: string; destination: string }[];
    conflict?: Conflict;
    /** Other bytes under a known UID without a conflict to record (a resolution): routed again too. */
    again?: boolean;
    /** Runs in the object's savepoint, after its rows (a resolution marks its conflict resolved). */
    also?: () => void;
  };

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
    return this.#sameAsStored(known, written);
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
      await this.#keepStored(received, {
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
      return { status: Status.Success };
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

  /**
   * What can refuse an object before it is answered: a data set that is malformed, does not parse, or
   * does not match its command, or UIDs that cannot make an archive key. Reads only the bytes kept while
   * receiving (or the head of the file), never the index.
   */
  async check(received: ReceivedObject, ctx: StoreContext, early?: EarlyCheck): Promise<Checked> {
    const log = this.#o.log.child({
      sop: () => hashUid(ctx.sopInstanceUid),
      callingAet: ctx.association.callingAet,
    });
    // The header as parsed before the last byte (`earlyCheck`) holds when the whole object turned out
    // well formed and longer than the bytes parsed; anything else is parsed and reported now.
    if (early && !received.malformed && !received.headIsWhole) {
      return { received, ctx, header: { ...early.header, fileSize: received.fileSize }, ...early.found, log };
    }
    const header = await checkedHeader(received, log);
    const found = headerChecks(header, ctx);
    if (found instanceof DimseStatusError) {
      if (found.message === COMMAND_MISMATCH) log.warn("data set does not match its C-STORE command");
      throw found;
    }
    return { received, ctx, header, ...found, log };
  }

  /**
   * Places a checked object (or drops it as a duplicate of the same bytes, or keeps it aside as a
   * conflict) and says what the index must record; `write` records it.
   */
  async prepare(c: Checked, extra: ExtraTarget[]): Promise<Prepared> {
    const { archive, db } = this.#o;
    const { received, ctx, attrs, key, log } = c;
    const callingAet = ctx.association.callingAet;
    const sop = attrs.sopInstanceUid;
    const event = { sopInstanceUid: sop, callingAet, bytes: received.fileSize };

    const existing = existingInstance(db, sop);
    // Retention removed it here, and the hub sends it for a node: a row for it would wait forever for a
    // file that is gone. It is archived again, for those rows only (the routes had it).
    const removedButAsked = existing !== undefined && !existing.path && extra.length > 0;
    let conflict: Conflict | undefined;
    if (existing) {
      // The UID is known: the same bytes are a duplicate, compared directly (#sameAsStored) or by the
      // data sets' hashes (either may not have been computed yet). A stored object that cannot be read
      // (gone, short) counts as other bytes: a conflict, recorded.
      const hashes = await this.#sameAsStored(existing, received)
        ? undefined
        : await this.#hashesOf(existing, received);
      if (!hashes || hashes.stored === hashes.received) {
        if (removedButAsked) {
          await archive.place(received.tempPath, key);
          return { kind: "index", checked: c, targets: extra };
        }
        // Idempotent: the same object again (a resend, a retried C-MOVE) is stored once.
        await this.#keepStored(received, event);
        this.#queueExtra(sop, extra);
        return { kind: "done" };
      }
      const policy = this.#o.duplicates ?? "keepFirst";
      log.warn("instance received again with different bytes", { policy });
      conflict = { storedSha256: hashes.stored, receivedSha256: hashes.received, policy };
      // Other bytes under a removed object's UID, asked for a node: the first is gone, nothing to keep
      // instead; the conflict is recorded and these bytes are archived for those rows, as for the same bytes.
      if (policy !== "keepLast" && !removedButAsked) {
        if (policy === "keepFirst") await archive.discardStaged(received.tempPath);
        else {
          conflict.keptPath = asideKey(key, hashes.received);
          await archive.place(received.tempPath, conflict.keptPath);
        }
        recordConflict(db, sop, conflict, callingAet);
        this.#queueExtra(sop, extra);
        this.#o.onStored?.({ ...event, duplicate: true, conflict: true });
        return { kind: "done" };
      }
      // keepLast: the new object replaces the stored one below, and is routed again.
    }

    const targets = removedButAsked ? extra : [...this.#routeTargets(c), ...extra];
    await archive.place(received.tempPath, key);
    return { kind: "index", checked: c, targets, conflict };
  }

  /**
   * The SHA-256 of the archived data set (its index's, else computed; NOT_HASHED when it cannot be read)
   * and of the received one (computed once, kept on `received`).
   */
  async #hashesOf(
    existing: IndexedDataset,
    received: ReceivedObject,
  ): Promise<{ stored: string; received: string }> {
    const stored = existing.sha256 ||
      (existing.path ? await datasetHash(this.#o.archive, existing).catch(() => NOT_HASHED) : NOT_HASHED);
    received.datasetSha256 ??= await withSource(
      openFile(received.tempPath),
      (source) => sha256Of(source, received.fileSize - received.datasetSize, received.datasetSize),
    );
    return { stored, received: received.datasetSha256 };
  }

  /** A duplicate: the archived object stays as it is, the received copy goes; counted as a duplicate. */
  async #keepStored(
    received: ReceivedObject,
    event: { sopInstanceUid: string; callingAet: string; bytes: number },
  ): Promise<void> {
    await this.#o.archive.discardStaged(received.tempPath);
    this.#o.onStored?.({ ...event, duplicate: true, conflict: false });
  }

  /**
   * Whether the received data set is byte for byte the archived one of the same UID, compared directly
   * (part10/compare.ts) where neither side's hash is known: a C-STORE's bytes are not hashed on the way
   * in, and hashing both costs more than reading and comparing them. False when it cannot tell (sizes
   * differ, the stored object is unreadable, a hash is known): the hashes decide then.
   */
  async #sameAsStored(existing: IndexedDataset, received: ReceivedObject): Promise<boolean> {
    if (!existing.path || existing.datasetSize !== received.datasetSize) return false;
    if (existing.sha256 && received.datasetSha256) return false;
    const { archive } = this.#o;
    try {
      return await withObject(archive, existing.path, (stored) =>
        withSource(
          openFile(received.tempPath),
          (mine) =>
            sameRange(
              stored,
              existing.datasetOffset,
              mine,
              received.fileSize - received.datasetSize,
              received.datasetSize,
            ),
        ));
    } catch {
      return false;
    }
  }

  /**
   * Indexes and routes an object already at its archive key (found there without its row after a
   * crash: placed by a group commit the kill interrupted). False when a row for the instance exists
   * already (the file is then not this instance's archived copy).
   */
  indexPlaced(c: Checked): boolean {
    if (existingInstance(this.#o.db, c.attrs.sopInstanceUid)) return false;
    if (this.write([{ kind: "index", checked: c, targets: this.#routeTargets(c) }], false).length) {
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
      this.write([{ kind: "index", checked: c, targets: this.#routeTargets(c), again: true, also }], false)
        .length
    ) {
      throw new Error("index commit failed");
    }
  }

  /** The queue rows the current routes give an object. */
  #routeTargets(c: Checked): { route: string; destination: string }[] {
    const routing = this.#o.routing;
    return routing
      ? queueTargets(route(routing.routes, routingFacts(c.header, c.attrs, c.ctx.association)))
      : [];
  }

  /**
   * Records placed objects in one index transaction (each in a savepoint of its own): instance rows,
   * queue rows and conflicts. Returns the objects whose rows did not commit; their files are taken back
   * out of the archive (unless they replaced a stored one) only when `removeFailed` (nobody was answered
   * Success for them yet). `unsynced`: the commit is not flushed to the disk (`Database.writeUnsynced`),
   * for objects already durable in the archive, whose rows a power loss may undo and the crash
   * reconcile of the next start rebuilds (recover.ts), as after a kill between placement and commit.
   */
  write(items: Extract<Prepared, { kind: "index" }>[], removeFailed = true, unsynced = false): Checked[] {
    const { db } = this.#o;
    const routing = this.#o.routing;
    const failed: { item: (typeof items)[number]; err: unknown }[] = [];
    const committed: (typeof items)[number][] = [];
    const each = () => {
      const errors = indexInstances(
        db,
        items.map(({ checked: { received, ctx, attrs, key }, targets, conflict, again, also }) => ({
          attrs,
          file: {
            path: key,
            fileSize: received.fileSize,
            datasetOffset: received.fileSize - received.datasetSize,
            datasetSize: received.datasetSize,
            sha256: received.datasetSha256 ?? NOT_HASHED,
            transferSyntaxUid: received.meta.transferSyntax,
            callingAet: ctx.association.callingAet,
          },
          alsoInTransaction: () => {
            // New bytes under a known UID (keepLast, a resolution) go again; the same object committed twice
            // does not.
            const resend = conflict !== undefined || again === true;
            routing?.queue.addInTransaction(attrs.sopInstanceUid, targets, undefined, resend);
            if (conflict) {
              recordConflictInTransaction(db, attrs.sopInstanceUid, conflict, ctx.association.callingAet);
            }
            also?.();
          },
        })),
      );
      items.forEach((item, i) => {
        if (errors[i] === undefined) committed.push(item);
        else failed.push({ item, err: errors[i] });
      });
    };
    try {
      if (unsynced) db.writeUnsynced(each);
      else each();
    } catch (err) {
      // The whole transaction failed (its commit): nothing of it holds.
      committed.length = 0;
      failed.length = 0;
      for (const item of items) failed.push({ item, err });
    }
    for (const { item, err } of failed) {
      // The message may quote the statement's values (names, IDs): log only what kind of failure it was.
      item.checked.log.error("index commit failed", {
        code: (err as { code?: string }).code ?? (err as Error).name,
      });
      // The index did not commit: take the object back out so archive and index agree (a replaced
      // object cannot be put back; the index still describes the old one, which a re-send repairs).
      if (removeFailed && !item.conflict) void this.#o.archive.remove(item.checked.key).catch(() => {});
    }
    const destinations = new Set<string>();
    for (const item of committed) {
      const { received, ctx, attrs } = item.checked;
      for (const t of item.targets) destinations.add(t.destination);
      // A resolution received nothing: the received and stored counters counted its copy when it came.
      if (item.again) continue;
      this.#o.onStored?.({
        sopInstanceUid: attrs.sopInstanceUid,
        callingAet: ctx.association.callingAet,
        bytes: received.fileSize,
        duplicate: Boolean(item.conflict),
        conflict: Boolean(item.conflict),
        stored: true,
      });
    }
    if (destinations.size) routing!.queued([...destinations]);
    return failed.map((f) => f.item.checked);
  }

  /**
   * Queues a stored object for `extra` destinations it has no row for, or whose row failed or died
   * (the queue's rule for a route sent again: done rows stay done).
   */
  #queueExtra(sopInstanceUid: string, extra: ExtraTarget[]): void {
    const routing = this.#o.routing;
    if (!routing || extra.length === 0) return;
    for (const t of extra) routing.queue.enqueueRoute([sopInstanceUid], t.route, t.destination);
    routing.queued([...new Set(extra.map((t) => t.destination))]);
  }
}

/**
 * The header of a received object, from the bytes kept while receiving (or the staging file when it runs
 * past them); a data set found broken as it arrived, or one that does not parse, is refused (0xC000)
 * before anything reaches the archive or the index.
 */
async function checkedHeader(received: ReceivedObject, log: Logger): Promise<FileHeader> {
  if (received.malformed) {
    // Checked as the bytes arrived: a data set cut short (inside Pixel Data or any element) or broken.
    log.warn("C-STORE payload does not parse to its end", { reason: received.malformed });
    throw new DimseStatusError(Status.CannotUnderstand, `data set malformed: ${received.malformed}`);
  }
  try {
    return headerOf(received) ?? await readFileHeader(received.tempPath);
  } catch (err) {
    const reason = err instanceof DicomParseError ? err.message : String(err);
    log.warn("C-STORE payload is not a readable data set", { reason });
    throw new DimseStatusError(Status.CannotUnderstand, `data set not readable: ${reason}`);
  }
}

const COMMAND_MISMATCH = "SOP Class or Instance UID differs from the command";

/** What an object's header told before its last byte arrived (`Ingest.check`). */
interface EarlyCheck {
  header: FileHeader;
  found: { attrs: InstanceAttributes; key: string };
}

/**
 * The header checks of an object whose bytes up to its pixel data have arrived, or undefined when they
 * do not pass: the check after the last byte then does them again, and reports.
 */
function earlyCheck(head: Uint8Array, ctx: StoreContext): EarlyCheck | undefined {
  try {
    const header = parseHeaderBytes(head, head.length, false);
    const found = headerChecks(header, ctx);
    return found instanceof DimseStatusError ? undefined : { header, found };
  } catch {
    return undefined;
  }
}

/**
 * The instance's attributes and archive key from its header, or why it is refused: without the File
 * Meta's UIDs, the data set's own must match the command.
 */
function headerChecks(
  header: FileHeader,
  ctx: StoreContext,
): { attrs: InstanceAttributes; key: string } | DimseStatusError {
  const attrs = instanceAttributes(header.bytes, header.dataset, undefined, header.header.transferSyntax);
  if (attrs.sopInstanceUid !== ctx.sopInstanceUid || attrs.sopClassUid !== ctx.sopClassUid) {
    return new DimseStatusError(Status.DataSetMismatch, COMMAND_MISMATCH);
  }
  if (!attrs.studyInstanceUid || !attrs.seriesInstanceUid) {
    return new DimseStatusError(Status.DataSetMismatch, "Study or Series Instance UID missing");
  }
  try {
    return { attrs, key: objectKey(attrs.studyInstanceUid, attrs.seriesInstanceUid, attrs.sopInstanceUid) };
  } catch (err) {
    return new DimseStatusError(Status.DataSetMismatch, (err as Error).message);
  }
}

/** Parses the header from the bytes kept while receiving; undefined when it runs past them. */
function headerOf(received: ReceivedObject): FileHeader | undefined {
  try {
    return parseHeaderBytes(received.head, received.fileSize, received.headIsWhole);
  } catch (err) {
    if (err instanceof TruncatedError && !received.headIsWhole) return undefined;
    throw err;
  }
}

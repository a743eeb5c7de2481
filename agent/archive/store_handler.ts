/**
 * What happens to a received object once its bytes are synced: check that it is DICOM and matches
 * its C-STORE command, put it in the archive, commit the index, and only then answer Success.
 */
import { hashUid, type Logger } from "@conduit/shared/log.ts";
import { elementText, type InstanceAttributes, instanceAttributes } from "@conduit/shared/dicom/header.ts";
import { encodingOf } from "@conduit/shared/dicom/uids.ts";
import type { FileMetaFields } from "@conduit/shared/dicom/file_meta.ts";
import { type CompiledRoute, queueTargets, route, type RoutingFacts } from "../routing/rules.ts";
import type { Queue } from "../queue/queue.ts";
import { DicomParseError } from "@conduit/shared/dicom/reader.ts";
import type { StoreContext, StoreHandler, StoreOutcome } from "../dimse/handlers.ts";
import { DimseStatusError, Status } from "../dimse/handlers.ts";
import { type ReceivedObject, StoreFileStream } from "../part10/file_stream.ts";
import type { Database } from "../index/db.ts";
import { existingInstance, indexInstance } from "../index/ingest.ts";
import { type Archive, asideKey, objectKey } from "./archive.ts";
import { type FileHeader, parseHeaderBytes, readFileHeader } from "../part10/header.ts";
import { TruncatedError } from "@conduit/shared/dicom/reader.ts";

/** Called after an object is committed (metrics, queue). */
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

/** What to do with an object received again with other bytes (archive.duplicates). */
export type DuplicatePolicy = "keepFirst" | "keepLast" | "keepBoth";

interface Conflict {
  storedSha256: string;
  receivedSha256: string;
  policy: DuplicatePolicy;
  keptPath?: string;
}

function recordConflictInTransaction(db: Database, sop: string, c: Conflict, callingAet: string): void {
  db.statement(`INSERT INTO conflicts (sop_instance_uid, stored_sha256, received_sha256, policy, kept_path,
    calling_aet, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
    .run(sop, c.storedSha256, c.receivedSha256, c.policy, c.keptPath ?? null, callingAet, Date.now());
}

function recordConflict(db: Database, sop: string, c: Conflict, callingAet: string): void {
  db.write(() => recordConflictInTransaction(db, sop, c, callingAet));
}

/** Where new objects go next: the routes, and the queue their rows join in the index transaction. */
export interface Routing {
  routes: CompiledRoute[];
  queue: Queue;
  /** Called after commit with the destinations that got new rows. */
  queued(destinations: string[]): void;
}

export class ArchiveStoreHandler implements StoreHandler<StoreFileStream> {
  constructor(
    private readonly archive: Archive,
    private readonly db: Database,
    private readonly log: Logger,
    private readonly onStored?: StoredListener,
    private readonly routing?: Routing,
    private readonly duplicates: DuplicatePolicy = "keepFirst",
    private readonly minFreeBytes = 0,
  ) {}

  /** A file for an object a C-STORE brings (its File Meta group names the calling AE title). */
  open(ctx: StoreContext): StoreFileStream {
    return this.openObject({
      sopClassUid: ctx.sopClassUid,
      sopInstanceUid: ctx.sopInstanceUid,
      transferSyntax: ctx.transferSyntax,
      sourceAet: ctx.association.callingAet,
    });
  }

  /**
   * A file for an incoming object, synced when it finishes (dimse.sync); throws DimseStatusError when free
   * space is below the configured minimum, or the file cannot be created.
   */
  openObject(meta: FileMetaFields): StoreFileStream {
    if (this.minFreeBytes > 0 && this.archive.freeBytes() < this.minFreeBytes) {
      throw new DimseStatusError(Status.OutOfResources, "free disk space below the configured minimum");
    }
    return new StoreFileStream(this.archive.staging(), meta, this.archive.sync);
  }

  commit(sink: StoreFileStream, ctx: StoreContext): Promise<StoreOutcome> {
    return this.commitWith(sink.received!, ctx, []);
  }

  /**
   * Commits like a C-STORE, and queues the object for `extra` destinations besides those the routes
   * pick (an object the hub sends for a named node). A known object kept as it is (the same bytes, or a
   * conflict kept aside) is not routed again, but an `extra` destination it has no live row for is
   * queued: resending to the same node is idempotent, sending to another node of the site delivers.
   */
  async commitWith(
    received: ReceivedObject,
    ctx: StoreContext,
    extra: { route: string; destination: string }[],
  ): Promise<StoreOutcome> {
    const log = this.log.child({ sop: hashUid(ctx.sopInstanceUid), callingAet: ctx.association.callingAet });
    if (received.malformed) {
      // Checked as the bytes arrived: a data set cut short (inside Pixel Data or any element) or
      // broken is refused before anything reaches the archive or the index.
      log.warn("C-STORE payload does not parse to its end", { reason: received.malformed });
      throw new DimseStatusError(Status.CannotUnderstand, `data set malformed: ${received.malformed}`);
    }
    let header;
    try {
      header = headerOf(received);
      header ??= await readFileHeader(received.tempPath);
    } catch (err) {
      const reason = err instanceof DicomParseError ? err.message : String(err);
      log.warn("C-STORE payload is not a readable data set", { reason });
      throw new DimseStatusError(Status.CannotUnderstand, `data set not readable: ${reason}`);
    }
    const attrs = instanceAttributes(header.bytes, header.dataset);
    if (attrs.sopInstanceUid !== ctx.sopInstanceUid || attrs.sopClassUid !== ctx.sopClassUid) {
      log.warn("data set does not match its C-STORE command");
      throw new DimseStatusError(
        Status.DataSetMismatch,
        "SOP Class or Instance UID differs from the command",
      );
    }
    if (!attrs.studyInstanceUid || !attrs.seriesInstanceUid) {
      throw new DimseStatusError(Status.DataSetMismatch, "Study or Series Instance UID missing");
    }
    let relative: string;
    try {
      relative = objectKey(
        attrs.studyInstanceUid,
        attrs.seriesInstanceUid,
        attrs.sopInstanceUid,
      );
    } catch (err) {
      throw new DimseStatusError(Status.DataSetMismatch, (err as Error).message);
    }

    const existing = existingInstance(this.db, attrs.sopInstanceUid);
    let conflict: Conflict | undefined;
    if (existing) {
      const event = {
        sopInstanceUid: attrs.sopInstanceUid,
        callingAet: ctx.association.callingAet,
        bytes: received.fileSize,
      };
      if (existing.sha256 === received.datasetSha256) {
        // Idempotent: the same object again is stored once.
        await this.archive.discardStaged(received.tempPath);
        this.#queueExtra(attrs.sopInstanceUid, extra);
        this.onStored?.({ ...event, duplicate: true, conflict: false });
        return { status: Status.Success };
      }
      const policy = this.duplicates;
      log.warn("instance received again with different bytes", { policy });
      conflict = { storedSha256: existing.sha256, receivedSha256: received.datasetSha256, policy };
      if (policy === "keepFirst") {
        await this.archive.discardStaged(received.tempPath);
        recordConflict(this.db, attrs.sopInstanceUid, conflict, ctx.association.callingAet);
        this.#queueExtra(attrs.sopInstanceUid, extra);
        this.onStored?.({ ...event, duplicate: true, conflict: true });
        return { status: Status.Success };
      }
      if (policy === "keepBoth") {
        const aside = asideKey(relative, received.datasetSha256);
        await this.archive.place(received.tempPath, aside);
        recordConflict(
          this.db,
          attrs.sopInstanceUid,
          { ...conflict, keptPath: aside },
          ctx.association.callingAet,
        );
        this.#queueExtra(attrs.sopInstanceUid, extra);
        this.onStored?.({ ...event, duplicate: true, conflict: true });
        return { status: Status.Success };
      }
      // keepLast: the new object replaces the stored one below, and is routed again.
    }

    const targets = [
      ...(this.routing ? queueTargets(route(this.routing.routes, routingFacts(header, attrs, ctx))) : []),
      ...(this.routing ? extra : []),
    ];
    await this.archive.place(received.tempPath, relative);
    try {
      indexInstance(this.db, attrs, {
        path: relative,
        fileSize: received.fileSize,
        datasetOffset: received.fileSize - received.datasetSize,
        datasetSize: received.datasetSize,
        sha256: received.datasetSha256,
        transferSyntaxUid: received.meta.transferSyntax,
        callingAet: ctx.association.callingAet,
      }, () => {
        this.routing?.queue.addInTransaction(attrs.sopInstanceUid, targets);
        if (conflict) {
          recordConflictInTransaction(this.db, attrs.sopInstanceUid, conflict, ctx.association.callingAet);
        }
      });
    } catch (err) {
      // The index did not commit: take the file back out so archive and index agree (a replaced
      // object cannot be put back; the index still describes the old one, which a re-send repairs).
      if (!conflict) await this.archive.remove(relative);
      // The message may quote the statement's values (names, IDs): log only what kind of failure it was.
      log.error("index commit failed", { code: (err as { code?: string }).code ?? (err as Error).name });
      throw new DimseStatusError(Status.OutOfResources, "index commit failed");
    }
    if (targets.length) this.routing!.queued([...new Set(targets.map((t) => t.destination))]);
    this.onStored?.({
      sopInstanceUid: attrs.sopInstanceUid,
      callingAet: ctx.association.callingAet,
      bytes: received.fileSize,
      duplicate: Boolean(conflict),
      conflict: Boolean(conflict),
      stored: true,
    });
    return { status: Status.Success };
  }

  /**
   * Queues a stored object for `extra` destinations it has no row for, or whose row failed or died
   * (the queue's rule for a route sent again: done rows stay done).
   */
  #queueExtra(sopInstanceUid: string, extra: { route: string; destination: string }[]): void {
    if (!this.routing || extra.length === 0) return;
    for (const t of extra) this.routing.queue.enqueueRoute([sopInstanceUid], t.route, t.destination);
    this.routing.queued([...new Set(extra.map((t) => t.destination))]);
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

/** What routing rules may look at for one received object. */
export function routingFacts(header: FileHeader, attrs: InstanceAttributes, ctx: StoreContext): RoutingFacts {
  const littleEndian = encodingOf(header.header.transferSyntax).littleEndian;
  return {
    callingAet: ctx.association.callingAet,
    calledAet: ctx.association.calledAet,
    modality: attrs.modality,
    sopClassUid: attrs.sopClassUid,
    value: (tag) => elementText(header.bytes, header.dataset, tag, littleEndian),
  };
}

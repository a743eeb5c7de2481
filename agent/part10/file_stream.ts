/**
 * The raw C-STORE receive path: a Writable that puts a File Meta group in front of the data set
 * bytes exactly as they arrive in P-DATA PDVs, hashing, counting and checking their structure on the
 * way (a data set that ends inside an element is found here, without reading the file again), and
 * syncs the file before it reports `finish`. Hashing is the caller's choice: the tunnel's objects are
 * checked against the SHA-256 their sender announced; a C-STORE's bytes are not hashed on the way to
 * Success (a fifth of the receive path's CPU, issue 16): the index gets their hash later
 * (ingest/backfill.ts), unless a route sends them to another site (Ingest.open). Writes are synchronous, so PDVs land in order and memory
 * stays bounded by one PDV whatever the object's size.
 */
import { Writable } from "node:stream";
import { createHash, type Hash } from "node:crypto";
import * as fs from "node:fs";
import { buildFileMeta, encodingOf, type FileMetaFields, StructureCheck } from "@conduit/shared/dicom";

/** What a finished stream knows about the object it received. */
export interface ReceivedObject {
  tempPath: string;
  /** Bytes of the data set (after the File Meta group). */
  datasetSize: number;
  /** SHA-256 (hex) of the data set bytes, when the stream was asked to hash them. */
  datasetSha256?: string;
  fileSize: number;
  meta: FileMetaFields;
  /** The first bytes of the file (File Meta group and the start of the data set), kept for parsing. */
  head: Uint8Array;
  /** True when `head` holds the whole file. */
  headIsWhole: boolean;
  /**
   * Why the data set does not parse to its end (it ends inside an element, a sequence or the pixel
   * data fragments, or its structure is broken); undefined when it does, or when it could not be
   * checked as it arrived (deflated syntaxes: see `inflateToCheck`).
   */
  malformed?: string;
  /**
   * Set for a deflated data set received here: its structure is inside the deflate stream, so ingest/checks.ts
   * inflates it from the file and checks it before it is answered. Unset on what a start reads back from the
   * intake or the archive (ingest/recover.ts), as `malformed` is: checked when it arrived, or accepted by the
   * version that received it, it is committed, not refused after its Success.
   */
  inflateToCheck?: boolean;
}

/** How much of the start of each object is kept in memory for header parsing, at most. */
export const HEAD_BYTES = 64 * 1024;
/**
 * Bytes kept past the start of the top-level Pixel Data value: the header parse stops at that
 * element, so the rest of the first 64 KiB (pixel data) need not be copied. A margin, not a need.
 */
const PAST_PIXEL_DATA = 256;
/** The kept head starts this small and doubles as needed (most headers are a few KiB). */
const HEAD_START = 8 * 1024;

export class StoreFileStream extends Writable {
  readonly tempPath: string;
  readonly meta: FileMetaFields;
  #file: Deno.FsFile | undefined;
  #discarded = false;
  #hash: Hash | undefined;
  #datasetSize = 0;
  #fileSize = 0;
  #failed: Error | undefined;
  #received: ReceivedObject | undefined;
  #head: Uint8Array = new Uint8Array(HEAD_START);
  #headLength = 0;
  /** The file offset where keeping the head stops: 64 KiB, or just past the start of the pixel data. */
  #headLimit = HEAD_BYTES;
  #check: StructureCheck | undefined;
  #opening: Promise<void> | undefined;
  /**
   * Called once every byte is written and before the file syncs, with what `received` will be if the
   * sync succeeds: a receiver checks the object meanwhile instead of after (issue 16: the check then
   * costs the sender's wait for Success nothing). Not called when a write failed.
   */
  onWritten: ((written: ReceivedObject) => void) | undefined;
  /**
   * Called once every byte is written, before the file syncs: true (or a promise of true) when the
   * object needs no sync, because its bytes are already durable elsewhere (a resend of an archived
   * object: ingest.ts). The file is then closed unsynced, `sameAsStored` is set and `received`
   * describes it as usual. Not called when a write failed.
   */
  beforeSync: ((written: ReceivedObject) => boolean | Promise<boolean>) | undefined;
  #sameAsStored = false;
  /**
   * Called once, as soon as the head holds every byte before the top-level Pixel Data value (and
   * {@link PAST_PIXEL_DATA} more), with those bytes: most of the object is still to come, and a receiver
   * parses the header now instead of after the last byte (issue 16: on the sender's wait for Success).
   * What it learns is provisional: `received.malformed` at the end still decides. Not called for deflated
   * data sets, or objects whose pixel data starts past the kept head.
   */
  onHead: ((head: Uint8Array) => void) | undefined;
  #headShown = false;
  /** Whether the head's limit was set just past the Pixel Data value's start (within HEAD_BYTES). */
  #headReachesPixels = false;

  /**
   * A stream into `tempPath`, created exclusively (or `file`, when it was created ahead: {@link create},
   * the intake's staging files) with the File Meta group first. A file made here is created on Deno's
   * blocking-operation threads, not on the event loop's: a create can wait for the file system's journal
   * while other files sync, which would stall every other association. Meanwhile the bytes written are
   * copied and wait: the stream never keeps a caller's buffer past its `write` (the receive path uses its
   * buffers again once a PDU is processed). A create that fails is the stream's {@link failure}, like a
   * failed write. `hash`: compute the data set's SHA-256 as it arrives.
   */
  constructor(
    tempPath: string,
    meta: FileMetaFields,
    private readonly sync = true,
    file?: Deno.FsFile,
    hash = true,
  ) {
    super({ highWaterMark: 1 << 20 });
    if (hash) this.#hash = createHash("sha256");
    this.tempPath = tempPath;
    this.meta = meta;
    const header = buildFileMeta(meta);
    this.#fileSize = header.length;
    this.#keep(header);
    const encoding = encodingOf(meta.transferSyntax);
    if (!encoding.deflated) this.#check = new StructureCheck(encoding);
    if (file) {
      this.#start(file, header);
      return;
    }
    this.#opening = createFile(tempPath).then((made) => {
      this.#opening = undefined;
      if (!this.#discarded) return this.#start(made, header);
      return closeAndRemove(made, tempPath);
    }, (err) => {
      this.#opening = undefined;
      this.#failed ??= err as Error;
    });
  }

  /** As the constructor, the file created before it resolves; throws when it cannot be created. */
  static async create(
    tempPath: string,
    meta: FileMetaFields,
    sync = true,
    hash = true,
  ): Promise<StoreFileStream> {
    const file = await createFile(tempPath);
    return new StoreFileStream(tempPath, meta, sync, file, hash);
  }

  #start(file: Deno.FsFile, header: Uint8Array): void {
    this.#file = file;
    try {
      writeAllSync(file, header);
    } catch (err) {
      this.#failed = err as Error;
    }
  }

  // deno-lint-ignore no-explicit-any
  override write(chunk: any, encoding?: any, cb?: any): boolean {
    // Bytes that wait in the stream (the file is being created, or earlier bytes wait for it) are a copy,
    // not the caller's buffer; otherwise they are written before this returns.
    if ((this.#opening || this.writableLength > 0) && chunk instanceof Uint8Array) chunk = Buffer.from(chunk);
    return super.write(chunk, encoding, cb);
  }

  /** The first write error, if any (the stream keeps swallowing data so the association stays in step). */
  get failure(): Error | undefined {
    return this.#failed;
  }

  /** Set once `finish` has fired without failure. */
  get received(): ReceivedObject | undefined {
    return this.#received;
  }

  /**
   * Writes on this thread: a write into the page cache handed to another thread and awaited made each
   * object slower (measured, bench/README.md). Counts, checks (and hashes, if asked) the bytes on the way.
   */
  override _write(chunk: Uint8Array, enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const opening = this.#opening;
    if (opening) return void opening.then(() => this._write(chunk, enc, cb));
    const file = this.#file;
    if (this.#failed || !file) return cb();
    try {
      writeAllSync(file, chunk);
      this.#hash?.update(chunk);
      const check = this.#check;
      if (check) {
        check.push(chunk);
        if (check.pixelDataValueAt >= 0 && this.#headLimit === HEAD_BYTES) {
          const datasetStart = this.#fileSize - this.#datasetSize;
          const limit = datasetStart + check.pixelDataValueAt + PAST_PIXEL_DATA;
          this.#headLimit = Math.min(HEAD_BYTES, limit);
          this.#headReachesPixels = limit <= HEAD_BYTES;
        }
      }
      this.#keep(chunk);
      if (this.#headReachesPixels && !this.#headShown && this.onHead && this.#headLength >= this.#headLimit) {
        this.#headShown = true;
        this.onHead(this.#head.subarray(0, this.#headLength));
      }
      this.#datasetSize += chunk.length;
      this.#fileSize += chunk.length;
    } catch (err) {
      // ENOSPC and friends: remember, stop writing, answer with a failure status later.
      this.#failed = err as Error;
    }
    cb();
  }

  #keep(bytes: Uint8Array): void {
    const limit = this.#headLimit;
    if (this.#headLength >= limit) return;
    const take = Math.min(bytes.length, limit - this.#headLength);
    const need = this.#headLength + take;
    if (need > this.#head.length) {
      let size = this.#head.length;
      while (size < need) size *= 2;
      const grown = new Uint8Array(Math.min(size, HEAD_BYTES));
      grown.set(this.#head.subarray(0, this.#headLength));
      this.#head = grown;
    }
    this.#head.set(bytes.subarray(0, take), this.#headLength);
    this.#headLength = need;
  }

  override _final(cb: (err?: Error | null) => void): void {
    const opening = this.#opening;
    if (opening) return void opening.then(() => this._final(cb));
    const file = this.#file;
    if (!file) return cb();
    // Every byte is written: what is known of the object is known now, and a caller may check it while
    // the file syncs (onWritten, after the sync has started); it becomes `received` once the sync succeeded.
    const written = this.#failed ? undefined : this.#describe();
    const skip = written && this.beforeSync ? this.beforeSync(written) : false;
    if (skip !== false && skip !== true) {
      // Being compared with the archived copy: the sync waits for the answer (a resend needs none).
      return void skip.catch(() => false).then((same) => this.#finish(file, written, cb, same));
    }
    this.#finish(file, written, cb, skip);
  }

  /** Gets whether the bytes written are those of an archived object (`beforeSync`: no sync was needed). */
  get sameAsStored(): boolean {
    return this.#sameAsStored;
  }

  #finish(
    file: Deno.FsFile,
    written: ReceivedObject | undefined,
    cb: (err?: Error | null) => void,
    same: boolean,
  ): void {
    if (same) this.#sameAsStored = true;
    const synced = this.#failed || !this.sync || same ? Promise.resolve() : file.sync();
    if (written) this.onWritten?.(written);
    synced.catch((err) => {
      this.#failed ??= err as Error;
    }).then(() => {
      this.#file = undefined;
      try {
        file.close();
      } catch (err) {
        this.#failed ??= err as Error;
      }
      if (!this.#failed) this.#received = written;
      cb();
    });
  }

  #describe(): ReceivedObject {
    return {
      tempPath: this.tempPath,
      datasetSize: this.#datasetSize,
      datasetSha256: this.#hash?.digest("hex"),
      fileSize: this.#fileSize,
      meta: this.meta,
      head: this.#head.subarray(0, this.#headLength),
      headIsWhole: this.#headLength === this.#fileSize,
      malformed: this.#check?.finish(),
      ...(this.#check ? {} : { inflateToCheck: true }),
    };
  }

  /** Closes and removes the temporary file (after an abort, or when the object is refused). */
  discard(): void {
    this.#discarded = true;
    const file = this.#file;
    this.#file = undefined;
    if (file) {
      try {
        file.close();
      } catch { /* already closed */ }
    }
    try {
      fs.unlinkSync(this.tempPath);
    } catch { /* gone already, or not created yet (the constructor's create removes it) */ }
  }
}

function createFile(file: string): Promise<Deno.FsFile> {
  return Deno.open(file, { write: true, createNew: true, mode: 0o640 });
}

function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length;) at += file.writeSync(bytes.subarray(at));
}

async function closeAndRemove(file: Deno.FsFile, path: string): Promise<void> {
  try {
    file.close();
  } catch { /* closed */ }
  await Deno.remove(path).catch(() => {});
}

/**
 * The raw C-STORE receive path: a Writable that puts a File Meta group in front of the data set
 * bytes exactly as they arrive in P-DATA PDVs, hashing, counting and checking their structure on the
 * way (a data set that ends inside an element is found here, without reading the file again), and
 * syncs the file before it reports `finish`. Writes are synchronous, so PDVs land in order and memory
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
  /** SHA-256 (hex) of the data set bytes. */
  datasetSha256: string;
  fileSize: number;
  meta: FileMetaFields;
  /** The first bytes of the file (File Meta group and the start of the data set), kept for parsing. */
  head: Uint8Array;
  /** True when `head` holds the whole file. */
  headIsWhole: boolean;
  /**
   * Why the data set does not parse to its end (it ends inside an element, a sequence or the pixel
   * data fragments, or its structure is broken); undefined when it does, or when it could not be
   * checked as it arrived (deflated syntaxes).
   */
  malformed?: string;
}

/** How much of the start of each object is kept in memory for header parsing. */
export const HEAD_BYTES = 64 * 1024;

export class StoreFileStream extends Writable {
  readonly tempPath: string;
  readonly meta: FileMetaFields;
  #file: Deno.FsFile | undefined;
  #discarded = false;
  #hash: Hash = createHash("sha256");
  #datasetSize = 0;
  #fileSize = 0;
  #failed: Error | undefined;
  #received: ReceivedObject | undefined;
  #head: Uint8Array = new Uint8Array(HEAD_BYTES);
  #headLength = 0;
  #check: StructureCheck | undefined;
  #header: Uint8Array | undefined;

  /**
   * A stream into `tempPath`, created exclusively (or `file`, when {@link create} opened it) with the
   * File Meta group first. The file is created and synced on Deno's blocking-operation threads, not on
   * the event loop's: a create or a sync can wait for the file system's journal while other files sync,
   * which would stall every other association. A create that fails is reported as the stream's
   * {@link failure}, like a failed write.
   */
  constructor(tempPath: string, meta: FileMetaFields, private readonly sync = true, file?: Deno.FsFile) {
    super({ highWaterMark: 1 << 20 });
    this.tempPath = tempPath;
    this.meta = meta;
    this.#file = file;
    const header = buildFileMeta(meta);
    this.#header = header;
    this.#fileSize = header.length;
    this.#keep(header);
    const encoding = encodingOf(meta.transferSyntax);
    if (!encoding.deflated) this.#check = new StructureCheck(encoding);
  }

  /** As the constructor, the file created before it resolves; throws when it cannot be created. */
  static async create(tempPath: string, meta: FileMetaFields, sync = true): Promise<StoreFileStream> {
    const file = await createFile(tempPath);
    return new StoreFileStream(tempPath, meta, sync, file);
  }

  override _construct(cb: (err?: Error | null) => void): void {
    // A file made ahead takes its File Meta group at once; one created here, once it exists.
    if (this.#file) return this.#start(this.#file, cb);
    createFile(this.tempPath).then((file) => {
      if (!this.#discarded) return this.#start(file, cb);
      cb();
      return closeAndRemove(file, this.tempPath);
    }, (err) => {
      this.#failed ??= err as Error;
      cb();
    });
  }

  #start(file: Deno.FsFile, cb: (err?: Error | null) => void): void {
    this.#file = file;
    try {
      writeAllSync(file, this.#header!);
    } catch (err) {
      this.#failed = err as Error;
    }
    this.#header = undefined;
    cb();
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
   * object slower (measured, bench/README.md). Counts, hashes and checks the bytes on the way.
   */
  override _write(chunk: Uint8Array, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const file = this.#file;
    if (this.#failed || !file) return cb();
    try {
      writeAllSync(file, chunk);
      this.#hash.update(chunk);
      this.#check?.push(chunk);
      this.#keep(chunk);
      this.#datasetSize += chunk.length;
      this.#fileSize += chunk.length;
    } catch (err) {
      // ENOSPC and friends: remember, stop writing, answer with a failure status later.
      this.#failed = err as Error;
    }
    cb();
  }

  #keep(bytes: Uint8Array): void {
    if (this.#headLength >= HEAD_BYTES) return;
    const take = Math.min(bytes.length, HEAD_BYTES - this.#headLength);
    this.#head.set(bytes.subarray(0, take), this.#headLength);
    this.#headLength += take;
  }

  override _final(cb: (err?: Error | null) => void): void {
    const file = this.#file;
    if (!file) return cb();
    const synced = this.#failed || !this.sync ? Promise.resolve() : file.sync();
    synced.catch((err) => {
      this.#failed ??= err as Error;
    }).then(() => {
      this.#file = undefined;
      try {
        file.close();
      } catch (err) {
        this.#failed ??= err as Error;
      }
      if (!this.#failed) {
        this.#received = {
          tempPath: this.tempPath,
          datasetSize: this.#datasetSize,
          datasetSha256: this.#hash.digest("hex"),
          fileSize: this.#fileSize,
          meta: this.meta,
          head: this.#head.subarray(0, this.#headLength),
          headIsWhole: this.#headLength === this.#fileSize,
          malformed: this.#check?.finish(),
        };
      }
      cb();
    });
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
    } catch { /* gone already, or not created yet (the create removes it: _construct) */ }
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

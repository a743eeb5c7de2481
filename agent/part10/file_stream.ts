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
  #fd: number | undefined;
  #hash: Hash = createHash("sha256");
  #datasetSize = 0;
  #fileSize = 0;
  #failed: Error | undefined;
  #received: ReceivedObject | undefined;
  #head: Uint8Array = new Uint8Array(HEAD_BYTES);
  #headLength = 0;
  #check: StructureCheck | undefined;

  /**
   * Opens `tempPath` (exclusive create; `fd` when {@link create} opened it) and writes the File Meta
   * group. Throws when it cannot.
   */
  constructor(tempPath: string, meta: FileMetaFields, private readonly sync = true, fd?: number) {
    super({ highWaterMark: 1 << 20 });
    this.tempPath = tempPath;
    this.meta = meta;
    this.#fd = fd ?? fs.openSync(tempPath, "wx", 0o640);
    const header = buildFileMeta(meta);
    fs.writeSync(this.#fd, header);
    this.#fileSize = header.length;
    this.#keep(header);
    const encoding = encodingOf(meta.transferSyntax);
    if (!encoding.deflated) this.#check = new StructureCheck(encoding);
  }

  /**
   * As the constructor, but the file is created on a thread of the pool, not the event loop's: a create
   * waits for the file system's journal while other files sync, which would stall every other stream.
   */
  static async create(tempPath: string, meta: FileMetaFields, sync = true): Promise<StoreFileStream> {
    const fd = await new Promise<number>((resolve, reject) =>
      fs.open(tempPath, "wx", 0o640, (err, fd) => err ? reject(err) : resolve(fd))
    );
    try {
      return new StoreFileStream(tempPath, meta, sync, fd);
    } catch (err) {
      fs.closeSync(fd);
      throw err;
    }
  }

  /** The first write error, if any (the stream keeps swallowing data so the association stays in step). */
  get failure(): Error | undefined {
    return this.#failed;
  }

  /** Set once `finish` has fired without failure. */
  get received(): ReceivedObject | undefined {
    return this.#received;
  }

  override _write(chunk: Uint8Array, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#failed || this.#fd === undefined) return cb();
    try {
      let at = 0;
      while (at < chunk.length) at += fs.writeSync(this.#fd, chunk, at, chunk.length - at);
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
    const fd = this.#fd;
    if (fd === undefined) return cb();
    const done = () => {
      fs.close(fd, (closeErr) => {
        this.#fd = undefined;
        if (closeErr && !this.#failed) this.#failed = closeErr;
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
    };
    if (this.#failed || !this.sync) return done();
    fs.fsync(fd, (err) => {
      if (err) this.#failed = err;
      done();
    });
  }

  /** Closes and removes the temporary file (after an abort, or when the object is refused). */
  discard(): void {
    if (this.#fd !== undefined) {
      try {
        fs.closeSync(this.#fd);
      } catch { /* already closed */ }
      this.#fd = undefined;
    }
    try {
      fs.unlinkSync(this.tempPath);
    } catch { /* gone already */ }
  }
}

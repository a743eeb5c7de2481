/**
 * The intake: where a C-STORE's object waits, durable, between its Success and the group commit that
 * archives and indexes it (design.md, Durability). An object is written to `<data>/incoming/<id>.part`
 * (created ahead of need while other objects sync: `take`), synced, renamed to `<id>.<sender>.dcm` and
 * the folder synced (one folder sync shared by every object that asked while the previous one ran,
 * whatever its association): only then is Success sent (without `dimse.sync`: renamed on the event
 * loop's thread, nothing synced). The index and queue rows follow in groups (`GroupCommit`); a start
 * after a crash finds the `.dcm` files not yet committed here and commits them before it accepts work,
 * so a kill -9 between Success and the group commit loses nothing. `.part` files (never answered
 * Success) are removed at start.
 *
 * Who sent an object (calling and called AE title, address; routing rules look at them) travels in its
 * file name, so a recovered object is routed as it would have been.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { randomUUID } from "node:crypto";
import type { AssociationInfo } from "../dimse/handlers.ts";
import { SharedSync } from "../archive/shared_sync.ts";

const PART = ".part";
const DONE = ".dcm";

/** An object found in the intake at start, with who sent it. */
export interface IntakeEntry {
  path: string;
  association: AssociationInfo;
}

/** A staging file: its path and, when it was created ahead of need, its handle. */
export interface Staged {
  path: string;
  file?: Deno.FsFile;
}

/** Staging files kept created ahead of need. */
const AHEAD = 4;

export class Intake {
  readonly dir: string;
  readonly #dirSync: SharedSync;
  #ready: Staged[] = [];
  #making = 0;
  #closed = false;

  constructor(dataDir: string, private readonly sync: boolean) {
    this.dir = path.join(path.resolve(dataDir), "incoming");
    this.#dirSync = new SharedSync(this.dir);
  }

  get syncStats(): { syncs: number; callers: number } {
    return this.#dirSync.stats;
  }

  /** The agent stops: closes the folder's handle kept for its syncs, removes the staging files made ahead. */
  async close(): Promise<void> {
    this.#closed = true;
    const ready = this.#ready;
    this.#ready = [];
    for (const { file } of ready) file?.close();
    await Promise.all(ready.map(({ path }) => fs.promises.rm(path, { force: true }).catch(() => {})));
    await this.#dirSync.close();
  }

  /**
   * Makes the folder; removes `.part` files an earlier run left (never answered); returns how many held
   * part of an object. The empty ones are the staging files a run that did not stop cleanly made ahead
   * (`take`): nothing was received into them, so they are not counted (a start after every kill said
   * "removed partial objects" for them, 4, while no object was cut short).
   */
  prepare(): number {
    fs.mkdirSync(this.dir, { recursive: true });
    let partial = 0;
    for (const name of fs.readdirSync(this.dir)) {
      if (!name.endsWith(PART)) continue;
      const file = path.join(this.dir, name);
      const size = fs.statSync(file, { throwIfNoEntry: false })?.size ?? 0;
      fs.rmSync(file, { force: true });
      if (size > 0) partial++;
    }
    return partial;
  }

  /** Staging files created ahead and not yet taken. */
  get ready(): number {
    return this.#ready.length;
  }

  /**
   * A staging file for the next object: one created ahead of need when one is ready (another is then
   * created in its place), else a fresh path for the caller to create. A create waits for the file
   * system's journal while other objects sync; made ahead, it is off the way from a C-STORE's first
   * byte to its Success. The first object after start or a quiet spell creates its own.
   */
  take(): Staged {
    const staged = this.#ready.shift() ?? { path: this.#partPath() };
    this.#refill();
    return staged;
  }

  #partPath(): string {
    return path.join(this.dir, `${randomUUID()}${PART}`);
  }

  #refill(): void {
    while (!this.#closed && this.#ready.length + this.#making < AHEAD) {
      this.#making++;
      const part = this.#partPath();
      Deno.open(part, { write: true, createNew: true, mode: 0o640 }).then((file) => {
        if (!this.#closed) return void this.#ready.push({ path: part, file });
        file.close();
        return fs.promises.rm(part, { force: true });
      }).catch(() => {
        // A full disk or the like: the next object creates its own file, and reports what fails.
      }).finally(() => this.#making--);
    }
  }

  /**
   * Makes a written (and, with sync, synced) `.part` file a durable intake entry from `association`:
   * renamed to `.dcm` (the name says who sent it), the folder synced. Resolves with its new path; after
   * this the object may be answered Success.
   */
  async accept(partPath: string, association: AssociationInfo): Promise<string> {
    if (!partPath.endsWith(PART)) throw new Error("not an intake staging file");
    const done = partPath.slice(0, -PART.length) + `.${who(association)}${DONE}`;
    if (!this.sync) {
      // No syncs of ours for the rename to wait behind: here, not through Deno's blocking threads
      // (see FileArchive's #placeNow).
      fs.renameSync(partPath, done);
      return done;
    }
    await fs.promises.rename(partPath, done);
    await this.#dirSync.sync();
    return done;
  }

  /** Moves a file (an archive file found without its index row) into the intake, to be committed again. */
  async adopt(file: string, association: AssociationInfo): Promise<void> {
    const target = path.join(this.dir, `${randomUUID()}.${who(association)}${DONE}`);
    await fs.promises.rename(file, target);
    if (this.sync) await this.#dirSync.sync();
  }

  /** The intake entries waiting for their commit (at start), oldest first. */
  entries(): IntakeEntry[] {
    const found: { path: string; association: AssociationInfo; at: number }[] = [];
    for (const name of fs.readdirSync(this.dir)) {
      if (!name.endsWith(DONE)) continue;
      const file = path.join(this.dir, name);
      found.push({ path: file, association: whoOf(name), at: fs.statSync(file).mtimeMs });
    }
    return found.sort((a, b) => a.at - b.at).map(({ path, association }) => ({ path, association }));
  }
}

/** Who sent an object, as its intake name carries it. */
function who(association: AssociationInfo): string {
  return Buffer.from(
    JSON.stringify([association.callingAet, association.calledAet, association.remoteAddress]),
  ).toString("base64url");
}

function whoOf(name: string): AssociationInfo {
  try {
    const [callingAet, calledAet, remoteAddress] = JSON.parse(
      Buffer.from(name.split(".")[1] ?? "", "base64url").toString(),
    );
    return {
      callingAet: String(callingAet ?? ""),
      calledAet: String(calledAet ?? ""),
      remoteAddress: String(remoteAddress ?? ""),
    };
  } catch {
    return { callingAet: "", calledAet: "", remoteAddress: "" };
  }
}

/**
 * The group commit: objects answered Success from the intake (intake.ts) are archived and indexed in
 * groups, one index transaction (one sync of the index) per group instead of one per object. Groups form
 * while the previous one commits, so under load they grow and at rest each object commits alone at once.
 * An object whose commit fails stays where a restart finds it (in the intake, or in the archive without
 * its row, which the crash reconcile commits again) and the agent is marked as not cleanly stopped.
 *
 * Readers of what is archived (a sender's release, C-FIND, C-MOVE/C-GET, the site's queries, transfers and
 * WADO) wait on `settled()`: it resolves once every object answered Success before the call is committed,
 * whatever came after (a reader is never starved by a busy intake). While commits fail (a full disk, an
 * index error) readers wait up to `blockedLimitMs`, then go on without those objects (logged): they are
 * committed when the failure clears, or at the next start.
 */
import type { Logger } from "@conduit/shared/log";
import type { Ingest } from "./ingest.ts";
import type { Checked } from "./checks.ts";
import type { Prepared } from "./place.ts";

export interface GroupCommitOptions {
  /** Objects per index transaction at most. */
  maxGroup?: number;
  /**
   * How long a group gathers before it commits (ms): every index commit syncs the index on the event
   * loop's thread, so one per object would cost each object a sync; a few ms gathers a group under load.
   * Cut short when someone waits on `settled()` (a sender's release, a reader): they would wait for it.
   */
  gatherMs?: number;
  /** Wait this long before each group (tests: a window to kill the agent between Success and commit). */
  holdMs?: number;
  /** While commits fail, how long `settled()` waits before readers go on without the objects (ms). */
  blockedLimitMs?: number;
  /** While commits fail, the longest wait between two tries (ms; from 250 ms, doubled each time). */
  retryCapMs?: number;
  /**
   * Called once per index transaction that committed objects (metrics): how many, and the seconds from the
   * start of their group's commit (placing the files, then the transaction; retries included) to its end.
   */
  onCommitted?: (objects: number, seconds: number) => void;
}

/**
 * The group commit is held for an operation (`pause`) while its commits keep failing (a full disk, an
 * index error): the operation is refused rather than left waiting until the failure clears.
 */
export class CommitBlockedError extends Error {
  override name = "CommitBlockedError";
}

/** A settled() caller: resolved once the objects added before its call are finished. */
interface Settling {
  upTo: number;
  resolve: () => void;
}

export class GroupCommit {
  #waiting: Checked[] = [];
  #running = false;
  /** Objects added since start, and of those (in arrival order) how many are committed or given up. */
  #added = 0;
  #finished = 0;
  /** settled() callers: each waits until `#finished` reaches what was added before its call. */
  #settling: Settling[] = [];
  #failures = 0;
  #blocked = false;
  /** Set once commits have failed for `blockedLimitMs`: readers no longer wait for them. */
  #gaveUp = false;
  #blockedTimer: ReturnType<typeof setTimeout> | undefined;
  #closing = false;
  #wake: (() => void) | undefined;
  /** Ends the gathering of the next group early (set while it gathers). */
  #hurry: (() => void) | undefined;
  readonly #max: number;
  readonly #holdMs: number;
  readonly #gatherMs: number;
  readonly #blockedLimitMs: number;
  readonly #retryCapMs: number;
  readonly #onCommitted: ((objects: number, seconds: number) => void) | undefined;
  /** Groups committed and objects in them (metrics, benchmarks). */
  readonly stats = { groups: 0, objects: 0 };
  /** Set while a caller holds the commit (`pause`): no group starts until it resumes. */
  #paused: Promise<void> | undefined;
  /** The group being committed, if any. */
  #current: Promise<void> | undefined;

  constructor(
    private readonly ingest: Ingest,
    private readonly log: Logger,
    options: GroupCommitOptions = {},
  ) {
    this.#max = options.maxGroup ?? 256;
    this.#holdMs = options.holdMs ?? 0;
    this.#gatherMs = options.gatherMs ?? 20;
    this.#blockedLimitMs = options.blockedLimitMs ?? 10_000;
    this.#retryCapMs = options.retryCapMs ?? 10_000;
    this.#onCommitted = options.onCommitted;
  }

  /** Objects answered Success and not yet committed. */
  get pending(): number {
    return this.#added - this.#finished;
  }

  /** True when some commit failed since start: its object waits for the crash reconcile of the next start. */
  get failed(): boolean {
    return this.#failures > 0;
  }

  /**
   * True while a group cannot commit (a full disk, an index error): it is retried, and new objects are
   * refused meanwhile rather than answered Success with nowhere to record them.
   */
  get blocked(): boolean {
    return this.#blocked;
  }

  /** Queues an object that was answered Success (its file is durable in the intake). */
  add(checked: Checked): void {
    this.#added++;
    this.#waiting.push(checked);
    if (!this.#running) void this.#run();
  }

  /**
   * Resolves once every object queued before this call has been committed (objects queued after it are
   * not waited for), or the agent stops, or commits have been failing for `blockedLimitMs`.
   */
  settled(): Promise<void> {
    const upTo = this.#added;
    if (this.#finished >= upTo || this.#gaveUp || this.#closing) return Promise.resolve();
    // Someone waits (a release, a reader): the group gathering now commits at once.
    this.#hurry?.();
    return new Promise((resolve) => this.#settling.push({ upTo, resolve }));
  }

  /**
   * Holds the group commit: resolves once no group is being committed, and none starts until the function
   * it resolves with is called (erasure takes objects out of the archive and the index meanwhile:
   * erase/erase.ts). Objects are still answered and added; they wait in the intake. While commits have
   * been failing for `blockedLimitMs` (the group being committed is retried until the failure clears), it
   * rejects with CommitBlockedError instead of waiting for that group.
   */
  async pause(): Promise<() => void> {
    while (this.#paused) await this.#paused;
    let resume!: () => void;
    this.#paused = new Promise((resolve) => (resume = resolve));
    const release = () => {
      this.#paused = undefined;
      resume();
    };
    while (this.#current) {
      if (this.#gaveUp) {
        release();
        throw new CommitBlockedError(
          `received objects cannot be committed to the archive's index (failing for over ${
            Math.round(this.#blockedLimitMs / 1000)
          } s: a full disk or an index error, see the log and /healthz); try again once it is cleared`,
        );
      }
      const current = this.#current;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        current.catch(() => {}).finally(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return release;
  }

  /** Stops retrying (the agent stops): what did not commit waits for the next start. */
  close(): void {
    this.#closing = true;
    this.#wake?.();
    this.#release(true);
  }

  /** Resolves the settled() callers whose objects are all finished (all of them with `all`). */
  #release(all = false): void {
    if (this.#settling.length === 0) return;
    const still: Settling[] = [];
    for (const s of this.#settling) {
      if (all || s.upTo <= this.#finished) s.resolve();
      else still.push(s);
    }
    this.#settling = still;
  }

  /** Commits have started failing: readers wait for them, up to the limit. */
  #block(): void {
    if (this.#blocked) return;
    this.#blocked = true;
    this.#blockedTimer = setTimeout(() => {
      this.#gaveUp = true;
      if (this.#settling.length) {
        this.log.warn("readers go on without objects answered Success whose commit keeps failing", {
          pending: this.pending,
        });
      }
      this.#release(true);
    }, this.#blockedLimitMs);
  }

  #unblock(): void {
    this.#blocked = false;
    this.#gaveUp = false;
    clearTimeout(this.#blockedTimer);
    this.#blockedTimer = undefined;
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiting.length && !this.#closing) {
        if (this.#holdMs > 0) await new Promise((r) => setTimeout(r, this.#holdMs));
        if (this.#waiting.length < this.#max && this.#gatherMs > 0 && !this.#settling.length) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, this.#gatherMs);
            this.#hurry = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          this.#hurry = undefined;
        }
        while (this.#paused && !this.#closing) await this.#paused;
        if (this.#closing) break;
        const group = this.#takeGroup();
        try {
          this.#current = this.#commitGroup(group);
          await this.#current;
        } catch (err) {
          // Not expected (failures are retried inside): the objects wait in the intake for the next start.
          this.#failures += group.length;
          this.log.error("a group commit failed; its objects are committed at the next start", {
            count: group.length,
            reason: (err as Error).name,
          });
        } finally {
          this.#current = undefined;
          this.#finished += group.length;
          this.#release();
        }
      }
    } finally {
      this.#running = false;
      this.#unblock();
      if (this.#waiting.length) {
        // The agent stops: these wait in the intake for the next start.
        this.#failures += this.#waiting.length;
        this.#finished += this.#waiting.length;
        this.#waiting = [];
      }
      this.#release(true);
    }
  }

  /** The next group: in arrival order, up to the limit, and never one SOP Instance UID twice. */
  #takeGroup(): Checked[] {
    const group: Checked[] = [];
    const sops = new Set<string>();
    while (this.#waiting.length && group.length < this.#max) {
      const sop = this.#waiting[0].attrs.sopInstanceUid;
      if (sops.has(sop)) break;
      sops.add(sop);
      group.push(this.#waiting.shift()!);
    }
    return group;
  }

  /** The metrics' hook, which must not stop a commit that succeeded. */
  #observe(objects: number, seconds: number): void {
    try {
      this.#onCommitted?.(objects, seconds);
    } catch (err) {
      this.log.warn("the group commit's metrics hook failed", { reason: (err as Error).message });
    }
  }

  async #commitGroup(group: Checked[]): Promise<void> {
    let unplaced = group;
    let placed: Extract<Prepared, { kind: "index" }>[] = [];
    const started = performance.now();
    for (let attempt = 0;; attempt++) {
      const failedPlace: Checked[] = [];
      // Placed together: their folder syncs run at once and the file system shares its journal commits.
      await Promise.all(unplaced.map(async (checked) => {
        try {
          const prepared = await this.ingest.prepare(checked, []);
          if (prepared.kind === "index") placed.push(prepared);
        } catch (err) {
          failedPlace.push(checked); // still in the intake
          if (attempt === 0) {
            checked.log.error("placing an object answered Success failed; retrying", {
              code: (err as { code?: string }).code ?? (err as Error).name,
            });
          }
        }
      }));
      unplaced = failedPlace;
      if (placed.length) {
        // Unsynced: every object here is durable in the archive already (placed, its folder synced), and
        // was answered Success; rows a power loss undoes are rebuilt by the next start's crash reconcile.
        const failed = new Set(this.ingest.write(placed, false, true));
        const done = placed.length - failed.size;
        if (done) {
          this.stats.groups++;
          this.stats.objects += done;
          this.#observe(done, (performance.now() - started) / 1000);
        }
        placed = placed.filter((p) => failed.has(p.checked));
      }
      if (unplaced.length === 0 && placed.length === 0) break;
      if (this.#closing) {
        this.#failures += unplaced.length + placed.length;
        this.log.error("objects answered Success are not committed; the next start commits them", {
          count: unplaced.length + placed.length,
        });
        break;
      }
      this.#block();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(this.#retryCapMs, 250 * 2 ** Math.min(attempt, 6)));
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.#unblock();
  }
}

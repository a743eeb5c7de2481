/**
 * The Storage Commitment Push Model SCP's job logic (PS3.4 J.3): which referenced instances the agent holds,
 * and the delivery of reports that could not go on the requester's own association.
 *
 * An instance is committed when the index holds it (after the group commit of what was answered Success),
 * not removed, with the SOP Class UID the request names, and its archived file is there at its indexed size.
 * Otherwise it fails with Failure Reason 0x0112 (no such object instance: never received, or removed since),
 * 0x0119 (class/instance conflict: held under another SOP Class UID) or 0x0110 (processing failure: indexed,
 * but its file is missing or of another size).
 *
 * Every accepted request is written to `<data>/commitment/` before its N-ACTION is answered Success, and
 * removed once its report was answered: a request whose report had not gone when the agent stopped is
 * decided again at the next start and reported on a new association. Reports on a new association go to the
 * configured node (`nodes:`) whose AE title is the requester's, retried with backoff; a requester that is no
 * configured node cannot be reached, and its report is dropped with a warning.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { hashUid, type Logger } from "@conduit/shared/log";
import type { AgentConfig, NodeConfig } from "../config/schema.ts";
import type { Archive } from "../archive/archive.ts";
import type { Database } from "../index/db.ts";
import {
  type CommitmentHandler,
  type CommitmentReport,
  type CommitmentRequest,
  FailureReason,
  isWarning,
  Status,
  statusHex,
} from "../dimse/handlers.ts";
import type { ScuAssociation } from "../dimse/scu.ts";
import { scuTo } from "../nodes/connect.ts";

/** UIDs looked up in one query. */
const CHUNK = 500;
/** Longest wait between two delivery attempts. */
const MAX_BACKOFF_MS = 600_000;

export interface CommitmentOptions {
  config: AgentConfig;
  db: Database;
  archive: Archive;
  dataDir: string;
  log: Logger;
  /**
   * What became of each report the agent owed (metrics): delivered (answered, on the requester's association
   * or a new one), unreachable (the requester is no configured node), given-up (after the last attempt).
   */
  onReport?: (outcome: CommitmentReportOutcome) => void;
}

export type CommitmentReportOutcome = "delivered" | "unreachable" | "given-up";

/** A request waiting for its report to be delivered, as kept on disk. */
interface Pending extends CommitmentRequest {
  receivedAt: number;
}

export class StorageCommitment implements CommitmentHandler {
  readonly dir: string;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #open = new Set<ScuAssociation>();
  #running = new Set<Promise<void>>();
  #stopped = false;

  constructor(private readonly o: CommitmentOptions) {
    this.dir = path.join(o.dataDir, "commitment");
  }

  /** Reports left by an earlier run: decided again and delivered on a new association. */
  start(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    for (const name of fs.readdirSync(this.dir)) {
      const file = path.join(this.dir, name);
      if (name.endsWith(".tmp")) {
        fs.rmSync(file, { force: true });
        continue;
      }
      if (!name.endsWith(".json")) continue;
      let pending: Pending;
      try {
        pending = JSON.parse(fs.readFileSync(file, "utf8"));
        const ok = typeof pending?.transactionUid === "string" && typeof pending.requesterAet === "string" &&
          Array.isArray(pending.references) &&
          pending.references.every((r) =>
            typeof r?.sopClassUid === "string" && typeof r.sopInstanceUid === "string"
          );
        if (!ok) throw new Error("not a pending request");
      } catch {
        this.o.log.warn("unreadable pending storage commitment removed", { file: name });
        fs.rmSync(file, { force: true });
        continue;
      }
      this.o.log.info("storage commitment report left by an earlier run: delivering it", {
        transaction: hashUid(pending.transactionUid),
      });
      this.deliverLater(pending, undefined);
    }
  }

  /** Cancels the deliveries waiting; those under way are aborted (their requests stay for the next start). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const a of this.#open) a.abort();
    await Promise.allSettled([...this.#running]);
  }

  // deno-lint-ignore require-await
  async accept(request: CommitmentRequest): Promise<void> {
    // Async: a failure to write (a full disk) rejects, and the N-ACTION is answered 0x0110.
    const pending: Pending = { ...request, receivedAt: Date.now() };
    fs.mkdirSync(this.dir, { recursive: true });
    const file = this.#file(request);
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, "w");
    try {
      fs.writeSync(fd, JSON.stringify(pending));
      if (this.o.archive.sync) fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
    if (this.o.archive.sync) syncDir(this.dir);
  }

  async decide(request: CommitmentRequest): Promise<CommitmentReport> {
    // What was answered Success and waits for its group commit is waited for.
    await this.o.db.caughtUp();
    const held = new Map<string, { sopClassUid: string; path: string; fileSize: number }>();
    const uids = [...new Set(request.references.map((r) => r.sopInstanceUid))];
    for (let i = 0; i < uids.length; i += CHUNK) {
      const chunk = uids.slice(i, i + CHUNK);
      const rows = await this.o.db.query<
        { sop_instance_uid: string; sop_class_uid: string; path: string; file_size: number }
      >(
        `SELECT sop_instance_uid, sop_class_uid, path, file_size FROM instances
        WHERE removed_at IS NULL AND sop_instance_uid IN (${chunk.map(() => "?").join(",")})`,
        chunk,
      );
      for (const r of rows) {
        held.set(r.sop_instance_uid, {
          sopClassUid: r.sop_class_uid,
          path: r.path,
          fileSize: Number(r.file_size),
        });
      }
    }
    const report: CommitmentReport = {
      transactionUid: request.transactionUid,
      committed: [],
      failed: [],
      retrieveAet: this.o.config.dimse.aet,
    };
    for (const ref of request.references) {
      const row = held.get(ref.sopInstanceUid);
      if (!row) {
        report.failed.push({ ...ref, reason: FailureReason.NoSuchObjectInstance });
      } else if (row.sopClassUid !== ref.sopClassUid) {
        report.failed.push({ ...ref, reason: FailureReason.ClassInstanceConflict });
      } else {
        const stat = await this.o.archive.stat(row.path).catch(() => undefined);
        if (!stat || stat.size !== row.fileSize) {
          report.failed.push({ ...ref, reason: FailureReason.ProcessingFailure });
        } else report.committed.push(ref);
      }
    }
    return report;
  }

  reported(request: CommitmentRequest, report: CommitmentReport, status: number): void {
    this.#done(request, report, status, "requester's association");
  }

  deliverLater(request: CommitmentRequest, report: CommitmentReport | undefined): void {
    const transaction = hashUid(request.transactionUid);
    const node = this.#node(request.requesterAet);
    if (!node) {
      // A new association can go only to a requester whose address the configuration gives (a node). The
      // request is forgotten; the requester finds no report and may ask again.
      this.o.log.warn("storage commitment report not delivered: the requester is no configured node", {
        requester: request.requesterAet,
        transaction,
      });
      this.#forget(request);
      this.o.onReport?.("unreachable");
      return;
    }
    this.#attempt(request, node, report, 1);
  }

  #attempt(
    request: CommitmentRequest,
    node: NodeConfig,
    report: CommitmentReport | undefined,
    n: number,
  ): void {
    if (this.#stopped) return;
    const run = this.#deliver(request, node, report).then(([status, sent]) => {
      this.#done(request, sent, status, "new association", n);
    }, (err) => {
      if (this.#stopped) return;
      const attempts = this.o.config.dimse.commitmentReportAttempts;
      const reason = (err as Error)?.message ?? String(err);
      if (n >= attempts) {
        this.o.log.error("storage commitment report not delivered after the last attempt", {
          requester: request.requesterAet,
          transaction: hashUid(request.transactionUid),
          attempts: n,
          reason,
        });
        this.#forget(request, true);
        this.o.onReport?.("given-up");
        return;
      }
      const waitMs = Math.min(
        MAX_BACKOFF_MS,
        this.o.config.dimse.commitmentRetrySeconds * 1000 * 2 ** (n - 1),
      );
      this.o.log.warn("storage commitment report not delivered; retrying", {
        requester: request.requesterAet,
        transaction: hashUid(request.transactionUid),
        attempt: n,
        retryInMs: waitMs,
        reason,
      });
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#attempt(request, node, undefined, n + 1);
      }, waitMs);
      this.#timers.add(timer);
    }).finally(() => this.#running.delete(run));
    this.#running.add(run);
  }

  /** One delivery: decided (again, unless just decided), sent on a new association, answered. */
  async #deliver(
    request: CommitmentRequest,
    node: NodeConfig,
    report?: CommitmentReport,
  ): Promise<[number, CommitmentReport]> {
    report ??= await this.decide(request);
    const scu = await scuTo(this.o.config, node);
    this.#open.add(scu);
    try {
      await scu.open({ commitment: true });
      const status = await scu.eventReport(report);
      if (status !== Status.Success && !isWarning(status)) {
        throw new Error(`${node.aet} answered the report with ${statusHex(status)}`);
      }
      return [status, report];
    } finally {
      this.#open.delete(scu);
      await scu.release().catch(() => {});
    }
  }

  #done(
    request: CommitmentRequest,
    report: CommitmentReport | undefined,
    status: number,
    via: string,
    attempt = 1,
  ) {
    this.o.log.info("storage commitment reported", {
      requester: request.requesterAet,
      transaction: hashUid(request.transactionUid),
      via,
      attempt,
      status: statusHex(status),
      ...(report ? { committed: report.committed.length, failed: report.failed.length } : {}),
    });
    this.#forget(request);
    this.o.onReport?.("delivered");
  }

  /** The request's record is removed (kept aside as `.failed` when its report could not be delivered). */
  #forget(request: CommitmentRequest, failed = false): void {
    const file = this.#file(request);
    try {
      if (failed) fs.renameSync(file, file.replace(/\.json$/, ".failed"));
      else fs.rmSync(file, { force: true });
    } catch { /* already gone */ }
  }

  #file(request: CommitmentRequest): string {
    const id = createHash("sha256").update(`${request.requesterAet}\0${request.transactionUid}`).digest(
      "hex",
    );
    return path.join(this.dir, `${id.slice(0, 32)}.json`);
  }

  #node(aet: string): NodeConfig | undefined {
    return Object.values(this.o.config.nodes).find((n) => n.aet === aet);
  }
}

function syncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch { /* a platform that cannot sync a directory */ }
}

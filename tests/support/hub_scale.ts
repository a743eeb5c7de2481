/**
 * Fills a real hub database (libsql file or PostgreSQL, opened by hub/db) with what a year of a central
 * team's work leaves there: transfer jobs and their tasks (one job of 5 000 studies, a few still running),
 * batches with their results and summaries (one of 20 000 result rows), the audit log, users, API tokens, sites and
 * console sessions (most of them expired). Synthetic and deterministic (a seeded generator): no PHI, the
 * same database on every run. Rows go in multi-row inserts, many to a transaction.
 *
 * `deno run -A tests/tools/fill_hub.ts --data DIR | --db URL [--scale 0.01]` runs it from the shell
 * (bench/README.md, "Hub database at a year's scale").
 */
import { createHash } from "node:crypto";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { atomically } from "../../hub/db/atomic.ts";
import { type HubDb, openHubDb } from "../../hub/db/db.ts";
import { Logger } from "@conduit/shared/log";
import { TransferService } from "../../hub/transfers/service.ts";
import type { Sessions } from "../../hub/tunnel/sessions.ts";
import { SiteRequestError } from "../../hub/tunnel/errors.ts";
import { testDatabase, testOnPostgres } from "./postgres.ts";
import * as t from "../../hub/db/schema.ts";
import { resultColumns } from "../../hub/transfers/batch_summary.ts";

export interface HubScale {
  sites: number;
  users: number;
  tokens: number;
  /** Console sessions past their expiry (never logged out), and live ones. */
  expiredSessions: number;
  liveSessions: number;
  transfers: number;
  /** Every job's tasks together, the big job's included. */
  tasks: number;
  /** Studies of the one big job (the newest finished one). */
  bigJob: number;
  /** Jobs still pending or in progress (the newest ones), each with its share of tasks. */
  activeJobs: number;
  batches: number;
  /** Every batch's result rows together, the big batch's included. */
  batchResults: number;
  /** Result rows of the one big batch (the newest). */
  bigBatch: number;
  audit: number;
}

/** A year of a central team's work (the hub's scale expectations in docs/operations.md). */
export const YEAR: HubScale = {
  sites: 40,
  users: 60,
  tokens: 30,
  expiredSessions: 5_000,
  liveSessions: 40,
  transfers: 20_000,
  tasks: 500_000,
  bigJob: 5_000,
  activeJobs: 20,
  batches: 2_000,
  batchResults: 200_000,
  bigBatch: 20_000,
  audit: 2_000_000,
};

/** `YEAR` with every count but the handful (sites, users, tokens, active jobs) times `factor`. */
export function scaled(factor: number): HubScale {
  const n = (v: number, min = 1) => Math.max(min, Math.round(v * factor));
  return {
    ...YEAR,
    expiredSessions: n(YEAR.expiredSessions),
    transfers: n(YEAR.transfers, YEAR.activeJobs + 2),
    tasks: n(YEAR.tasks, 200),
    bigJob: n(YEAR.bigJob, 50),
    batches: n(YEAR.batches, 3),
    batchResults: n(YEAR.batchResults, 60),
    bigBatch: n(YEAR.bigBatch, 20),
    audit: n(YEAR.audit, 100),
  };
}

/** What fillHub() made: the ids a measurement opens (the big job, the big batch), and how long it took. */
export interface Filled {
  scale: HubScale;
  bigJobId: string;
  bigBatchId: string;
  /** A live session's cookie value (its id), of user `user-001` (admin). */
  sessionId: string;
  ms: number;
}

const DAY = 86_400_000;

/** Deterministic numbers (mulberry32). */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const pad = (n: number, w = 6) => String(n).padStart(w, "0");
const uid = (kind: number, n: number) => `1.2.826.0.1.3680043.8.498.${kind}.${n}`;

/**
 * Rows in multi-row inserts of `per` rows (under SQLite's and PostgreSQL's bound-parameter limits), a
 * transaction for every `perTx` of them.
 */
async function insertAll<R>(
  db: HubDb,
  table: SQLiteTable,
  rows: Iterable<R>,
  columns: number,
  perTx = 20_000,
): Promise<void> {
  const per = Math.max(1, Math.floor(30_000 / columns));
  let chunk: R[] = [];
  const flush = async () => {
    if (!chunk.length) return;
    const all = chunk;
    chunk = [];
    await atomically(db, (tx) => {
      const out = [];
      for (let i = 0; i < all.length; i += per) {
        // deno-lint-ignore no-explicit-any
        out.push(tx.insert(table).values(all.slice(i, i + per) as any));
      }
      return out;
    });
  };
  for (const r of rows) {
    chunk.push(r);
    if (chunk.length >= perTx) await flush();
  }
  await flush();
}

/** Splits `total` into `parts` counts of at least `min` each, at random around the mean. */
function shares(total: number, parts: number, rnd: () => number, min = 1): number[] {
  if (parts <= 0) return [];
  const out = Array.from({ length: parts }, () => min);
  let left = total - min * parts;
  const mean = Math.max(1, left / parts);
  for (let i = 0; i < parts && left > 0; i++) {
    const k = Math.min(left, Math.floor(rnd() * 2 * mean));
    out[i] += k;
    left -= k;
  }
  for (let i = 0; left > 0; i = (i + 1) % parts, left--) out[i]++;
  return out;
}

const ACTIONS = [
  ["login", 30],
  ["transfer.create", 10],
  ["dicomweb.erase", 4],
  ["site.conflict.resolve", 3],
  ["login.failed", 3],
  ["transfer.cancel", 1],
  ["transfer.retry", 1],
  ["audit.export", 1],
  ["token.create", 1],
  ["user.role", 1],
] as const;

/** Fills `db` (a freshly migrated hub database) to `scale`; `now` is the end of the year it spans. */
export async function fillHub(db: HubDb, scale: HubScale = YEAR, now = Date.now()): Promise<Filled> {
  const started = performance.now();
  const rnd = random(20261205);
  const start = now - 365 * DAY;
  const site = (i: number) => `site-${pad(i % scale.sites, 2)}`;
  const user = (i: number) => `user-${pad(i % scale.users, 3)}`;

  await insertAll(
    db,
    t.sites,
    Array.from({ length: scale.sites }, (_, i) => ({
      name: site(i),
      state: "offline",
      credentialHash: pad(i, 64),
      createdAt: start,
      enrolledAt: start + DAY,
      lastSeenAt: now - 60_000,
      agentVersion: "1.0.0",
    })),
    10,
  );
  await insertAll(
    db,
    t.users,
    Array.from({ length: scale.users }, (_, i) => ({
      name: user(i),
      role: i % 10 === 1 ? "admin" : i % 3 ? "operator" : "viewer",
      passwordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$0000000000000000000000000000000000000000000",
      createdAt: start,
    })),
    5,
  );
  await insertAll(
    db,
    t.apiTokens,
    Array.from({ length: scale.tokens }, (_, i) => ({
      id: `tok-${pad(i)}`,
      name: `script ${i}`,
      role: "operator",
      secretHash: pad(i, 64),
      createdAt: start + i * DAY,
    })),
    8,
  );
  const sessionId = "scale-session-user-001";
  await insertAll(
    db,
    t.sessions,
    (function* () {
      for (let i = 0; i < scale.expiredSessions; i++) {
        const at = start + Math.floor((i / scale.expiredSessions) * 350 * DAY);
        yield {
          idHash: `expired-${pad(i, 8)}`,
          user: user(i),
          csrf: "x",
          createdAt: at,
          expiresAt: at + DAY / 2,
        };
      }
      for (let i = 0; i < scale.liveSessions; i++) {
        yield {
          idHash: i === 0 ? createHash("sha256").update(sessionId).digest("hex") : `live-${pad(i, 8)}`,
          user: i === 0 ? "user-001" : user(i),
          csrf: "x",
          createdAt: now - 3_600_000,
          expiresAt: now + 3_600_000,
        };
      }
    })(),
    5,
  );

  // Jobs, oldest first; the big one is the newest finished, the active ones come after it.
  const bigIndex = scale.transfers - scale.activeJobs - 1;
  const others = shares(scale.tasks - scale.bigJob, scale.transfers - 1, rnd);
  const sizes = [...others.slice(0, bigIndex), scale.bigJob, ...others.slice(bigIndex)];
  const jobId = (j: number) => `job-${pad(j, 7)}`;
  const jobAt = (j: number) => start + Math.floor((j / scale.transfers) * 364 * DAY);
  const statusOf = (j: number) =>
    j > bigIndex
      ? (j % 2 ? "in_progress" : "pending")
      : j % 50 === 0
      ? "failure"
      : j % 37 === 0
      ? "canceled"
      : j % 23 === 0
      ? "warning"
      : "success";
  await insertAll(
    db,
    t.transfers,
    Array.from({ length: scale.transfers }, (_, j) => {
      const src = Math.floor(rnd() * scale.sites);
      return {
        id: jobId(j),
        sourceSite: site(src),
        destinationSite: site(src + 1 + Math.floor(rnd() * (scale.sites - 1))),
        status: statusOf(j),
        priority: j % 10 === 0 ? 1 : 0,
        deid: j % 3 === 0 ? JSON.stringify({ profile: "basic", options: ["retain-uids"] }) : null,
        createdBy: user(j),
        createdAt: jobAt(j),
        updatedAt: jobAt(j) + 3_600_000,
      };
    }),
    20,
  );
  let task = 0;
  await insertAll(
    db,
    t.transferTasks,
    (function* () {
      for (let j = 0; j < scale.transfers; j++) {
        const job = statusOf(j);
        for (let k = 0; k < sizes[j]; k++, task++) {
          const objects = 50 + (task % 400);
          const status = job === "pending"
            ? "pending"
            : job === "in_progress"
            ? (k % 3 === 0 ? "success" : k % 3 === 1 ? "in_progress" : "queued")
            : job === "success" || k % 5
            ? "success"
            : job;
          const finished = status === "success" || status === "warning";
          yield {
            id: `task-${pad(task, 8)}`,
            transferId: jobId(j),
            studyInstanceUid: uid(1, task),
            status,
            objects: status === "pending" ? null : objects,
            done: finished ? objects : status === "in_progress" ? objects >> 1 : 0,
            failed: status === "failure" ? 3 : 0,
            attempts: status === "pending" ? 0 : 1,
            lastError: status === "failure" ? "the destination refused 3 objects (0xA700)" : null,
            updatedAt: jobAt(j) + 60_000,
          };
        }
      }
    })(),
    16,
  );

  // Batches, oldest first; the big one is the newest.
  const results = shares(scale.batchResults - scale.bigBatch, scale.batches - 1, rnd);
  results.push(scale.bigBatch);
  for (let b = 0; b < scale.batches; b += 100) {
    await insertAll(
      db,
      t.batches,
      Array.from({ length: Math.min(100, scale.batches - b) }, (_, i) => {
        const n = b + i;
        const at = start + Math.floor((n / scale.batches) * 364 * DAY);
        const count = results[n];
        const rows = Array.from({ length: count }, (_, r) => ({
          row: r + 2,
          keys: { AccessionNumber: `ACC${pad(n, 5)}${pad(r)}` },
        }));
        const found = rows.map((r, k) => ({
          row: r.row,
          site: site(n),
          error: k % 20 === 19 ? "no study matches this row" : "",
          PatientID: `PSEUDO-${pad(k)}`,
          PatientName: "ANON^PATIENT",
          PatientBirthDate: "",
          AccessionNumber: r.keys.AccessionNumber,
          StudyDate: "20260101",
          ModalitiesInStudy: "CT\\SR",
          StudyDescription: "CT CHEST W CONTRAST",
          StudyInstanceUID: uid(2, n * 100_000 + k),
          NumberOfStudyRelatedInstances: "412",
        }));
        return {
          id: `batch-${pad(n, 5)}`,
          kind: n % 2 ? "query" : "transfer",
          filename: `list-${n}.csv`,
          status: "done",
          sites: JSON.stringify({ sites: [site(n)], destination: n % 2 ? undefined : { site: site(n + 1) } }),
          rows: JSON.stringify(rows),
          ...resultColumns(rows, found),
          createdBy: user(n),
          createdAt: at,
          updatedAt: at + 600_000,
        };
      }),
      11,
      100,
    );
  }

  const weights = ACTIONS.reduce((n, [, w]) => n + w, 0);
  await insertAll(
    db,
    t.audit,
    (function* () {
      for (let i = 0; i < scale.audit; i++) {
        let pick = (i * 7919) % weights;
        const [action] = ACTIONS.find(([, w]) => (pick -= w) < 0)!;
        const at = start + Math.floor((i / scale.audit) * 365 * DAY);
        yield {
          at,
          actor: action.startsWith("login") ? "anonymous" : `user:${user(i)}`,
          action,
          target: action === "transfer.create" ? jobId(i % scale.transfers) : site(i),
          detail: JSON.stringify({ address: "127.0.0.1" }),
        };
      }
    })(),
    5,
    50_000,
  );
  return {
    scale,
    bigJobId: jobId(bigIndex),
    bigBatchId: `batch-${pad(scale.batches - 1, 5)}`,
    sessionId,
    ms: Math.round(performance.now() - started),
  };
}

/** Every site offline: a cancel records that the source is told later, a pass starts nothing. */
export const offlineSessions = {
  online: () => false,
  get: () => undefined,
  featuresOf: () => Promise.resolve(undefined),
  ask: () => Promise.reject(new SiteRequestError("offline", "the site is offline")),
} as unknown as Sessions;

/**
 * A hub database in a new folder (PostgreSQL under `deno task test:pg`) filled at `factor` of a year, and a
 * TransferService over it (sessions and site checks take no part in reading jobs); `close` removes both.
 */
export async function filledTransfers(prefix: string, factor: number) {
  const dir = await Deno.makeTempDir({ prefix });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  const filled = await fillHub(db, scaled(factor));
  const service = new TransferService(
    db,
    undefined as never,
    () => Promise.resolve(true),
    new Logger({}, "error"),
  );
  return {
    db,
    filled,
    service,
    close: async () => {
      await db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

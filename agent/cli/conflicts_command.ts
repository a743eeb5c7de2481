/**
 * `deno task agent conflicts`: the objects received again with other bytes (docs/operations.md,
 * "Duplicates and conflicts"), newest first, read from the index itself on a read-only connection: while
 * the agent runs (WAL mode lets a reader beside it) or while it is stopped.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import LibsqlDatabase from "libsql";
import { commandLine } from "@conduit/shared/cli";
import { ConfigError } from "../config/load.ts";
import { CONFLICTS_PAGE_MAX, type ConflictView, listConflicts, sinceOf } from "../index/conflicts.ts";
import { dataDirOf } from "./_data_dir.ts";

const USAGE =
  `usage: deno task agent conflicts [--config FILE | --data DIR] [--since WHEN] [--limit N] [--json]
  objects received again with other bytes than the archived ones (archive.duplicates), newest first
  --config FILE     the agent's configuration file, for its data directory
  --data DIR        the agent's data directory (default: the configuration's, else ./data/agent)
  --since WHEN      only those received since WHEN, ISO 8601 (2026-12-01, 2026-12-01T08:00Z; UTC without
                    an offset)
  --limit N         at most N of them (1 to ${CONFLICTS_PAGE_MAX}, default 100)
  --json            one JSON object: {total, conflicts: [...]} with both SHA-256 in full
Reads agent.db itself, read-only: the agent may be running or stopped.`;

class UsageError extends Error {}

export function conflictsCommand(args: string[]): Promise<number> {
  return Promise.resolve(run(args));
}

function run(args: string[]): number {
  const parsed = commandLine("agent conflicts", USAGE, args, {
    config: { type: "string" },
    data: { type: "string" },
    since: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  let dataDir: string;
  let limit = 100;
  let since: number | undefined;
  try {
    if (parsed.positionals.length) {
      throw new UsageError(`takes no arguments, only options (${JSON.stringify(parsed.positionals[0])})`);
    }
    if (v.limit !== undefined) {
      limit = /^[1-9][0-9]*$/.test(v.limit) ? Number(v.limit) : NaN;
      if (!(limit <= CONFLICTS_PAGE_MAX)) {
        throw new UsageError(
          `--limit takes a number of conflicts (1 to ${CONFLICTS_PAGE_MAX}), not ${JSON.stringify(v.limit)}`,
        );
      }
    }
    if (v.since !== undefined) {
      since = sinceOf(v.since);
      if (since === undefined) {
        throw new UsageError(
          `--since takes an ISO 8601 date or time (2026-12-01, 2026-12-01T08:00Z), not ${
            JSON.stringify(v.since)
          }`,
        );
      }
    }
    dataDir = dataDirOf(v);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`agent conflicts: ${err.message}\n${USAGE}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  const file = path.join(dataDir, "agent.db");
  if (!fs.existsSync(file)) {
    console.error(
      `agent conflicts: there is no agent.db in ${dataDir} (give the agent's --data or --config; an agent ` +
        "that never ran has recorded none)",
    );
    return 1;
  }
  let page: { total: number; conflicts: ConflictView[] };
  try {
    const db = new LibsqlDatabase(file, { readonly: true, fileMustExist: true }) as unknown as {
      prepare(sql: string): {
        all(...p: unknown[]): Record<string, unknown>[];
        get(...p: unknown[]): Record<string, unknown> | undefined;
      };
      exec(sql: string): void;
      close(): void;
    };
    try {
      db.exec("PRAGMA busy_timeout = 10000");
      page = listConflicts({ statement: (sql) => db.prepare(sql) }, { limit, since });
    } finally {
      db.close();
    }
  } catch (err) {
    console.error(`agent conflicts: cannot read ${file}: ${(err as Error).message}`);
    return 1;
  }
  if (v.json) {
    console.log(JSON.stringify(page));
    return 0;
  }
  if (page.total === 0) {
    console.log(since === undefined ? "no conflicts recorded" : `no conflicts recorded since ${v.since}`);
    return 0;
  }
  console.log(table(page.conflicts));
  const shown = page.conflicts.length;
  console.log(
    shown < page.total
      ? `${shown} of ${page.total} conflicts, newest first (--limit for more; --json for both hashes in full)`
      : `${page.total} conflict${page.total === 1 ? "" : "s"}, newest first (--json for both hashes in full)`,
  );
  return 0;
}

/** The conflicts as aligned columns; the hashes shortened to their first 16 hex digits. */
function table(rows: ConflictView[]): string {
  const head = [
    "RECEIVED (UTC)",
    "POLICY",
    "CALLING AE",
    "SOP INSTANCE UID",
    "STORED",
    "RECEIVED",
    "KEPT AS",
  ];
  const cells = rows.map((r) => [
    r.receivedAt.replace("T", " ").replace(/\.\d+Z$/, "Z"),
    r.policy,
    r.callingAet || "-",
    r.sopInstanceUid,
    r.storedSha256.slice(0, 16),
    r.receivedSha256.slice(0, 16),
    r.keptPath ?? "-",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  return [head, ...cells].map((c) => c.map((x, i) => x.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

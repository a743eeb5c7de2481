/**
 * `deno task agent conflicts`: the objects received again with other bytes (docs/operations.md,
 * "Duplicates and conflicts"), newest first, read from the index itself on a read-only connection: while
 * the agent runs (WAL mode lets a reader beside it) or while it is stopped.
 *
 * `deno task agent conflicts resolve ID --keep stored|received`: settles one, through the running agent's
 * loopback HTTP API (the agent changes its archive and index itself).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import LibsqlDatabase from "libsql";
import { commandLine, commandOf } from "@conduit/shared/cli";
import { ConfigError } from "../config/load.ts";
import { CONFLICTS_PAGE_MAX, type ConflictView, listConflicts, sinceOf } from "../index/conflicts.ts";
import { dataDirOf } from "./_data_dir.ts";
import { agentBaseUrl, agentFetch, CliUsageError } from "./_http.ts";

const AGENT = commandOf("agent");

const USAGE =
  `usage: ${AGENT} conflicts [--config FILE | --data DIR] [--since WHEN] [--unresolved] [--limit N]
                                 [--json]
       ${AGENT} conflicts resolve ID --keep stored|received [--config FILE] [--http-host ADDR]
                                 [--http-port N] [--json]
  objects received again with other bytes than the archived ones (archive.duplicates), newest first
  --config FILE     the agent's configuration file, for its data directory (and, to resolve, its HTTP port)
  --data DIR        the agent's data directory (default: the configuration's, else ./data/agent)
  --since WHEN      only those received since WHEN, ISO 8601 (2026-12-01, 2026-12-01T08:00Z; UTC without
                    an offset)
  --unresolved      only those not resolved yet
  --limit N         at most N of them (1 to ${CONFLICTS_PAGE_MAX}, default 100)
  --json            one JSON object: {total, conflicts: [...]} with both SHA-256 in full (resolve: the
                    conflict as resolved)
  --keep WHICH      resolve: stored (the kept copy is deleted) or received (the kept copy becomes the
                    archived object, indexed and routed again)
  --http-host ADDR  resolve: the agent's HTTP address (default: the configuration's)
  --http-port N     resolve: the agent's HTTP port (default: the configuration's)
Listing reads agent.db itself, read-only: the agent may be running or stopped. Resolving goes through the
running agent.`;

class UsageError extends Error {}

export function conflictsCommand(args: string[]): Promise<number> {
  return Promise.resolve(run(args));
}

const OPTIONS = {
  config: { type: "string" },
  data: { type: "string" },
  since: { type: "string" },
  unresolved: { type: "boolean" },
  limit: { type: "string" },
  json: { type: "boolean" },
  keep: { type: "string" },
  "http-host": { type: "string" },
  "http-port": { type: "string" },
} as const;

function run(args: string[]): number | Promise<number> {
  const parsed = commandLine("agent conflicts", USAGE, args, OPTIONS);
  if (typeof parsed === "number") return parsed;
  if (parsed.positionals[0] === "resolve") return resolve(parsed.positionals.slice(1), parsed.values);
  const v = parsed.values;
  let dataDir: string;
  let limit = 100;
  let since: number | undefined;
  try {
    if (parsed.positionals.length) {
      throw new UsageError(
        `takes no arguments but resolve, only options (${JSON.stringify(parsed.positionals[0])})`,
      );
    }
    const misplaced = (["keep", "http-host", "http-port"] as const).find((o) => v[o] !== undefined);
    if (misplaced) throw new UsageError(`--${misplaced} is an option of resolve`);
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
      page = listConflicts({ statement: (sql) => db.prepare(sql) }, {
        limit,
        since,
        unresolved: v.unresolved,
      });
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
    console.log(
      `no ${v.unresolved ? "unresolved " : ""}conflicts recorded${
        since === undefined ? "" : ` since ${v.since}`
      }`,
    );
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
    "RESOLVED",
  ];
  const cells = rows.map((r) => [
    r.receivedAt.replace("T", " ").replace(/\.\d+Z$/, "Z"),
    r.policy,
    r.callingAet || "-",
    r.sopInstanceUid,
    r.storedSha256.slice(0, 16),
    r.receivedSha256.slice(0, 16),
    r.keptPath ?? "-",
    resolved(r),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  return [head, ...cells].map((c) => c.map((x, i) => x.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

/** A conflict's resolution as the table shows it: `keep stored`, `keep received (under way)`, or `-`. */
function resolved(r: ConflictView): string {
  if (!r.resolution) return "-";
  return `keep ${r.resolution}${r.resolvedAt ? "" : " (under way)"}`;
}

/** `resolve ID --keep stored|received`: through the running agent's `POST /conflicts/:id/resolve`. */
async function resolve(
  positionals: string[],
  v:
    & {
      config?: string;
      data?: string;
      keep?: string;
      json?: boolean;
      "http-host"?: string;
      "http-port"?: string;
    }
    & Record<string, unknown>,
): Promise<number> {
  let url = "";
  let id: string;
  let keep: string;
  try {
    if (positionals.length !== 1 || !/^[1-9][0-9]{0,15}$/.test(positionals[0])) {
      throw new CliUsageError(
        positionals.length === 0
          ? "resolve needs the ID of a conflict (agent conflicts lists them)"
          : `resolve takes one conflict ID, a number, not ${JSON.stringify(positionals.join(" "))}`,
      );
    }
    id = positionals[0];
    if (v.keep !== "stored" && v.keep !== "received") {
      throw new CliUsageError(
        `resolve needs --keep stored or --keep received${
          v.keep === undefined ? "" : `, not ${JSON.stringify(v.keep)}`
        }`,
      );
    }
    keep = v.keep;
    const misplaced = (["data", "since", "unresolved", "limit"] as const).find((o) => v[o] !== undefined);
    if (misplaced) throw new CliUsageError(`--${misplaced} is not an option of resolve`);
    url = `${agentBaseUrl(v)}/conflicts/${id}/resolve`;
  } catch (err) {
    if (err instanceof CliUsageError || err instanceof ConfigError) {
      console.error(`agent conflicts: ${err.message}\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  let res: Response;
  try {
    res = await agentFetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ keep }),
    });
  } catch (err) {
    console.error(
      `agent conflicts: cannot reach the agent at ${
        new URL(url).origin
      } to resolve (a conflict is resolved ` +
        "by the running agent: start it, or give the same --config as the agent, or --http-host and " +
        `--http-port): ${(err as Error).message}`,
    );
    return 1;
  }
  const body = await res.json().catch(() => ({})) as { conflict?: ConflictView; error?: string };
  if (!res.ok || !body.conflict) {
    console.error(
      `agent conflicts: conflict ${id} not resolved: ${
        body.error ?? `the agent answered HTTP ${res.status}`
      }${
        res.status === 404 && !body.error?.startsWith("there is no")
          ? " (an agent of an earlier version?)"
          : ""
      }`,
    );
    return 1;
  }
  if (v.json) console.log(JSON.stringify(body.conflict));
  else {
    const c = body.conflict;
    console.log(
      c.resolution === "stored"
        ? `conflict ${c.id} resolved: the stored object kept, the received copy ${c.keptPath} deleted`
        : `conflict ${c.id} resolved: the received copy is now the archived object of ${c.sopInstanceUid} ` +
          "(indexed and routed again), the stored one deleted",
    );
  }
  return 0;
}

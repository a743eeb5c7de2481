/**
 * `deno task hub admin audit [--actor A] [--action X] [--target T] [--from T] [--to T] [--limit N|all]
 * [--csv | --json]`: the audit log on the hub's database, newest first, filtered as `audit.list` filters it
 * (hub/auth/audit.ts); as a table, one JSON object, or CSV (the console's "Download CSV", with no cap).
 * Each run is itself audited (`audit.export` by `cli`: the filter, the limit, how many entries, the form),
 * once it has given its entries (or failed part way: `failed`).
 */
import { commandLine, commandOf } from "@conduit/shared/cli";
import { openAdminDb } from "./open_db.ts";
import {
  auditCsv,
  type AuditEntry,
  type AuditFilter,
  AuditFilterError,
  each,
  exportEntry,
  instantOf,
} from "../auth/audit.ts";

const HUB = commandOf("hub");

const USAGE = `usage: ${HUB} admin audit [--actor A] [--action X] [--target T] [--from T] [--to T]
         [--limit N|all] [--csv | --json] [--config FILE | --data DIR | --db URL]
  --actor A    who: user:NAME, token:NAME, cli, hub or anonymous
  --action X   what: an action (site.add), or a prefix ending in . or * (site., login*)
  --target T   on what: a user or site name, a transfer or token id
  --from T     from this instant on (ISO 8601: 2026-03-01 or 2026-03-01T08:00:00Z)
  --to T       before this instant
  --limit N    the newest N matching entries (default 100); all: every one
  --csv        CSV on stdout: id, at, actor, action, target, detail (JSON)
  --json       one JSON object on stdout: { "entries": [...] }
Each run is itself audited (audit.export by cli: the filter, the limit, how many entries).`;

/** The limit a command line asks for: a positive number, or `all`; undefined when it is neither. */
function limitOf(value: string | undefined): number | undefined {
  if (value === undefined) return 100;
  if (value === "all") return Infinity;
  return /^[1-9]\d*$/.test(value) ? Number(value) : undefined;
}

export async function auditCommand(
  args: string[],
  defaults: { data: string; db?: string; fresh?: boolean },
): Promise<number> {
  const parsed = commandLine("hub admin audit", USAGE, args, {
    data: { type: "string" },
    db: { type: "string" },
    json: { type: "boolean" },
    csv: { type: "boolean" },
    actor: { type: "string" },
    action: { type: "string" },
    target: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
    limit: { type: "string" },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  const fail = (message: string) => {
    console.error(`hub admin audit: ${message}\n${USAGE}`);
    return 2;
  };
  if (parsed.positionals.length) return fail(`unexpected ${parsed.positionals[0]}`);
  if (v.json && v.csv) return fail("give --csv or --json, not both");
  const limit = limitOf(v.limit);
  if (limit === undefined) return fail(`--limit: ${v.limit} is neither a positive number nor all`);
  const filter: AuditFilter = {};
  for (const key of ["actor", "action", "target"] as const) {
    if (v[key] !== undefined) {
      if (!v[key]) return fail(`--${key}: empty`);
      filter[key] = v[key];
    }
  }
  try {
    if (v.from !== undefined) filter.from = instantOf(v.from, "--from");
    if (v.to !== undefined) filter.to = instantOf(v.to, "--to");
  } catch (err) {
    if (err instanceof AuditFilterError) return fail(err.message);
    throw err;
  }
  const db = await openAdminDb("audit", v, defaults);
  if (typeof db === "number") return db;
  const format = v.csv ? "csv" : v.json ? "json" : "table";
  let given = 0;
  const record = (failed: boolean) =>
    exportEntry(db, "cli", {
      format,
      filter,
      entries: given,
      limit: limit === Infinity ? "all" : limit,
      ...(failed ? { failed: true as const } : {}),
    });
  try {
    try {
      if (v.csv) {
        // Streamed a thousand at a time: an export of the whole log holds one page in memory, not the log.
        const out = new TextEncoder();
        let page: AuditEntry[] = [];
        let header = true;
        const flush = async () => {
          await writeAll(out.encode(auditCsv(page, header)));
          given += page.length;
          header = false;
          page = [];
        };
        for await (const e of each(db, filter, limit)) {
          page.push(e);
          if (page.length === 1000) await flush();
        }
        if (page.length || header) await flush();
      } else {
        const entries: AuditEntry[] = [];
        for await (const e of each(db, filter, limit)) entries.push(e);
        if (v.json) console.log(JSON.stringify({ entries }));
        else if (!entries.length) console.log("no audit entries");
        else {
          console.log(["AT", "ACTOR", "ACTION", "TARGET", "DETAIL"].join("\t"));
          for (const e of entries) {
            console.log(
              [e.at, e.actor, e.action, e.target ?? "-", e.detail ? JSON.stringify(e.detail) : "-"]
                .map((f) => f.replace(/[\t\r\n]/g, " ")).join("\t"),
            );
          }
        }
        given = entries.length;
      }
    } catch (err) {
      // Recorded as failed, what it gave so far, if the database still takes it; the export's error is kept.
      try {
        await record(true);
      } catch { /* the export's own error says more */ }
      throw err;
    }
    // `--actor alice` matches no one: actors are whole (user:alice). Said when it found nothing.
    if (given === 0 && filter.actor && !/^(user|token):|^(cli|hub|anonymous|unknown)$/.test(filter.actor)) {
      console.error(
        `hub admin audit: --actor ${filter.actor}: actors are user:NAME, token:NAME, cli, hub or anonymous ` +
          `(user:${filter.actor}?)`,
      );
    }
    // An export whose entry cannot be written fails (exit code 1), though it printed its entries.
    await record(false);
    return 0;
  } finally {
    await db.close();
  }
}

async function writeAll(bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await Deno.stdout.write(bytes.subarray(done));
}

/**
 * `deno task hub admin migrate-db --to postgres://... [--from file:PATH | --data DIR] [--json]`: moves a hub
 * from its libsql file to PostgreSQL (to run several hubs on it, docs/operations.md). Every table the hub
 * keeps (sites with their credentials' and enrollment tokens' hashes, API tokens, users, console sessions,
 * the audit log, transfers and their tasks, batches, credential rotations) is copied as it is, row for row,
 * into a PostgreSQL this version migrates first and that must hold none of a hub's rows, in one transaction
 * that counts every table's rows again before it commits: a failure leaves the PostgreSQL as it was. The
 * file is read in one read transaction and keeps its rows (an older version's file is migrated first, as by
 * every admin command). Stop the hub first: what it writes meanwhile would not be copied. What is a hub's
 * own state on its database is not copied: the cluster's hubs and site leases (none on a file) and the
 * health probe's row. Nothing secret is printed: only tables and counts, and the PostgreSQL URL without its
 * password.
 */
import { getTableConfig } from "drizzle-orm/sqlite-core";
import { commandLine, commandOf } from "@conduit/shared/cli";
import * as fs from "node:fs";
import { hubHolding } from "../data_lock.ts";
import { DbUrlError, hubDbFile, openHubDb, openHubFile, redactDbUrl, SchemaTooNewError } from "../db/db.ts";
import { tablesOf } from "../db/schema.ts";

const HUB = commandOf("hub");

const USAGE = `usage: ${HUB} admin migrate-db --to postgres://user:pass@host:port/db ` +
  "[--from file:PATH | --data DIR] [--json]\n" +
  "  --from file:PATH  the hub's libsql file (--db file:PATH says the same, as the other admin commands take it)\n" +
  "  --data DIR        the hub's data directory: its hub.db (default: the configuration's, else ./data/hub)";

/**
 * Tables not copied: a running hub's own state, and the counts PostgreSQL's triggers keep as the tasks are
 * copied (transfer_task_counts); nor are the rows of cluster_settings that are the probe's.
 */
const NOT_COPIED = new Set(["hubs", "site_leases", "transfer_task_counts"]);
const PROBE_KEY = "healthz";
/** Rows per INSERT statement (PostgreSQL takes at most 65,535 parameters in one). */
const CHUNK = 500;

/** Thrown inside the transaction to roll it back with a message for the operator. */
class MigrateError extends Error {}

export async function migrateDbCommand(
  args: string[],
  defaults: { data: string; db?: string },
): Promise<number> {
  const parsed = commandLine("hub admin migrate-db", USAGE, args, {
    data: { type: "string" },
    db: { type: "string" },
    from: { type: "string" },
    to: { type: "string" },
    json: { type: "boolean" },
  });
  if (typeof parsed === "number") return parsed;
  const to = parsed.values.to;
  if (parsed.positionals.length || !to) {
    console.error(`hub admin migrate-db: give the PostgreSQL to copy to with --to\n${USAGE}`);
    return 2;
  }
  if (!/^postgres(ql)?:\/\//.test(to)) {
    throw new DbUrlError(`--to: use postgres://user:password@host:port/database, not ${redactDbUrl(to)}`);
  }
  if (parsed.values.from !== undefined && parsed.values.db !== undefined) {
    // One would have been dropped (--from won), whichever the operator meant.
    console.error(`hub admin migrate-db: give --from or --db, not both (they say the same)\n${USAGE}`);
    return 2;
  }
  const flag = parsed.values.db !== undefined ? "--db" : "--from";
  const fromUrl = parsed.values.from ?? parsed.values.db ??
    (defaults.db?.startsWith("file:") ? defaults.db : undefined);
  if (fromUrl && !fromUrl.startsWith("file:")) {
    throw new DbUrlError(`${flag}: use file:PATH (the hub's libsql file), not ${redactDbUrl(fromUrl)}`);
  }
  const file = hubDbFile(parsed.values.data ?? defaults.data, fromUrl)!;
  if (!fs.existsSync(file)) {
    console.error(
      `hub admin migrate-db: there is no hub database at ${file} (give --from file:PATH or --data DIR)`,
    );
    return 2;
  }
  // A hub still running on the file would go on writing to it after the copy (sites, transfers, audit), and
  // what it wrote would be lost on the move (until 2026-12-07 copied without a word, as operations.md says
  // not to). The hub's data directory lock says whether one runs (hub/data_lock.ts).
  const holder = hubHolding(parsed.values.data ?? defaults.data);
  if (holder) {
    console.error(
      `hub admin migrate-db: a hub is running on ${
        parsed.values.data ?? defaults.data
      } (process ${holder}): ` +
        "stop it before moving its database (systemctl stop conduit-hub); nothing was copied",
    );
    return 1;
  }
  const json = parsed.values.json === true;
  // The file first (refused if a newer version wrote it; migrated to this version's schema otherwise).
  const source = await openHubFile(file);
  try {
    let target: Target;
    try {
      target = await openHubDb(parsed.values.data ?? defaults.data, to);
    } catch (err) {
      if (err instanceof SchemaTooNewError) throw err;
      console.error(`hub admin migrate-db: cannot open ${redactDbUrl(to)}: ${(err as Error).message}`);
      return 1;
    }
    try {
      const counts = await copy(source, target);
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      if (json) console.log(JSON.stringify({ from: file, to: redactDbUrl(to), tables: counts, rows: total }));
      else {
        for (const [name, n] of Object.entries(counts)) console.log(`${name}\t${n}`);
        console.log(
          `copied ${total} rows of ${Object.keys(counts).length} tables from ${file} to ${
            redactDbUrl(to)
          }; ` +
            "start the hub with --db on it (docs/operations.md, Moving a hub to PostgreSQL)",
        );
      }
      return 0;
    } catch (err) {
      if (!(err instanceof MigrateError)) throw err;
      console.error(`hub admin migrate-db: ${err.message}`);
      return 1;
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

type Source = Awaited<ReturnType<typeof openHubFile>>;
type Target = Awaited<ReturnType<typeof openHubDb>>;

async function copy(source: Source, target: Target): Promise<Record<string, number>> {
  const names = Object.values(tablesOf("sqlite")).map((t) => getTableConfig(t).name)
    .filter((n) => !NOT_COPIED.has(n));
  // deno-lint-ignore no-explicit-any
  const client = (source as any).$client as import("@libsql/client").Client;
  const sql = target.pg!;
  // One read transaction: a consistent view of the file, whatever writes to it meanwhile; read a chunk at a
  // time (by rowid), so that a long audit log never sits whole in memory.
  const read = await client.transaction("read");
  const counts: Record<string, number> = {};
  try {
    await sql.begin(async (tx) => {
      // A PostgreSQL holding a hub's rows (a hub ran on it, or a copy was made already) is refused as a whole.
      const held: string[] = [];
      for (const name of [...names, ...NOT_COPIED]) {
        const [{ n }] = await tx.unsafe(
          name === "cluster_settings"
            ? `select count(*)::int as n from "${name}" where key <> '${PROBE_KEY}'`
            : `select count(*)::int as n from "${name}"`,
        );
        if (n > 0) held.push(`${name} (${n})`);
      }
      if (held.length) {
        throw new MigrateError(
          `the PostgreSQL already holds a hub's rows: ${held.join(", ")}; copy into a new, empty database`,
        );
      }
      for (const name of names) {
        let copied = 0;
        let after = Number.MIN_SAFE_INTEGER;
        while (true) {
          const result = await read.execute({
            sql: `SELECT rowid AS "__rowid", * FROM "${name}" WHERE rowid > ? ORDER BY rowid LIMIT ${CHUNK}`,
            args: [after],
          });
          if (!result.rows.length) break;
          after = Number(result.rows.at(-1)![0]);
          const chunk = result.rows.map((r) =>
            Object.fromEntries(result.columns.slice(1).map((c, i) => [c, r[i + 1]]))
          )
            .filter((r) => !(name === "cluster_settings" && r.key === PROBE_KEY))
            // No agent is connected to the new database yet (a hub on its file says so at its next start too).
            .map((r) => name === "sites" && r.state === "online" ? { ...r, state: "offline" } : r);
          if (!chunk.length) continue;
          await tx`insert into ${tx(name)} ${tx(chunk as Record<string, never>[], Object.keys(chunk[0]))}`;
          copied += chunk.length;
        }
        const [{ n }] = await tx.unsafe(
          name === "cluster_settings"
            ? `select count(*)::int as n from "${name}" where key <> '${PROBE_KEY}'`
            : `select count(*)::int as n from "${name}"`,
        );
        const [{ m }] = await read.execute(
          name === "cluster_settings"
            ? `SELECT count(*) AS m FROM "${name}" WHERE key <> '${PROBE_KEY}'`
            : `SELECT count(*) AS m FROM "${name}"`,
        ).then((r) => r.rows as unknown as { m: number }[]);
        if (n !== copied || n !== Number(m)) {
          throw new MigrateError(`${name}: ${m} rows in the file, ${n} in PostgreSQL; nothing was copied`);
        }
        counts[name] = n;
      }
      // The sequences of auto-increment keys (the audit log's) go on after the rows copied.
      const serials = await tx.unsafe(
        `select table_name as t, column_name as c from information_schema.columns
         where table_schema = current_schema() and column_default like 'nextval(%'`,
      );
      for (const { t, c } of serials) {
        if (!names.includes(t)) continue;
        await tx.unsafe(
          `select setval(pg_get_serial_sequence('"${t}"', '${c}'), coalesce(max("${c}"), 0) + 1, false) from "${t}"`,
        );
      }
    });
  } finally {
    read.close();
  }
  return counts;
}

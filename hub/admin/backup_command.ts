/**
 * `deno task hub admin backup --out FILE [--config FILE | --data DIR | --db URL] [--json]`: a consistent copy of the hub's
 * libsql file made while the hub runs. SQLite's `VACUUM INTO` reads the live database in one read
 * transaction (in WAL mode the hub's writes go on meanwhile) and writes a compact copy of the last commit
 * before it began; a plain copy of `hub.db` could be torn, or miss what is still in `hub.db-wal`. The copy is
 * written beside FILE, checked (`PRAGMA integrity_check`), synced and only then renamed to FILE, so FILE is
 * whole or absent. The source is neither migrated nor written. On PostgreSQL the command refuses and names
 * the `pg_dump` to run instead.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { createClient } from "@libsql/client";
import { commandLine, commandOf } from "@conduit/shared/cli";
import { signalsSettled, stopSignal } from "@conduit/shared/process";
import { hubDbFile, migrationTag } from "../db/db.ts";
import { BUILD_TEXT, VERSION } from "../version.ts";

const HUB = commandOf("hub");

const USAGE = `usage: ${HUB} admin backup --out FILE [--config FILE | --data DIR | --db URL] [--json]
  --out FILE     the copy to write (it must not exist, or be empty); restore it as the hub's hub.db
  --json         print what was copied as one JSON object
On PostgreSQL (--db postgres://...) it names the pg_dump command to run instead.`;

/** Tables counted in the summary (what an operator checks a copy by). */
export const COUNTED = ["sites", "users", "api_tokens", "transfers", "audit"];

/** A PostgreSQL URL without its password: the password comes from PGPASSWORD or ~/.pgpass. */
export function withoutPassword(url: string): string {
  return url.replace(/^(\w+:\/\/[^:/@]*):[^@]*@/, "$1@");
}

export function syncPath(p: string): void {
  const fd = fs.openSync(p, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export async function backupCommand(
  args: string[],
  defaults: { data: string; db?: string },
): Promise<number> {
  const parsed = commandLine("hub admin backup", USAGE, args, {
    out: { type: "string" },
    data: { type: "string" },
    db: { type: "string" },
    json: { type: "boolean" },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  if (!v.out || parsed.positionals.length) {
    console.error(`hub admin backup: give the file to write with --out\n${USAGE}`);
    return 2;
  }
  const dbUrl = v.db ?? defaults.db;
  const file = hubDbFile(v.data ?? defaults.data, dbUrl);
  if (file === undefined) {
    console.error(
      "hub admin backup: the hub's database is PostgreSQL: back it up with PostgreSQL's own tool, " +
        `for example\n  pg_dump -Fc -d '${withoutPassword(dbUrl!)}' -f ${v.out}\n` +
        "(the password from PGPASSWORD or ~/.pgpass; restore with pg_restore, docs/operations.md)",
    );
    return 1;
  }
  const out = path.resolve(v.out);
  try {
    const stat = fs.statSync(out);
    if (!stat.isFile() || stat.size > 0) {
      console.error(`hub admin backup: --out ${v.out} exists and is not empty: give a new file`);
      return 1;
    }
  } catch { /* a new file, as it should be */ }
  try {
    fs.accessSync(file, fs.constants.R_OK);
    if (!fs.statSync(file).isFile()) throw new Error("not a file");
  } catch {
    console.error(
      `hub admin backup: there is no readable hub database at ${file} (give --data DIR or --db URL)`,
    );
    return 1;
  }
  if (path.resolve(file) === out) {
    console.error("hub admin backup: --out must not be the database itself");
    return 1;
  }
  // The folders of --out made, as `agent backup` makes them (SQLite said only SQLITE_CANTOPEN).
  try {
    fs.mkdirSync(path.dirname(out), { recursive: true, mode: 0o750 });
  } catch (err) {
    console.error(`hub admin backup: cannot make the folder of --out ${v.out}: ${(err as Error).message}`);
    return 1;
  }
  const part = `${out}.part`;
  const started = performance.now();
  // Ctrl-C (or SIGTERM) before the copy is renamed into place: the copy is removed, nothing written, said
  // (it left --out.part behind, saying nothing); after, the backup ends whole.
  const stop = stopSignal((signal) =>
    console.error(`hub admin backup: ${signal}: stopping before the copy is kept (again: at once)`)
  );
  try {
    fs.rmSync(part, { force: true });
    const live = createClient({ url: `file:${file}` });
    try {
      await live.execute("PRAGMA busy_timeout = 10000");
      await live.execute({ sql: "VACUUM INTO ?", args: [part] });
    } finally {
      live.close();
    }
    const copy = createClient({ url: `file:${part}` });
    let counts: Record<string, number>;
    let migration: string | null;
    try {
      const check = (await copy.execute("PRAGMA integrity_check")).rows.map((r) => String(r[0]));
      if (check.join() !== "ok") throw new Error(`the copy fails its integrity check: ${check.join("; ")}`);
      counts = {};
      const present = new Set(
        (await copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")).rows.map((r) =>
          String(r[0])
        ),
      );
      for (const table of COUNTED.filter((t) => present.has(t))) {
        counts[table] = Number((await copy.execute(`SELECT count(*) FROM "${table}"`)).rows[0][0]);
      }
      const last = present.has("__drizzle_migrations")
        ? Number((await copy.execute('SELECT max(created_at) FROM "__drizzle_migrations"')).rows[0][0])
        : NaN;
      migration = migrationTag(Number.isFinite(last) ? last : null);
    } finally {
      copy.close();
    }
    await signalsSettled();
    if (stop.signal.aborted) throw new Error(`stopped by ${stop.signal.reason}`);
    fs.chmodSync(part, 0o600);
    syncPath(part);
    fs.renameSync(part, out);
    syncPath(path.dirname(out));
    const hash = createHash("sha256");
    for await (const chunk of fs.createReadStream(out)) hash.update(chunk as Uint8Array);
    const summary = {
      out,
      from: file,
      version: VERSION,
      build: BUILD_TEXT,
      createdAt: new Date().toISOString(),
      schema: migration,
      bytes: fs.statSync(out).size,
      sha256: hash.digest("hex"),
      tables: counts,
    };
    if (v.json) console.log(JSON.stringify(summary));
    else {
      console.log(`backup of ${file} written to ${out} in ${Math.round(performance.now() - started)} ms`);
      console.log(
        `  ${summary.bytes} bytes, sha256 ${summary.sha256}, schema ${
          migration ?? "(unknown)"
        }, by ${BUILD_TEXT}`,
      );
      console.log(`  ${Object.entries(counts).map(([t, n]) => `${n} ${t}`).join(", ")}`);
    }
    if (stop.signal.aborted) {
      console.error(`hub admin backup: ${stop.signal.reason} came as the backup ended: it is complete`);
    }
    return 0;
  } catch (err) {
    fs.rmSync(part, { force: true });
    if (stop.signal.aborted) {
      console.error(`hub admin backup: stopped by ${stop.signal.reason}: nothing written`);
      return stop.exitCode()!;
    }
    console.error(`hub admin backup: failed, nothing written: ${(err as Error).message}`);
    return 1;
  } finally {
    stop.dispose();
  }
}

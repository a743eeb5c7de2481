/**
 * `agent check`, the checks that need no network: the data directory (writable, its file system, free space
 * against the floor, who holds its lock), the listening ports, the TLS files, the de-identification keys,
 * the routes and the site credential. Each reads what the agent would read at start and reports; none
 * changes anything the agent keeps (the lock is looked at, never taken).
 */
import * as fs from "node:fs";
import { windowState } from "../routing/windows.ts";
import * as path from "node:path";
import { dataDirError, entriesError, unusableEntries } from "@conduit/shared/data-dir";
import * as os from "node:os";
import { commandOf } from "@conduit/shared/cli";
import { listenHint } from "@conduit/shared/listen";
import { checkedPem, checkKeyPair, pemValidity } from "@conduit/shared/tls";
import type { AgentConfig } from "../config/schema.ts";
import { tlsFileEntries } from "../config/tls_files.ts";
import { loadKeyFile } from "../config/key_file.ts";
import { holderCommand, lockHolder } from "../archive/lock.ts";
import { diskSpace } from "../archive/disk_space.ts";
import { compileRoutes } from "../routing/rules.ts";
import {
  refusedCommitmentNodes,
  refusedCommitmentText,
  sharedAetText,
  sharedNodeAets,
} from "../config/shared_aets.ts";
import { loadProfile } from "../deid/load_profile.ts";
import { loadCredential } from "../tunnel/credential.ts";
import { pidsListenOn } from "./listening.ts";
import { exposureWarning } from "../http/exposure.ts";
import { connectionsThatFit, readNofile } from "../descriptors.ts";

export type Outcome = "ok" | "warn" | "fail";

/** One line of the report: `ok|warn|fail  what  detail`. */
export interface Check {
  status: Outcome;
  what: string;
  detail: string;
}

const MB = 1024 * 1024;
export { EXPIRY_WARN_DAYS } from "@conduit/shared/tls";

const ok = (what: string, detail: string): Check => ({ status: "ok", what, detail });
const warn = (what: string, detail: string): Check => ({ status: "warn", what, detail });
const fail = (what: string, detail: string): Check => ({ status: "fail", what, detail });

/** The nearest path at or above `p` that exists. */
function existingAncestor(p: string): string {
  let dir = p;
  while (!fs.existsSync(dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

/** Whether this user can create a file in `dir` (a file made and removed at once). */
function probeWrite(dir: string): void {
  const probe = path.join(dir, `.agent-check-${Deno.pid}`);
  fs.writeFileSync(probe, "", { flag: "wx", mode: 0o600 });
  fs.rmSync(probe, { force: true });
}

/** File systems on which the data directory is at risk, and why. */
const RISKY_FS: [RegExp, string][] = [
  [/^(tmpfs|ramfs)$/, "held in memory: the archive, the index and the queue are lost at a reboot"],
  [
    /^(nfs4?|cifs|smb3?|fuse\.sshfs|9p|afs|ceph|glusterfs|fuse\.glusterfs)$/,
    "a network file system: the index's database locks are not reliable there; keep the data directory " +
    "on a local disk",
  ],
];

/** The mount that holds `p` (its mount point and type), from /proc/self/mounts; undefined elsewhere. */
function mountOf(p: string): { mountPoint: string; type: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync("/proc/self/mounts", "utf8");
  } catch {
    return undefined;
  }
  let real: string;
  try {
    real = fs.realpathSync(p);
  } catch {
    return undefined;
  }
  let best: { mountPoint: string; type: string } | undefined;
  for (const line of text.split("\n")) {
    const [, rawPoint, type] = line.split(" ");
    if (!rawPoint || !type) continue;
    const mountPoint = rawPoint.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    const inside = mountPoint === "/" || real === mountPoint || real.startsWith(`${mountPoint}/`);
    // The last of equal mount points is the one on top.
    if (inside && (!best || mountPoint.length >= best.mountPoint.length)) best = { mountPoint, type };
  }
  return best;
}

/** The data directory: usable, its file system, its free space against the floor, and its lock. */
export function dataDirChecks(config: AgentConfig): { checks: Check[]; holder: number | null } {
  const dir = path.resolve(config.data);
  const checks: Check[] = [];
  const exists = fs.existsSync(dir);
  const where = exists ? dir : existingAncestor(dir);
  try {
    if (exists) {
      if (!fs.statSync(dir).isDirectory()) throw { code: "EEXIST" };
      probeWrite(dir);
      const unusable = unusableEntries(dir, fs);
      if (unusable.length) {
        checks.push(
          fail("data directory", entriesError(dir, unusable, () => os.userInfo().username).message),
        );
      } else checks.push(ok("data directory", `${dir} (writable)`));
    } else {
      if (!fs.statSync(where).isDirectory()) throw { code: "ENOTDIR" };
      fs.accessSync(where, fs.constants.W_OK | fs.constants.X_OK);
      checks.push(ok("data directory", `${dir} (missing: the agent creates it in ${where})`));
    }
  } catch (err) {
    checks.push(fail("data directory", dataDirError(dir, err, "CONDUIT_AGENT_DATA").message));
  }
  const mount = fs.existsSync(where) ? mountOf(where) : undefined;
  if (mount) {
    const risk = RISKY_FS.find(([re]) => re.test(mount.type));
    const detail = `${mount.type}, mounted at ${mount.mountPoint}`;
    checks.push(risk ? warn("file system", `${detail}: ${risk[1]}`) : ok("file system", detail));
  }
  try {
    const free = diskSpace(where).available;
    const floor = config.archive.minFreeMegabytes * MB;
    const detail = `${Math.floor(free / MB)} MB free, floor ${config.archive.minFreeMegabytes} MB ` +
      `(archive.minFreeMegabytes)`;
    checks.push(
      free < floor
        ? fail("free space", `${detail}: below it every C-STORE is refused (0xA700, out of resources)`)
        : free < 2 * floor
        ? warn("free space", `${detail}: less than twice the floor`)
        : ok("free space", detail),
    );
  } catch (err) {
    checks.push(warn("free space", `cannot tell the free space of ${where}: ${(err as Error).message}`));
  }
  const holder = exists ? lockHolder(dir) : null;
  checks.push(
    holder
      ? warn(
        "data directory lock",
        `held by agent process ${holder}${holderCommand(holder)}: an agent started on this directory now ` +
          "would stop at once (this check did not take the lock)",
      )
      : ok("data directory lock", "free: no agent runs on this directory"),
  );
  return { checks, holder };
}

/**
 * The DIMSE port (and its TLS port) and the HTTP port: each bound on its host and closed at once. A port the
 * running agent of this data directory (`holder`) listens on is reported as its own, not as a failure.
 */
export function portChecks(config: AgentConfig, holder: number | null): Check[] {
  const ports: { what: string; host: string; port: number; setting: string }[] = [
    {
      what: "DIMSE port",
      host: config.dimse.host,
      port: config.dimse.port,
      setting: "dimse.port (--port, CONDUIT_AGENT_PORT)",
    },
    ...(config.dimse.tls
      ? [{
        what: "DIMSE TLS port",
        host: config.dimse.host,
        port: config.dimse.tls.port,
        setting: "dimse.tls.port",
      }]
      : []),
    {
      what: "HTTP port",
      host: config.http.host,
      port: config.http.port,
      setting: "http.port (--http-port, CONDUIT_AGENT_HTTP_PORT)",
    },
  ];
  const seen: { what: string; host: string; port: number }[] = [];
  const wildcard = (h: string) => h === "0.0.0.0" || h === "::";
  return ports.map(({ what, host, port, setting }) => {
    if (port === 0) return ok(what, `${host}:0: the system picks a free port at start`);
    // Two of them on one port: the second would find it taken by the first (on one address, or any).
    const other = seen.find((s) =>
      s.port === port && (s.host === host || wildcard(s.host) || wildcard(host))
    );
    if (other) {
      return fail(what, `${host}:${port} is also the ${other.what}: give each its own port (${setting})`);
    }
    seen.push({ what, host, port });
    try {
      Deno.listen({ hostname: host, port }).close();
      const exposed = what === "HTTP port" ? exposureWarning(host) : undefined;
      if (exposed) return warn(what, `${host}:${port} can be bound, but ${exposed}`);
      return ok(what, `${host}:${port} can be bound`);
    } catch (err) {
      const message = (err as Error).message;
      if (holder && /in use/i.test(message)) {
        const mine = pidsListenOn([holder], port);
        if (mine) {
          return ok(
            what,
            `${host}:${port} is held by the running agent of this data directory (process ${holder})`,
          );
        }
        if (mine === undefined) {
          return warn(
            what,
            `${host}:${port} is in use, perhaps by the running agent of this data directory (process ${holder}); ` +
              "this machine does not say which process listens",
          );
        }
      }
      return fail(what, `cannot listen on ${host}:${port}: ${message}${listenHint(err, setting)}`);
    }
  });
}

/** `mode` as 0644, and whether group or others may read the file. */
function modeOf(file: string): { text: string; group: boolean; world: boolean } {
  const mode = fs.statSync(file).mode & 0o777;
  return {
    text: `0${mode.toString(8).padStart(3, "0")}`,
    group: (mode & 0o040) !== 0,
    world: (mode & 0o004) !== 0,
  };
}

/**
 * Each TLS file: readable and of its kind (as the agent's start reads it), a certificate within its validity
 * (a warning within 30 days of its end), a key the key of its certificate and not readable by others.
 */
export function tlsChecks(config: AgentConfig, now = Date.now()): Check[] {
  const read = (f: string) => fs.readFileSync(f, "utf8");
  return tlsFileEntries(config).map((e): Check => {
    const what = `TLS ${e.key}`;
    let text: string;
    try {
      text = checkedPem(read, e.key, e.file, e.kind);
    } catch (err) {
      return fail(what, (err as Error).message);
    }
    if (e.kind === "key") {
      let certText: string;
      try {
        certText = read(e.cert!.file);
      } catch {
        // The certificate's own line says why (until 2026-12-08 its ENOENT came out here, under the key).
        return warn(
          what,
          `${e.file}: not checked against ${e.cert!.file}, which cannot be read (see its line)`,
        );
      }
      try {
        checkKeyPair(certText, text, e.key, e.file, e.cert!.file);
      } catch (err) {
        return fail(what, (err as Error).message);
      }
      const mode = modeOf(e.file);
      return mode.world
        ? warn(
          what,
          `${e.file}: the key of ${
            e.cert!.file
          }, but readable by every user (mode ${mode.text}): chmod 600 ${e.file}`,
        )
        : ok(what, `${e.file}: the key of ${e.cert!.file}`);
    }
    // The agent's start judges each file the same way (its log, conduit_agent_tls_certificate_expiry_seconds).
    const v = pemValidity(text, e.kind, now);
    return { status: v.status, what, detail: `${e.file}: ${v.text}` };
  });
}

/** The de-identification key files (`deid.keyFile`, each route's): usable as the agent reads them, and private. */
export function keyFileChecks(config: AgentConfig): Check[] {
  const files = new Map<string, string>();
  if (config.deid.keyFile) files.set(config.deid.keyFile, "deid.keyFile");
  for (const r of config.routes) {
    if (r.deid?.keyFile && !files.has(r.deid.keyFile)) {
      files.set(r.deid.keyFile, `routes: ${r.name}: deid.keyFile`);
    }
  }
  return [...files].map(([file, key]): Check => {
    const what = `key ${key}`;
    let bytes: Uint8Array;
    try {
      bytes = loadKeyFile(file);
    } catch (err) {
      return fail(what, (err as Error).message);
    }
    const mode = modeOf(file);
    const detail = `${file}: ${bytes.length} bytes`;
    return mode.group || mode.world
      ? warn(
        what,
        `${detail}, readable by ${
          mode.world ? "every user" : "its group"
        } (mode ${mode.text}): chmod 600 ${file}`,
      )
      : ok(what, `${detail}, mode ${mode.text}`);
  });
}

/** Each route compiled as the agent's start compiles it: its destinations are configured nodes (or sites). */
export async function routeChecks(config: AgentConfig): Promise<Check[]> {
  if (!config.routes.length) return [ok("routes", "none configured: objects are archived, not forwarded")];
  if (config.routes.some((r) => r.deid)) await loadProfile();
  const names = new Set<string>();
  return config.routes.map((r): Check => {
    const what = `route ${r.name}`;
    if (names.has(r.name)) return fail(what, `routes: ${r.name}: two routes have this name`);
    names.add(r.name);
    try {
      const [compiled] = compileRoutes({ ...config, routes: [r] });
      return ok(
        what,
        `to ${compiled.destinations.join(", ")}${compiled.deid ? " (de-identified)" : ""}${
          windowState(compiled)
        }`,
      );
    } catch (err) {
      return fail(what, (err as Error).message);
    }
  });
}

/** Nodes sharing an AE title: a C-MOVE to that title reaches the first of them only. */
export function nodeAetChecks(config: AgentConfig): Check[] {
  return [
    ...sharedNodeAets(config.nodes).map((shared) => warn(`AE title ${shared.aet}`, sharedAetText(shared))),
    ...refusedCommitmentNodes(config).map((r) => warn(`node ${r.node}`, refusedCommitmentText(r))),
  ];
}

/** With `hub.url`: the site credential the data directory holds, as the agent's start reads it. */
export function credentialCheck(config: AgentConfig, configFile?: string): Check | undefined {
  if (!config.hub.url) return undefined;
  const dir = path.resolve(config.data);
  let stored;
  try {
    stored = loadCredential(dir);
  } catch (err) {
    return fail("site credential", (err as Error).message);
  }
  if (!stored) {
    return warn(
      "site credential",
      `none in ${dir}: the agent runs without the hub until it is enrolled ` +
        `(${commandOf("agent")} enroll${
          configFile ? ` --config ${configFile}` : ""
        } --token TOKEN, a token from '${commandOf("hub")} admin site add')`,
    );
  }
  if (config.site && config.site !== stored.site) {
    return fail(
      "site credential",
      `the configured site ${config.site} is not the enrolled site ${stored.site}; enroll again`,
    );
  }
  return ok("site credential", `site ${stored.site}, enrolled ${stored.enrolledAt}`);
}

/** Descriptors an idle agent holds once started (index, listeners, HTTP, logs: about 40 measured, rounded up). */
const IDLE_DESCRIPTORS = 64;

/**
 * Whether `dimse.maxAssociations` fits the descriptor limit the agent will have (this process's soft limit,
 * raised toward the hard one as the agent does when it may: agent/descriptors.ts); undefined off Linux.
 */
export function descriptorCheck(config: AgentConfig, limit = readNofile()): Check | undefined {
  if (!limit) return undefined;
  const soft = Deno.permissions.querySync({ name: "ffi" }).state === "granted"
    ? Math.max(limit.soft, Math.min(limit.hard, 65536))
    : limit.soft;
  const fit = Math.max(1, connectionsThatFit(soft, IDLE_DESCRIPTORS) - 2);
  const max = config.dimse.maxAssociations;
  const detail = `limit ${soft} (hard ${limit.hard}): about ${fit} associations fit`;
  if (max <= fit) return ok("file descriptors", `${detail}, dimse.maxAssociations ${max}`);
  return warn(
    "file descriptors",
    `${detail}, dimse.maxAssociations is ${max}: the agent takes no more than ${fit} at once; raise the ` +
      "limit (LimitNOFILE in the systemd unit, ulimit -n) or lower dimse.maxAssociations",
  );
}

/** Every check that needs no network, in the report's order. */
export async function localChecks(config: AgentConfig, configFile?: string): Promise<Check[]> {
  const { checks, holder } = dataDirChecks(config);
  const credential = credentialCheck(config, configFile);
  const descriptors = descriptorCheck(config);
  return [
    ...checks,
    ...portChecks(config, holder),
    ...(descriptors ? [descriptors] : []),
    ...tlsChecks(config),
    ...keyFileChecks(config),
    ...nodeAetChecks(config),
    ...await routeChecks(config),
    ...(credential ? [credential] : []),
  ];
}

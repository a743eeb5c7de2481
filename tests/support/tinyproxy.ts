/**
 * Debian's tinyproxy as a site's outbound HTTP proxy in tests: in the foreground (`-d`), on a free loopback
 * port, with a configuration written to a temp dir (CONNECT only to the given ports, from 127.0.0.1 only,
 * Basic credentials when given). Its log (the CONNECT lines) is in `logFile`.
 */
import * as path from "node:path";
import { scratchDir, spawnLogged, toolPath, waitReady } from "./peers.ts";
import { acceptsTcp, onFreePorts } from "./processes.ts";

export interface TinyProxy {
  port: number;
  pid: number;
  logFile: string;
  /** What it logged so far. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts tinyproxy letting CONNECT through to `connectPorts`, asking for `auth` when given. */
export async function startTinyProxy(
  /** `port`: this port (a proxy started again where the agents know it), else a free one. */
  opts: { connectPorts: number[]; auth?: { user: string; password: string }; port?: number },
): Promise<TinyProxy> {
  const dir = await scratchDir("conduit-tinyproxy-");
  const conf = path.join(dir, "tinyproxy.conf");
  return await onFreePorts(["tinyproxy"], [opts.port], async ([port]) => {
    await Deno.writeTextFile(
      conf,
      [
        `Port ${port}`,
        "Listen 127.0.0.1",
        "Timeout 600",
        "MaxClients 50",
        "Allow 127.0.0.1",
        "LogLevel Connect",
        ...opts.connectPorts.map((p) => `ConnectPort ${p}`),
        ...(opts.auth ? [`BasicAuth ${opts.auth.user} ${opts.auth.password}`] : []),
        "",
      ].join("\n"),
    );
    const proc = await spawnLogged("tinyproxy", toolPath("tinyproxy")!, ["-d", "-c", conf]);
    await waitReady(proc, "tinyproxy", () => acceptsTcp(port), 10_000, [port]);
    return {
      port,
      pid: proc.child.pid,
      logFile: proc.logFile,
      log: () => Deno.readTextFile(proc.logFile),
      stop: proc.stop,
    };
  });
}

/**
 * The command the hub's admin CLI tells the operator to run the agent with. From the repository it is
 * `deno task agent`. From the hub's bundle (deploy/bundle.ts: `hub/main.js` in `dist/hub`, started by its
 * launcher `conduit-hub`) there is no repository to run a task in: it is the agent bundle's launcher where
 * the build and docs/operations.md put it, beside the hub's directory (`dist/agent/conduit-agent`,
 * `/opt/conduit/agent/conduit-agent`). A bundle's modules are one `.js` file (as agent/worker_url.ts tells).
 * From the hub's compiled binary (`deno compile`: its modules live in a virtual folder
 * `$TMPDIR/deno-compile-<binary>/`) it is the agent's binary beside the hub's (`dist/conduit-agent`).
 *
 * @param moduleUrl the URL of the running hub's code; this module's own, unless a test gives another.
 * @param execPath the running program's file; Deno's own, unless a test gives another.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildOf } from "@conduit/shared/cli";

export function agentCommand(
  moduleUrl: string = import.meta.url,
  execPath: string = Deno.execPath(),
): string {
  const build = buildOf(moduleUrl);
  if (build === "compiled") return quoted(join(dirname(execPath), "conduit-agent"));
  if (build === "source") return "deno task agent";
  // <dir>/hub/hub/main.js: the bundle's directory is <dir>/hub, the agent's <dir>/agent.
  return quoted(fileURLToPath(new URL("../../agent/conduit-agent", moduleUrl)));
}

/**
 * The tunnel URL the agent is told to take for a hub reached at `publicUrl` (https://h/x -> wss://h/x/tunnel);
 * a placeholder, `wss://HUB/tunnel`, when the hub's configuration does not say where it is reached.
 */
export function tunnelUrlOf(publicUrl: string | undefined): string {
  if (!publicUrl) return "wss://HUB/tunnel";
  const u = new URL(publicUrl);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return `${u.toString().replace(/\/+$/, "")}/tunnel`;
}

function quoted(path: string): string {
  return /^[\w./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command the hub's admin CLI tells the operator to run the agent with. From the repository it is
 * `deno task agent`. From the hub's bundle (deploy/bundle.ts: `hub/main.js` in `dist/hub`, started by its
 * launcher `conduit-hub`) there is no repository to run a task in: it is the agent bundle's launcher where
 * the build and docs/operations.md put it, beside the hub's directory (`dist/agent/conduit-agent`,
 * `/opt/conduit/agent/conduit-agent`). A bundle's modules are one `.js` file (as agent/worker_url.ts tells).
 *
 * @param moduleUrl the URL of the running hub's code; this module's own, unless a test gives another.
 */
import { fileURLToPath } from "node:url";

export function agentCommand(moduleUrl: string = import.meta.url): string {
  if (!moduleUrl.startsWith("file:") || !moduleUrl.endsWith(".js")) return "deno task agent";
  // <dir>/hub/hub/main.js: the bundle's directory is <dir>/hub, the agent's <dir>/agent.
  const launcher = fileURLToPath(new URL("../../agent/conduit-agent", moduleUrl));
  return /^[\w./-]+$/.test(launcher) ? launcher : `'${launcher.replaceAll("'", `'\\''`)}'`;
}

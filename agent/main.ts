/**
 * `deno task agent [flags]`: runs the site agent. With no flags and no file it is a standalone
 * DICOM archive node on port 11112. Subcommands (`node`, `queue`, `route`, `deid`) and the agent itself
 * are loaded when asked for, so that `agent deid` need not load the DIMSE stack, the database or the
 * configuration schema.
 */
import { Logger } from "@conduit/shared/log";

const SUBCOMMANDS: Record<string, () => Promise<(args: string[]) => Promise<number>>> = {
  node: async () => (await import("./cli/node_command.ts")).nodeCommand,
  queue: async () => (await import("./cli/queue_command.ts")).queueCommand,
  route: async () => (await import("./cli/route_command.ts")).routeCommand,
  deid: async () => (await import("./cli/deid_command.ts")).deidCommand,
};

export async function main(args: string[]): Promise<number> {
  if (args[0] === "--") args = args.slice(1);
  const sub = SUBCOMMANDS[args[0]];
  if (sub) return await (await sub())(args.slice(1));
  const { runAgent } = await import("./run.ts");
  return await runAgent(args);
}

if (import.meta.main) {
  // A failure inside a library callback must not end the process: log it and keep serving.
  const log = new Logger();
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    log.error("unhandled rejection", { reason: String((e.reason as Error)?.message ?? e.reason) });
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    log.error("uncaught exception", { reason: String(e.message) });
  });
  Deno.exit(await main(Deno.args));
}

/**
 * What the agent's two entries share (`main.ts` from source, `main_packaged.ts` for `deno compile` and
 * the bundle): choosing the subcommand or the agent itself, and running it as the process.
 */
import { Logger } from "@conduit/shared/log";

/** A program part: its arguments in, its exit code out. */
export type Command = (args: string[]) => Promise<number>;

/** How `main` reaches the agent and its subcommands (`node`, `queue`, `route`, `deid`). */
export interface Parts {
  agent: () => Promise<Command>;
  subcommands: Record<string, () => Promise<Command>>;
}

export async function main(args: string[], parts: Parts): Promise<number> {
  if (args[0] === "--") args = args.slice(1);
  const sub = Object.hasOwn(parts.subcommands, args[0]) ? parts.subcommands[args[0]] : undefined;
  if (sub) return await (await sub())(args.slice(1));
  return await (await parts.agent())(args);
}

/**
 * Runs `main` as the process: a failure inside a library callback is logged and the process goes on; a
 * failure of `main` itself (a part that cannot be loaded, an error no part caught) ends it with exit code 1,
 * so that a supervisor sees it failed (systemd's `Restart=on-failure`). Before, the rejection reached the
 * handler below and the process ended with 0.
 */
export async function runMain(parts: Parts): Promise<never> {
  const log = new Logger();
  globalThis.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    log.error("unhandled rejection", { reason: String((e.reason as Error)?.message ?? e.reason) });
  });
  globalThis.addEventListener("error", (e) => {
    e.preventDefault();
    log.error("uncaught exception", { reason: String(e.message) });
  });
  let code: number;
  try {
    code = await main(Deno.args, parts);
  } catch (err) {
    log.error("failed", { reason: String((err as Error)?.message ?? err) });
    code = 1;
  }
  Deno.exit(code);
}

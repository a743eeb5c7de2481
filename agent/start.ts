/**
 * What the agent's two entries share (`main.ts` from source, `main_packaged.ts` for `deno compile` and
 * the bundle): choosing the subcommand or the agent itself, and running it as the process.
 */
import { Logger } from "@conduit/shared/log";
import { runAsProcess } from "@conduit/shared/process";

/** A program part: its arguments in, its exit code out. */
export type Command = (args: string[]) => Promise<number>;

/** How `main` reaches the agent and its subcommands (`check`, `node`, `queue`, `conflicts`, `route`, `deid`, `backup`, `restore`, `enroll`). */
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

/** Runs `main` as the process (shared/process.ts: its own failure ends it with exit code 1, logged). */
export async function runMain(parts: Parts): Promise<never> {
  return await runAsProcess(() => main(Deno.args, parts), new Logger(), "failed");
}

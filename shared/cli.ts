/**
 * The preamble every command-line command shares (`agent node|queue|route|deid`, `hub admin
 * site|token|user`): its flags parsed with `--help` added, the usage on `--help` (exit 0), and a bad
 * flag, a value flag given twice or a missing command named with the usage on stderr (exit 2). The
 * command gets its flags and positionals, or the exit code to end with.
 */
import { parseArgs, type ParseArgsConfig, type ParseArgsOptionsConfig } from "node:util";

/**
 * `parseArgs` (strict) that also refuses a flag taking a value given twice (`--key-file A --key-file B`),
 * which `parseArgs` settles silently as the last one: an error naming the flag. Flags declared `multiple`
 * may come again; a boolean flag given twice says the same twice and is taken.
 */
export function parseFlags<const T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  const parsed = parseArgs({ ...config, tokens: true });
  const seen = new Set<string>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== "option") continue;
    const option = config.options?.[token.name];
    if (!option || option.type !== "string" || option.multiple) continue;
    if (seen.has(token.name)) {
      throw new TypeError(`Option '--${token.name}' was given twice: give it once`);
    }
    seen.add(token.name);
  }
  return parsed as ReturnType<typeof parseArgs<T>>;
}

/** What {@link commandLine} parses: the command's options with `--help`, positionals allowed. */
type Config<O extends ParseArgsOptionsConfig> = {
  args: string[];
  options: O & { help: { type: "boolean" } };
  allowPositionals: true;
  strict: true;
};

/** The flags and positionals of a command line. */
export type CommandLine<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<Config<O>>>;

/**
 * Parses `args` of the command `name` (as typed: "agent queue") against `options`. With `needsCommand`,
 * a command line without a positional is refused.
 */
export function commandLine<const O extends ParseArgsOptionsConfig>(
  name: string,
  usage: string,
  args: string[],
  options: O,
  needsCommand = false,
): CommandLine<O> | number {
  let parsed: CommandLine<O>;
  try {
    parsed = parseFlags<Config<O>>({
      args,
      options: { ...options, help: { type: "boolean" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    console.error(`${name}: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    return 0;
  }
  if (needsCommand && parsed.positionals.length === 0) {
    console.error(`${name}: give a command\n${usage}`);
    return 2;
  }
  return parsed;
}

/**
 * How the running program was started: from the repository's sources (`deno task agent`), from its bundle
 * (deploy/bundle.ts: one folder of `.js` chunks started by a launcher, as agent/worker_url.ts tells), or
 * as a `deno compile` binary (its modules in a virtual folder `$TMPDIR/deno-compile-<binary>/`).
 *
 * @param moduleUrl the URL of the running code; this module's own, unless a test gives another.
 */
export function buildOf(moduleUrl: string = import.meta.url): "source" | "bundle" | "compiled" {
  if (!moduleUrl.startsWith("file:")) return "source";
  if (/\/deno-compile-[^/]+\//.test(moduleUrl)) return "compiled";
  return moduleUrl.endsWith(".js") ? "bundle" : "source";
}

/**
 * The command that runs `program`, as usage lines and hints name it: `deno task agent` from the
 * repository, the built launcher or binary's name (`conduit-agent`, `conduit-hub`) from a build, where no
 * repository holds the tasks. The agent names the hub (`conduit-hub admin site add`) the way it runs
 * itself: an agent's build comes with the hub's.
 */
export function commandOf(program: "agent" | "hub", moduleUrl: string = import.meta.url): string {
  return buildOf(moduleUrl) === "source" ? `deno task ${program}` : `conduit-${program}`;
}

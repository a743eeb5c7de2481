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
  const args = negativesAsValues(config.args ?? [], config.options ?? {});
  let parsed;
  try {
    parsed = parseArgs({ ...config, args, tokens: true });
  } catch (err) {
    throw oneLine(err as Error, args);
  }
  parsed.positionals.forEach((a, i) => parsed.positionals[i] = unhide(a));
  for (const t of parsed.tokens ?? []) if (t.kind === "positional") t.value = unhide(t.value);
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

/** A number below zero (`-5`, `-0.5`): parseArgs takes it for a short flag. */
const NEGATIVE = /^-[0-9.]/;
/** Marks a negative number given as a positional: no argument of a command line holds a NUL. */
const HIDDEN = "\0";

/**
 * A negative number after a flag taking a value becomes its value (`--limit -1` as `--limit=-1`), so the
 * command says what values the flag takes (`--limit takes a number of rows (1 to 10000), not "-1"`) where
 * parseArgs said the flag was "ambiguous", in three lines; anywhere else it is a positional
 * (`site uplink north -5`) where parseArgs said "Unknown option '-5'". After `--`, nothing changes.
 */
function negativesAsValues(args: readonly string[], options: ParseArgsOptionsConfig): string[] {
  const takesValue = (flag: string | undefined) => {
    if (!flag?.startsWith("-") || flag.includes("=")) return false;
    const option = flag.startsWith("--")
      ? options[flag.slice(2)]
      : Object.values(options).find((o) => flag.length === 2 && o.short === flag[1]);
    return option?.type === "string";
  };
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") return [...out, ...args.slice(i)];
    if (!NEGATIVE.test(a)) out.push(a);
    else if (takesValue(args[i - 1]) && out.at(-1) === args[i - 1]) {
      out[out.length - 1] = `${args[i - 1]}${args[i - 1].startsWith("--") ? "=" : ""}${a}`;
    } else out.push(HIDDEN + a);
  }
  return out;
}

function unhide(a: string): string {
  return a.startsWith(HIDDEN) ? a.slice(HIDDEN.length) : a;
}

/**
 * parseArgs's error as one line naming the flag: a flag followed by another flag instead of its value was
 * "argument is ambiguous" and two lines of advice.
 */
function oneLine(err: Error, args: string[]): Error {
  const ambiguous = /^Option '(-[^' ]+)' argument is ambiguous/.exec(err.message);
  if (!ambiguous) return err;
  const next = args[args.indexOf(ambiguous[1]) + 1];
  return new TypeError(
    `Option '${ambiguous[1]}' needs a value, not the flag '${next}' after it ` +
      `(a value that begins with '-' goes as ${ambiguous[1]}=-VALUE)`,
  );
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
 * What a command of a command line with several (`queue list|retry|...`) takes besides the flags every one
 * takes: its flags and how many arguments after its name. {@link notTaken} says what it does not take.
 */
export type Takes = Record<string, { flags: readonly string[]; args?: number }>;

/**
 * The mistake in `values` and `args` (the positionals after the command's name) for `command`: a flag given
 * that it does not take, which it would silently ignore (`queue retry --state dead` retried every failed row
 * whatever the state named), or more arguments than it takes; undefined when there is none, or when `command`
 * is not in `takes` (the caller says it is unknown).
 */
export function notTaken(
  command: string,
  takes: Takes,
  common: readonly string[],
  values: Record<string, unknown>,
  args: readonly string[],
): string | undefined {
  const t = takes[command];
  if (!t) return undefined;
  const flag = Object.keys(values).find((k) =>
    values[k] !== undefined && k !== "help" && !common.includes(k) && !t.flags.includes(k)
  );
  if (flag) {
    const its = t.flags.length ? `it takes ${t.flags.map((f) => `--${f}`).join(", ")}` : "it takes none";
    return `--${flag} is not an option of ${command} (${its})`;
  }
  if (args.length > (t.args ?? 0)) return `${command} does not take ${JSON.stringify(args[t.args ?? 0])}`;
  return undefined;
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

import assert from "node:assert/strict";
import { buildOf, commandLine, commandOf, notTaken, parseFlags } from "./cli.ts";

/** Runs commandLine with console.log and console.error captured. */
function run(args: string[], needsCommand = false) {
  const out: string[] = [], err: string[] = [];
  const [log, error] = [console.log, console.error];
  console.log = (s: string) => out.push(s);
  console.error = (s: string) => err.push(s);
  try {
    const r = commandLine("agent thing", "usage: thing", args, {
      port: { type: "string" },
      json: { type: "boolean" },
    }, needsCommand);
    return { r, out: out.join("\n"), err: err.join("\n") };
  } finally {
    [console.log, console.error] = [log, error];
  }
}

Deno.test("commandLine() gives the flags and positionals of a good command line", () => {
  const { r, out, err } = run(["list", "--port", "8080", "--json"], true);
  assert.equal(typeof r, "object");
  if (typeof r === "number") return;
  assert.deepEqual([r.values.port, r.values.json, r.positionals], ["8080", true, ["list"]]);
  assert.equal(out + err, "");
});

Deno.test("commandLine(): --help prints the usage and succeeds, with or without a command", () => {
  for (const args of [["--help"], ["list", "--help"]]) {
    const { r, out, err } = run(args, true);
    assert.equal(r, 0);
    assert.equal(out, "usage: thing");
    assert.equal(err, "");
  }
});

Deno.test("commandLine(): a bad flag or a missing command is exit 2, named on stderr with the usage", () => {
  const bad = run(["list", "--nope"]);
  assert.equal(bad.r, 2);
  assert.match(bad.err, /^agent thing: .*--nope[\s\S]*usage: thing$/);
  const missing = run([], true);
  assert.equal(missing.r, 2);
  assert.equal(missing.err, "agent thing: give a command\nusage: thing");
  assert.equal(missing.out, "");
  assert.notEqual(typeof run([]).r, "number", "without needsCommand, no positional is fine");
});

Deno.test("commandOf() is deno task from the repository and the built program's name from a build", () => {
  assert.equal(commandOf("agent"), "deno task agent");
  assert.equal(commandOf("hub", "file:///home/me/conduit/hub/admin/site_command.ts"), "deno task hub");
  // The bundle (.js chunks) and a deno compile binary (its virtual folder) have no repository's tasks.
  assert.equal(commandOf("agent", "file:///opt/conduit/agent/chunk-ABC.js"), "conduit-agent");
  assert.equal(commandOf("hub", "file:///opt/conduit/hub/hub/main.js"), "conduit-hub");
  assert.equal(commandOf("hub", "file:///tmp/deno-compile-conduit-agent/shared/cli.ts"), "conduit-hub");
  // A checkout under a folder of that name is still a repository.
  assert.equal(buildOf("file:///home/deno-compile-x.ts"), "source");
});

Deno.test("commandLine(): a value flag given twice is exit 2 naming it; a repeatable flag may come again", () => {
  for (const args of [["list", "--port", "1", "--port", "2"], ["--port=1", "list", "--port=2"]]) {
    const twice = run(args);
    assert.equal(twice.r, 2, args.join(" "));
    assert.match(twice.err, /^agent thing: Option '--port' was given twice: give it once\nusage: thing$/);
    assert.equal(twice.out, "");
  }
  // A boolean given twice says the same thing twice: taken.
  const json = run(["--json", "--json"]);
  assert.notEqual(typeof json.r, "number", json.err);
  const r = parseFlags({
    args: ["--option", "a", "--option", "b"],
    options: { option: { type: "string", multiple: true } },
    strict: true,
  });
  assert.deepEqual(r.values.option, ["a", "b"]);
});

Deno.test("parseFlags(): a negative number is the value of the flag before it, else a positional", () => {
  const options = {
    limit: { type: "string" },
    key: { type: "string", short: "k", multiple: true },
    json: { type: "boolean" },
  } as const;
  const r = parseFlags({
    args: ["uplink", "-5", "--limit", "-1", "-k", "-0.5", "--json", "-2", "--", "-3"],
    options,
    allowPositionals: true,
    strict: true,
  });
  assert.deepEqual([r.values.limit, r.values.key, r.values.json], ["-1", ["-0.5"], true]);
  assert.deepEqual(r.positionals, ["uplink", "-5", "-2", "-3"]);
  // A flag that takes no value, or a word that is not a number, is still refused.
  assert.throws(
    () => parseFlags({ args: ["--limit", "-x"], options, strict: true }),
    /^TypeError: Option '--limit' needs a value, not the flag '-x' after it \(a value that begins with '-' goes as --limit=-VALUE\)$/,
  );
});

Deno.test("commandLine(): a flag followed by another flag instead of its value is one line naming both", () => {
  const { r, err } = run(["list", "--port", "--json"]);
  assert.equal(r, 2);
  assert.equal(
    err,
    "agent thing: Option '--port' needs a value, not the flag '--json' after it (a value that begins with " +
      "'-' goes as --port=-VALUE)\nusage: thing",
  );
});

Deno.test("notTaken() names a flag or an argument the command does not take", () => {
  const takes = { list: { flags: ["state"] }, pause: { flags: [], args: 1 } };
  const common = ["json"];
  assert.equal(notTaken("list", takes, common, { state: "dead", json: true }, []), undefined);
  assert.equal(
    notTaken("list", takes, common, { state: undefined, all: true }, []),
    "--all is not an option of list (it takes --state)",
  );
  assert.equal(
    notTaken("pause", takes, common, { state: "x" }, ["a"]),
    "--state is not an option of pause (it takes none)",
  );
  assert.equal(notTaken("pause", takes, common, {}, ["a"]), undefined);
  assert.equal(notTaken("pause", takes, common, {}, ["a", "b"]), 'pause does not take "b"');
  assert.equal(
    notTaken("nope", takes, common, { all: true }, ["a"]),
    undefined,
    "unknown: the caller's to say",
  );
});

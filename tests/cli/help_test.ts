/**
 * The CLIs as a newcomer meets them: `--help` of the agent and the hub names every flag they take
 * (`--enroll` included), `hub admin --help` prints the admin commands and succeeds, and the admin
 * lists have a header row. No help text names an issue of the project's tracker.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { FLAGS } from "../../agent/config/load.ts";
import { HUB_FLAGS } from "../../hub/config.ts";
import { withoutDenoNotices } from "../support/deno_notices.ts";
import { DENO_RUN_FLAGS } from "../support/processes.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Words a user should not meet: the tracker's issue numbers are the developers' business. */
const ISSUE = /\bissues? #?\d+/i;

/**
 * A help text is the same at every ask: each one is run once per file (the tests of this file share it), and
 * runs alone when a test runs alone.
 */
const helpTexts = new Map<string, ReturnType<typeof run>>();
function cli(main: string, args: string[]) {
  if (!args.includes("--help")) return run(main, args);
  const key = [main, ...args].join(" ");
  let answer = helpTexts.get(key);
  if (!answer) helpTexts.set(key, answer = run(main, args));
  return answer;
}

async function run(main: string, args: string[]) {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...DENO_RUN_FLAGS, path.join(ROOT, main), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: o.code,
    stdout: new TextDecoder().decode(o.stdout),
    stderr: withoutDenoNotices(new TextDecoder().decode(o.stderr)),
  };
}

Deno.test("agent --help and hub --help name every flag, --enroll included", async () => {
  const agent = await cli("agent/main.ts", ["--help"]);
  assert.equal(agent.code, 0);
  for (const flag of [...Object.keys(FLAGS), "config", "enroll", "help", "version"]) {
    assert.match(agent.stdout, new RegExp(`^  --${flag}\\b`, "m"), `agent --${flag}`);
  }
  // Its subcommands, the preflight check among them.
  assert.match(
    agent.stdout,
    /^ +deno task agent check \[--config FILE\] \[flags\] \[--json\] \[--no-network\]/m,
  );
  // Every command `queue --help` knows is named on the queue line of `--help` (`discard` was left out).
  const queue = await cli("agent/main.ts", ["queue", "--help"]);
  const commands = [...queue.stdout.matchAll(/^ {2}([a-z]+)\b(?: .*\| ([a-z]+) )?/gm)].flatMap((m) =>
    m.slice(1).filter(Boolean)
  );
  assert.ok(commands.includes("discard") && commands.includes("resume"), queue.stdout);
  const queueLine = agent.stdout.match(/^ +deno task agent queue (\S+)/m)?.[1].split("|");
  assert.deepEqual(queueLine, commands);
  const hub = await cli("hub/main.ts", ["--help"]);
  assert.equal(hub.code, 0);
  for (const flag of [...Object.keys(HUB_FLAGS), "config", "help", "version"]) {
    assert.match(hub.stdout, new RegExp(`^  --${flag}\\b`, "m"), `hub --${flag}`);
  }
});

Deno.test("the agent, the hub and their subcommands refuse a value flag given twice (exit 2, naming it)", async () => {
  const twice = [
    ["--port", "11112", "--port", "nope"], // last-wins would be a config error, not a start
    ["deid", "--profile", "basic", "--key-file", "a.key", "--key-file", "b.key", "--in", "x", "--out", "y"],
    ["check", "--config", "a.yaml", "--config", "b.yaml", "--no-network"],
    ["queue", "list", "--state", "dead", "--state=failed"],
  ];
  const flags = ["--port", "--key-file", "--config", "--state"];
  const runs = await Promise.all(twice.map((args) => cli("agent/main.ts", args)));
  // The hub, and its admin commands, likewise.
  twice.push(["--port", "8080", "--port", "nope"], [
    "admin",
    "site",
    "add",
    "x",
    "--data",
    "a",
    "--data",
    "b",
  ]);
  flags.push("--port", "--data");
  runs.push(...await Promise.all(twice.slice(-2).map((args) => cli("hub/main.ts", args))));
  for (const [i, r] of runs.entries()) {
    const flag = flags[i];
    assert.equal(r.code, 2, `${twice[i].join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`Option '${flag}' was given twice: give it once`), twice[i].join(" "));
  }
});

Deno.test("hub admin --help prints the admin commands; token and user lists have a header row", async () => {
  const help = await cli("hub/main.ts", ["admin", "--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.equal(help.stderr, "");
  for (
    const command of [
      "admin site add",
      "admin token create",
      "admin user add",
      "admin audit",
      "admin backup --out FILE",
      "admin restore --from FILE",
      "--data DIR",
      "--json",
    ]
  ) {
    assert.ok(help.stdout.includes(command), command);
  }
  const data = await Deno.makeTempDir({ prefix: "hub-admin-" });
  const created = await cli("hub/main.ts", [
    "admin",
    "token",
    "create",
    "nightly",
    "--role",
    "viewer",
    "--data",
    data,
  ]);
  assert.equal(created.code, 0, created.stderr);
  const tokens = (await cli("hub/main.ts", ["admin", "token", "list", "--data", data])).stdout.trim().split(
    "\n",
  );
  assert.deepEqual(tokens[0].split("\t"), ["ID", "NAME", "ROLE", "SITES", "STATE"]);
  assert.match(tokens[1], /\tnightly\tviewer\t\*\tactive$/);
  const users = (await cli("hub/main.ts", ["admin", "user", "list", "--data", data])).stdout.trim();
  assert.equal(users, "no users");
});

Deno.test("no help text of the agent or the hub names an issue of the tracker", async () => {
  const helps: [string, string[]][] = [
    ["agent/main.ts", ["--help"]],
    ...["check", "node", "queue", "conflicts", "erase", "route", "backup", "restore", "deid", "enroll"].map((
      c,
    ): [string, string[]] => ["agent/main.ts", [c, "--help"]]),
    ["hub/main.ts", ["--help"]],
    ...["", "site", "token", "user", "backup", "restore"].map((c): [string, string[]] => [
      "hub/main.ts",
      ["admin", ...(c ? [c] : []), "--help"],
    ]),
  ];
  const answers = await Promise.all(helps.map(([main, args]) => cli(main, args)));
  for (const [i, [main, args]] of helps.entries()) {
    const { code, stdout, stderr } = answers[i];
    assert.equal(code, 0, `${main} ${args.join(" ")}: ${stderr}`);
    assert.ok(stdout.length > 100, `${main} ${args.join(" ")} prints its usage`);
    assert.doesNotMatch(stdout + stderr, ISSUE, `${main} ${args.join(" ")}`);
  }
});

Deno.test("every flag the documents give a hub admin or agent command is one its help names", async () => {
  const docs = [
    "README.md",
    ...[...Deno.readDirSync(path.join(ROOT, "docs"))].filter((e) => e.name.endsWith(".md")).map((e) =>
      `docs/${e.name}`
    ),
  ];
  // A command as the documents write it, up to the end of its code span, line or table cell.
  const uses: { doc: string; command: string; flags: string[] }[] = [];
  for (const doc of docs) {
    const text = Deno.readTextFileSync(path.join(ROOT, doc));
    for (
      const m of text.matchAll(
        /deno task (hub admin [a-z-]+|agent (?:check|node|queue|conflicts|erase|route|backup|restore|deid|enroll)\b)([^`|\n#]*)/g,
      )
    ) {
      uses.push({
        doc,
        command: m[1],
        flags: [...m[2].matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((f) => f[0]),
      });
    }
  }
  assert.ok(uses.length >= 30, `${uses.length} commands`);
  const helps = new Map<string, string>();
  const [common, agentHelp] = await Promise.all([
    cli("hub/main.ts", ["admin", "--help"]).then((r) => r.stdout), // --config, --data, --db, --json
    cli("agent/main.ts", ["--help"]).then((r) => r.stdout), // --config and the layered flags
  ]);
  // Each command's help, asked all at once.
  const commands = [...new Set(uses.map((u) => u.command))];
  const texts = await Promise.all(commands.map(async (command) => {
    const words = command.split(" ");
    const main = words[0] === "hub" ? "hub/main.ts" : "agent/main.ts";
    const { stdout, stderr } = await cli(main, [...words.slice(1), "--help"]);
    return stdout + stderr;
  }));
  for (const [i, command] of commands.entries()) helps.set(command, texts[i]);
  const unknown: string[] = [];
  for (const { doc, command, flags } of uses) {
    const help = helps.get(command)! + (command.startsWith("hub") ? common : agentHelp);
    for (const flag of flags) {
      if (!new RegExp(`${flag}(?![a-z-])`).test(help)) {
        unknown.push(`${doc}: deno task ${command} ... ${flag}`);
      }
    }
  }
  assert.deepEqual(unknown, []);
});

Deno.test("the packaged entry (deno compile, the bundle) has every subcommand main.ts has", () => {
  // Each is written twice (main.ts by computed URLs, main_packaged.ts by literal ones): one left out of the
  // packaged entry would be "unexpected argument" (the agent) or "unknown command" (the hub) in a build only.
  const names = (program: string, file: string) =>
    [...Deno.readTextFileSync(path.join(ROOT, program, file)).matchAll(/^ {4}"?([a-z-]+)"?: async \(\) =>/gm)]
      .map((m) => m[1]).sort();
  const agent = names("agent", "main.ts");
  assert.ok(agent.includes("check") && agent.length >= 9, agent.join(" "));
  assert.deepEqual(names("agent", "main_packaged.ts"), agent);
  const hub = names("hub", "main.ts");
  assert.ok(hub.includes("site") && hub.includes("migrate-db") && hub.length >= 8, hub.join(" "));
  assert.deepEqual(names("hub", "main_packaged.ts"), hub);
});

/**
 * What the shared flag parser (shared/cli.ts) makes of a command line's mistakes, on the commands
 * themselves: a negative number given to a flag or as an argument reaches the command, which names the
 * values it takes (parseArgs called the flag "ambiguous", or the number an unknown option), and a flag
 * followed by another flag instead of its value is one line naming both. Exit code 2, nothing on stdout.
 */
import assert from "node:assert/strict";
import { agentCli } from "../support/agent.ts";
import { hubCli } from "../support/hub.ts";
import { scratchDir } from "../support/processes.ts";

Deno.test("a negative number reaches the command, which says what the flag takes (exit 2)", async () => {
  const data = await scratchDir("cli-flags-");
  assert.equal((await hubCli(["admin", "site", "add", "north", "--data", data])).code, 0);
  const runs = await Promise.all([
    agentCli(["queue", "list", "--limit", "-1"]),
    agentCli(["conflicts", "--limit", "-2"]),
    agentCli(["--port", "-1"]),
    hubCli(["admin", "audit", "--limit", "-3", "--data", data]),
    hubCli(["admin", "site", "uplink", "north", "-5", "--data", data]),
  ]);
  const said = [
    /^agent queue: --limit takes a number of rows \(1 to 10000\), not "-1"$/m,
    /^agent conflicts: --limit takes a number of conflicts \(1 to \d+\), not "-2"$/m,
    /^config: dimse\.port: .*, got "-1" \(flag --port\)$/m,
    /^hub admin audit: --limit: -3 is neither a positive number nor all$/m,
    /^hub admin site uplink: give a site name and a cap in Mbit\/s, 0\.1 to 100000, or none$/m,
  ];
  for (const [i, r] of runs.entries()) {
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, said[i]);
    assert.doesNotMatch(r.stderr, /ambiguous|Unknown option/);
  }
});

Deno.test("a flag followed by another flag instead of its value: one line naming both (exit 2)", async () => {
  for (
    const r of await Promise.all([
      agentCli(["backup", "--out", "--json"]),
      hubCli(["admin", "token", "list", "--data", "--json"]),
    ])
  ) {
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr.split("\n")[0],
      /^(agent backup|hub admin token): Option '--(out|data)' needs a value, not the flag '--json' after it/,
    );
    assert.match(r.stderr.split("\n")[1], /^usage: /);
  }
});

Deno.test("agent queue and node refuse a flag or an argument their command would ignore (exit 2, naming it)", async () => {
  const cases: [string[], string][] = [
    // Retried every failed row, whatever --state said.
    [
      ["queue", "retry", "--all", "--state", "dead"],
      "agent queue: --state is not an option of retry (it takes --destination, --id, --all)",
    ],
    [
      ["queue", "list", "--all"],
      "agent queue: --all is not an option of list (it takes --state, --destination, --limit)",
    ],
    [["queue", "summary", "research"], 'agent queue: summary does not take "research"'],
    [["queue", "pause", "research", "archive"], 'agent queue: pause does not take "archive"'],
    // Retrieved the first instance only.
    [
      ["node", "retrieve", "pacs", "--study", "1.2", "--instance", "1.2.3", "--instance", "1.2.4"],
      "agent node: retrieve takes one --instance (store takes several)",
    ],
    [
      ["node", "echo", "pacs", "--study", "1.2"],
      "agent node: --study is not an option of echo (it takes none)",
    ],
    [["node", "list", "pacs"], 'agent node: list does not take "pacs"'],
  ];
  const runs = await Promise.all(cases.map(([args]) => agentCli([...args, "--http-port", "1"])));
  for (const [i, r] of runs.entries()) {
    assert.equal(r.code, 2, `${cases[i][0].join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.split("\n")[0], cases[i][1]);
  }
});

Deno.test("hub admin site, token and user refuse a flag or an argument their command would ignore (exit 2)", async () => {
  const data = await scratchDir("cli-admin-flags-");
  assert.equal((await hubCli(["admin", "site", "add", "north", "--data", data])).code, 0);
  const cases: [string[], string][] = [
    // Listed every user.
    [["user", "list", "--role", "viewer"], "hub admin user: --role is not an option of list (it takes none)"],
    [
      ["token", "list", "--sites", "north"],
      "hub admin token: --sites is not an option of list (it takes none)",
    ],
    [
      ["token", "create", "nightly", "ops", "--role", "viewer"],
      'hub admin token: create does not take "ops"',
    ],
    [["site", "list", "north"], 'hub admin site: list does not take "north"'],
  ];
  const runs = await Promise.all(cases.map(([args]) => hubCli(["admin", ...args, "--data", data])));
  for (const [i, r] of runs.entries()) {
    assert.equal(r.code, 2, `${cases[i][0].join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr.split("\n")[0], cases[i][1]);
  }
  // Nothing was made: no token.
  const tokens = await hubCli(["admin", "token", "list", "--data", data, "--json"]);
  assert.deepEqual(JSON.parse(tokens.stdout).tokens, []);
});

Deno.test("hub admin without a command is a usage error on stderr; hub admin --help is the usage on stdout", async () => {
  const [none, help] = await Promise.all([hubCli(["admin"]), hubCli(["admin", "--help"])]);
  // The usage went to stdout, with exit code 2.
  assert.equal(none.code, 2);
  assert.equal(none.stdout, "");
  assert.match(none.stderr, /^hub admin: give a command\n\nusage: /);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: /);
  assert.equal(help.stderr, "");
});

Deno.test("agent --version with an argument is refused as the hub refuses it (exit 2)", async () => {
  const [agent, hub] = await Promise.all([agentCli(["--version", "extra"]), hubCli(["--version", "extra"])]);
  // The agent printed its version, exit 0, the argument dropped.
  assert.equal(agent.code, 2);
  assert.equal(agent.stdout, "");
  assert.match(agent.stderr, /^agent: unexpected argument "extra"$/m);
  assert.equal(hub.code, 2);
  assert.equal(hub.stdout, "");
});

Deno.test("hub admin migrate-db: --from and --db together are refused; a --db that is not a file is named", async () => {
  const to = "postgres://conduit@127.0.0.1:1/conduit";
  const [both, pg, help] = await Promise.all([
    hubCli(["admin", "migrate-db", "--to", to, "--from", "file:/a/hub.db", "--db", "file:/b/hub.db"]),
    hubCli(["admin", "migrate-db", "--to", to, "--db", "postgres://other@127.0.0.1:1/x"]),
    hubCli(["admin", "migrate-db", "--help"]),
  ]);
  // --from won, silently.
  assert.equal(both.code, 2);
  assert.match(both.stderr, /^hub admin migrate-db: give --from or --db, not both/);
  // It said "--from: ..." of a --db.
  assert.equal(pg.code, 2);
  assert.match(pg.stderr, /^hub admin: --db: use file:PATH/);
  assert.match(help.stdout, /--db file:PATH/);
});

Deno.test("hub admin with no database in ./data/hub: a bad command line is said first, and nothing is made", async () => {
  const cwd = await scratchDir("cli-admin-fresh-");
  const runs = await Promise.all([
    hubCli(["admin", "site", "add"], cwd),
    hubCli(["admin", "token", "create", "nightly"], cwd),
    hubCli(["admin", "site", "bogus"], cwd),
    hubCli(["admin", "hubs", "--bogus"], cwd),
  ]);
  const said = [
    /^hub admin site add: give one site name$/,
    /^hub admin token create: give a name and --role$/,
    /^hub admin site: unknown command bogus$/,
    /^hub admin hubs: Unknown option '--bogus'/,
  ];
  for (const [i, r] of runs.entries()) {
    assert.equal(r.code, 2, r.stderr);
    // It said "making one there" (and made it, for token create) before refusing the command line.
    assert.match(r.stderr.split("\n")[0], said[i], r.stderr);
    assert.doesNotMatch(r.stderr, /no hub database/);
  }
  assert.deepEqual([...Deno.readDirSync(cwd)], [], "nothing made");
});

Deno.test("hub admin token create --sites names on stderr a site that is not there yet; the token is made", async () => {
  const data = await scratchDir("cli-token-sites-");
  assert.equal((await hubCli(["admin", "site", "add", "north", "--data", data])).code, 0);
  const r = await hubCli([
    "admin",
    "token",
    "create",
    "nightly",
    "--role",
    "viewer",
    "--sites",
    "north,nrth",
    "--data",
    data,
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout).name, "nightly");
  // A misspelt site gave a token that reached nothing, without a word.
  assert.equal(
    r.stderr.trim(),
    "hub admin token create: no site named nrth yet: the token reaches it once it is added (check the " +
      "spelling: admin site list)",
  );
});

Deno.test("hub admin audit --actor without its kind, finding nothing, says what actors look like", async () => {
  const data = await scratchDir("cli-audit-actor-");
  assert.equal((await hubCli(["admin", "site", "add", "north", "--data", data])).code, 0);
  const [bare, whole] = await Promise.all([
    hubCli(["admin", "audit", "--actor", "alice", "--data", data]),
    hubCli(["admin", "audit", "--actor", "cli", "--data", data, "--json"]),
  ]);
  assert.equal(bare.code, 0, bare.stderr);
  assert.equal(bare.stdout, "no audit entries\n");
  // "no audit entries" was all it said.
  assert.equal(
    bare.stderr.trim(),
    "hub admin audit: --actor alice: actors are user:NAME, token:NAME, cli, hub or anonymous (user:alice?)",
  );
  assert.equal(whole.code, 0, whole.stderr);
  assert.ok(JSON.parse(whole.stdout).entries.length > 0);
  assert.equal(whole.stderr, "");
});

Deno.test("agent node --help names --key, the long form of -k it takes", async () => {
  const help = await agentCli(["node", "--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--key Key=Value/);
});

/**
 * A new operator's first steps, as docs/tunnel.md and docs/configuration.md give them, and the mistakes
 * they make on the way: each must say what is wrong and what to do, without a stack trace.
 *
 * - `hub admin ... --config hub.yaml`: the admin commands work on the database of the hub started with
 *   that file (the option was refused, and without it they quietly worked on ./data/hub).
 * - `--enroll` against a hub that does not answer, at a URL without /tunnel, with a used or an expired
 *   token: each names the fix.
 * - An enrolled agent whose hub.url names another path of the hub: the log says the URL is wrong.
 * - `hub admin token create` / `user add` / `user role` with a role that does not exist: a usage error
 *   (exit code 2, the roles named), as other bad arguments are; it was exit code 1.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { agentCli, startAgentProcess } from "../support/agent.ts";
import { eventually, hubAdmin, hubCli, startTestHub } from "../support/hub.ts";
import { freePort, scratchDir } from "../support/processes.ts";

Deno.test("hub admin --config FILE works on the database of the hub started with that file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hub-admin-config-" });
  try {
    const data = path.join(dir, "hubdata");
    const config = path.join(dir, "hub.yaml");
    await Deno.writeTextFile(
      config,
      `port: 18080\ndata: ${data}\npublicUrl: https://hub.example.org\nlog: { level: info }\n`,
    );
    const added = await hubCli(["admin", "site", "add", "north", "--config", config, "--json"]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(JSON.parse(added.stdout).enrollmentToken, /^cte\.north\./);
    // The command to run at the site names the hub's tunnel URL, from publicUrl (it said wss://HUB/tunnel).
    const south = await hubCli(["admin", "site", "add", "south", "--config", config]);
    assert.equal(south.code, 0, south.stderr);
    // With the token in it, ready to paste: `--enroll <token>` was a shell syntax error at the site.
    const token = south.stdout.match(/^ {2}(cte\.south\.\S+)$/m)?.[1];
    assert.ok(token, south.stdout);
    assert.ok(
      south.stdout.includes(
        `\nOn the site: deno task agent --site south --hub wss://hub.example.org/tunnel --enroll ${token}\n`,
      ),
      south.stdout,
    );
    // The form for an installer or a service: enroll and exit.
    assert.ok(
      south.stdout.includes(
        "\n  (or, to enroll and exit, then start its service: deno task agent enroll --site south " +
          `--hub wss://hub.example.org/tunnel --token ${token})\n`,
      ),
      south.stdout,
    );
    // The site is in the file's data directory, where `deno task hub --config hub.yaml` looks.
    const listed = await hubAdmin(data, ["site", "list", "--json"]);
    assert.deepEqual((listed.json!.sites as { site: string }[]).map((s) => s.site).sort(), [
      "north",
      "south",
    ]);
    const equals = await hubCli([
      "admin",
      "token",
      "create",
      "ops",
      "--role",
      "operator",
      `--config=${config}`,
    ]);
    assert.equal(equals.code, 0, equals.stderr);
    // A file that cannot be used is said, exit code 2, as the hub says it: not a silent ./data/hub.
    const bad = path.join(dir, "bad.yaml");
    await Deno.writeTextFile(bad, `prot: 8080\ndata: ${data}\n`);
    const refused = await hubCli(["admin", "site", "list", "--config", bad]);
    assert.equal(refused.code, 2);
    assert.equal(refused.stderr.trim(), `config: prot: unknown key (did you mean port?) (${bad}, line 1)`);
    const missing = await hubCli(["admin", "site", "list", "--config"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--config needs the hub's configuration file/);
    const help = await hubCli(["admin", "--help"]);
    assert.match(help.stdout, /^ {2}--config FILE /m);
    // Nothing named, and no database in ./data/hub: a command that needs one says where to look instead of
    // making an empty one ("no site named north" about a site the configured hub has).
    const cwd = path.join(dir, "elsewhere");
    await Deno.mkdir(cwd);
    // (Refusals that make nothing: asked side by side, each answer checked.)
    const lostCommands = [["site", "rotate", "north"], ["site", "list"], ["token", "list"], ["audit"]];
    const lostAnswers = await Promise.all(lostCommands.map((command) => hubCli(["admin", ...command], cwd)));
    for (const lost of lostAnswers) {
      assert.equal(lost.code, 2, lost.stderr);
      assert.equal(
        lost.stderr.trim(),
        "hub admin: no hub database in ./data/hub (the default data directory): give the hub's configuration " +
          "file (--config FILE, as the hub was started with) or --data DIR; nothing was done",
      );
    }
    assert.equal(
      await Deno.stat(path.join(cwd, "data")).then(() => true, () => false),
      false,
      "nothing made",
    );
    // The first site add makes the database there, and says so.
    const first = await hubCli(["admin", "site", "add", "north"], cwd);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /no hub database in \.\/data\/hub .*: making one there/);
    const listed2 = await hubCli(["admin", "site", "list", "--json"], cwd);
    assert.equal(listed2.code, 0, listed2.stderr);
    assert.equal(listed2.stderr, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hub admin with a --data, --db file: or configured data where no hub database is: refused, none made", async () => {
  const dir = await scratchDir("hub-admin-named-");
  const typo = path.join(dir, "hubb");
  const config = path.join(dir, "hub.yaml");
  await Deno.writeTextFile(config, `data: ${typo}\n`);
  const cases = [
    [["site", "list", "--data", typo], path.join(typo, "hub.db")],
    [["token", "list", `--data=${typo}`, "--json"], path.join(typo, "hub.db")],
    [["audit", "--db", `file:${typo}/x.db`], path.join(typo, "x.db")],
    [["user", "list", "--config", config], path.join(typo, "hub.db")],
  ] as [string[], string][];
  // Refusals that make nothing: asked side by side, each answer checked below.
  const answers = new Map(cases.map(([args]) => [args, hubCli(["admin", ...args])]));
  await Promise.all(answers.values());
  for (const [args, file] of cases) {
    // It made an empty database there and answered from it: "no sites", exit code 0.
    const r = await answers.get(args)!;
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout, "");
    assert.equal(
      r.stderr.trim(),
      `hub admin: no hub database at ${file}: give the hub's data directory (--data DIR) or configuration ` +
        "file (--config FILE), as the hub was started with; nothing was done",
    );
  }
  assert.equal(await Deno.stat(typo).then(() => true, () => false), false, "nothing made");
  // The first site add makes it there, as a hub's first start would; then the lists read it.
  assert.equal((await hubCli(["admin", "site", "add", "north", "--data", typo])).code, 0);
  const listed = await hubCli(["admin", "site", "list", "--data", typo, "--json"]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(JSON.parse(listed.stdout).sites.map((s: { site: string }) => s.site), ["north"]);
});

Deno.test("hub admin token create, user add and user role with a role that does not exist: usage, exit 2", async () => {
  const dir = await scratchDir("hub-admin-role-");
  const data = path.join(dir, "hubdata");
  const cases = [
    ["token create", ["token", "create", "nightly", "--role", "superuser"]],
    ["user add", ["user", "add", "alice", "--role", "Admin", "--password-stdin"]],
    ["user role", ["user", "role", "alice", "--role", "root"]],
  ] as const;
  // Refused before the database is opened: asked side by side, each answer checked.
  const answers = await Promise.all(cases.map(([, args]) => hubCli(["admin", ...args, "--data", data])));
  for (const [i, [command]] of cases.entries()) {
    const r = answers[i];
    assert.equal(r.code, 2, `${command}: ${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(`^hub admin ${command}: --role must be one of admin, operator, viewer, not "`),
    );
    assert.match(r.stderr, /^usage: /m);
    assert.equal(r.stdout, "");
  }
  // Refused before the database is opened: none was made.
  assert.equal(await Deno.stat(data).then(() => true, () => false), false);
  // A role that exists still works.
  const ok = await hubCli(["admin", "token", "create", "nightly", "--role", "viewer", "--data", data]);
  assert.equal(ok.code, 0, ok.stderr);
});

Deno.test("--enroll that fails says what to do: hub not reachable, URL without /tunnel, used or expired token", async () => {
  const hub = await startTestHub();
  const dir = await Deno.makeTempDir({ prefix: "agent-enroll-first-run-" });
  try {
    const enroll = (hubUrl: string, token: string, data = "data") =>
      agentCli([
        "--site",
        "north",
        "--hub",
        hubUrl,
        "--enroll",
        token,
        "--port",
        "0",
        "--http-port",
        "0",
        "--data",
        path.join(dir, data),
      ]);
    const { enrollmentToken } = await hub.registry.add("north");
    // The three refusals that do not spend the token run side by side, each on a data directory of its own.
    const nowhere = `ws://127.0.0.1:${freePort()}/tunnel`;
    const bare = `ws://127.0.0.1:${hub.port}`;
    const [down, noPath, wrong] = await Promise.all([
      enroll(nowhere, enrollmentToken, "data-down"),
      enroll(bare, enrollmentToken, "data-no-path"),
      enroll(`ws://127.0.0.1:${hub.port}/tunel`, enrollmentToken, "data-wrong"),
    ]);
    // Nothing listens there: it printed fetch's "Connection refused" alone.
    assert.equal(down.code, 1, down.stderr);
    assert.match(down.stderr, /^agent: enrollment failed at ws:\/\/127\.0\.0\.1:\d+\/tunnel: .*refused/m);
    assert.match(
      down.stderr,
      /is the hub running, and does this machine reach it .* check --hub or hub\.url/,
    );
    assert.doesNotMatch(down.stderr, /\n\s+at /, "no stack trace");
    // The hub's address without /tunnel: refused before the token is sent ("404: Not Found" before).
    assert.equal(noPath.code, 2, noPath.stderr);
    assert.match(
      noPath.stderr,
      new RegExp(`hub\\.url: "${bare}": the hub's tunnel URL ends in /tunnel \\(${bare}/tunnel\\)`),
    );
    // Another path the hub does not serve: the 404 says what the URL must be.
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /nothing there answers enrollment \(404\): .*wss:\/\/HUB\/tunnel/);
    // The token was not spent by any of these: it enrolls now, once.
    const used = await hub.registry.enroll(enrollmentToken);
    assert.equal(used.site, "north");
    const again = await enroll(hub.tunnelUrl, enrollmentToken);
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stderr, /not valid \(unknown, already used, or revoked\); nothing was changed/);
    assert.match(again.stderr, /on the hub, deno task hub admin site add north issues a new one/);
    // A token past its 7 days.
    await hub.registry.revoke("north");
    const old = await hub.registry.add("north", Date.now() - 8 * 24 * 3600 * 1000);
    const expired = await enroll(hub.tunnelUrl, old.enrollmentToken);
    assert.equal(expired.code, 1, expired.stderr);
    assert.match(expired.stderr, /the enrollment token has expired; nothing was changed/);
    assert.match(expired.stderr, /deno task hub admin site add north issues a new one/);
    for (const data of ["data", "data-down", "data-no-path", "data-wrong"]) {
      assert.equal(
        await Deno.stat(path.join(dir, data, "hub-credential.json")).then(() => true, () => false),
        false,
        data,
      );
    }
  } finally {
    await hub.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an enrolled agent whose hub.url is not the tunnel's says so in its log", async () => {
  const hub = await startTestHub();
  const dataDir = await scratchDir("agent-wrong-tunnel-path-");
  const { enrollmentToken } = await hub.registry.add("north");
  const { credential } = await hub.registry.enroll(enrollmentToken);
  const wrong = `ws://127.0.0.1:${hub.port}/tunel`;
  await Deno.writeTextFile(
    path.join(dataDir, "hub-credential.json"),
    JSON.stringify({ site: "north", credential, hub: wrong, enrolledAt: new Date().toISOString() }),
    { mode: 0o600 },
  );
  const agent = await startAgentProcess({ dataDir, args: ["--site", "north", "--hub", wrong] });
  try {
    // The console answers 200 at a path it does not know (503 "not built" without a build): the hub, no tunnel.
    const line = await eventually(
      "the failed connection's log line",
      async () =>
        (await Deno.readTextFile(agent.logFile)).split("\n").find((l) =>
          l.includes("tunnel connection failed")
        ),
    );
    assert.match(
      line,
      /the hub answered (200|404|503) \(no tunnel there: --hub or hub\.url is the hub's tunnel URL, wss:\/\/HUB\/tunnel\)/,
    );
  } finally {
    await agent.stop();
    await hub.stop();
  }
});

Deno.test("an agent enrolled without --site logs the site of its credential, not standalone", async () => {
  const hub = await startTestHub();
  const { enrollmentToken } = await hub.registry.add("east");
  const agent = await startAgentProcess({ args: ["--hub", hub.tunnelUrl, "--enroll", enrollmentToken] });
  try {
    await eventually("east online", () => hub.sessions.get("east"));
    const started = (await Deno.readTextFile(agent.logFile)).split("\n").find((l) =>
      l.includes('"msg":"agent started"')
    );
    assert.match(started ?? "", /"site":"east"/);
  } finally {
    await agent.stop();
    await hub.stop();
  }
});

Deno.test("an agent whose credential the hub does not take says how to enroll again", async () => {
  const hub = await startTestHub();
  const dataDir = await scratchDir("agent-bad-credential-");
  const { enrollmentToken } = await hub.registry.add("north");
  const { credential } = await hub.registry.enroll(enrollmentToken);
  await hub.registry.revoke("north");
  await Deno.writeTextFile(
    path.join(dataDir, "hub-credential.json"),
    JSON.stringify({ site: "north", credential, hub: hub.tunnelUrl, enrolledAt: new Date().toISOString() }),
    { mode: 0o600 },
  );
  const agent = await startAgentProcess({ dataDir, args: ["--site", "north", "--hub", hub.tunnelUrl] });
  try {
    const line = await eventually(
      "the refusal's log line",
      async () =>
        (await Deno.readTextFile(agent.logFile)).split("\n").find((l) =>
          l.includes("the hub refused this agent")
        ),
    );
    const entry = JSON.parse(line);
    assert.equal(
      entry.fix,
      // The service's way (docs/operations.md, Installing as a service), not a run by hand with --enroll.
      "enroll again: on the hub, deno task hub admin site revoke north then site add north; here, stop this " +
        "agent, run deno task agent enroll --token TOKEN with its configuration, and start it again",
    );
  } finally {
    await agent.stop();
    await hub.stop();
  }
});

Deno.test("a node that does not answer is named with its address and the reason, without the library's prefix", async () => {
  const port = freePort(); // nothing listens there
  const agent = await startAgentProcess({
    config: { nodes: { research: { aet: "RESEARCH", host: "127.0.0.1", port } } },
  });
  try {
    const echo = await agentCli([
      "node",
      "echo",
      "research",
      "--http-port",
      String(agent.httpPort),
      "--json",
    ]);
    assert.equal(echo.code, 1, echo.stderr);
    // It read "RESEARCH:  -> Connection error: Connection refused (os error 111)", in the queue's last error too.
    assert.match(
      JSON.parse(echo.stdout).error,
      new RegExp(`^RESEARCH at 127\\.0\\.0\\.1:${port}: Connection error: Connection refused`),
    );
  } finally {
    await agent.stop();
  }
});

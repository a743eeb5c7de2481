/**
 * The CLIs as a newcomer meets them: `--help` of the agent and the hub names every flag they take
 * (`--enroll` included), `hub admin --help` prints the admin commands and succeeds, and the admin
 * lists have a header row.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { FLAGS } from "../../agent/config/load.ts";
import { HUB_FLAGS } from "../../hub/config.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

async function cli(main: string, args: string[]) {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", path.join(ROOT, main), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: o.code,
    stdout: new TextDecoder().decode(o.stdout),
    stderr: new TextDecoder().decode(o.stderr),
  };
}

Deno.test("agent --help and hub --help name every flag, --enroll included", async () => {
  const agent = await cli("agent/main.ts", ["--help"]);
  assert.equal(agent.code, 0);
  for (const flag of [...Object.keys(FLAGS), "config", "enroll", "help", "version"]) {
    assert.match(agent.stdout, new RegExp(`^  --${flag}\\b`, "m"), `agent --${flag}`);
  }
  const hub = await cli("hub/main.ts", ["--help"]);
  assert.equal(hub.code, 0);
  for (const flag of [...Object.keys(HUB_FLAGS), "config", "help", "version"]) {
    assert.match(hub.stdout, new RegExp(`^  --${flag}\\b`, "m"), `hub --${flag}`);
  }
});

Deno.test("hub admin --help prints the admin commands; token and user lists have a header row", async () => {
  const help = await cli("hub/main.ts", ["admin", "--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.equal(help.stderr, "");
  for (const command of ["admin site add", "admin token create", "admin user add", "--data DIR", "--json"]) {
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

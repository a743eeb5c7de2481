/**
 * `deno task agent queue`: a command line that cannot be right is a usage error (exit code 2, the usage on
 * standard error), told before the agent is asked, as operations.md says; Ctrl-C while the agent is asked
 * says what it means for the rows (and, for `agent erase`, for the study).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { connectionsTo, DENO_RUN_FLAGS, freePort } from "../support/processes.ts";
import { agentCli, startAgentProcess } from "../support/agent.ts";
import { eventually } from "../support/hub.ts";
import { withoutDenoNotices } from "../support/deno_notices.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

Deno.test("queue retry, replay, abandon and discard without a selector, a bad --older-than, --state or --limit: usage errors, exit code 2", async () => {
  // Nothing listens there: a command that got as far as asking the agent would exit 1.
  const port = String(freePort());
  for (
    const args of [
      ["retry"],
      ["replay"],
      ["abandon"],
      ["discard"],
      ["discard", "--older-than", "30"],
      ["discard", "--older-than", "0d"],
      ["discard", "--older-than", "two weeks"],
      ["list", "--state", "bogus"],
      ["list", "--limit", "0"],
      ["list", "--limit", "abc"],
      ["list", "--limit", "10001"], // the API's most (it was clamped to 10000 quietly)
    ]
  ) {
    const { code, stderr } = await agentCli(["queue", ...args, "--http-port", port]);
    assert.equal(code, 2, `queue ${args.join(" ")}: ${stderr}`);
    assert.match(stderr, /^agent queue: .*\nusage: /, `queue ${args.join(" ")}`);
  }
  // A well-formed command asks the agent: not reachable here, exit code 1.
  const { code, stderr } = await agentCli(["queue", "retry", "--all", "--http-port", port]);
  assert.equal(code, 1);
  // Where it looked and what to give: an agent started with --config is found only with the same --config.
  assert.match(
    stderr,
    new RegExp(
      `^agent queue: cannot reach the agent at http://127\\.0\\.0\\.1:${port}/queue \\(is it running\\? ` +
        "give the same --config as the agent, or --http-host and --http-port\\): ",
    ),
  );
  const node = await agentCli(["node", "list", "--http-port", port]);
  assert.equal(node.code, 1);
  assert.match(node.stderr, /^agent node: cannot reach the agent at .* give the same --config as the agent/);
});

Deno.test({
  name:
    "queue replay and erase stopped by Ctrl-C before the agent answers say it is done whole or not at all",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const agent = await startAgentProcess();
    try {
      // The agent cannot answer: stopped (SIGSTOP), its socket still takes the request.
      Deno.kill(agent.pid, "SIGSTOP");
      const http = ["--http-port", String(agent.httpPort)];
      for (
        const [args, said] of [
          [
            ["queue", "replay", "--all"],
            "agent queue: stopped by SIGINT before the agent answered: it does a replay whole or not at all; " +
            "see which with 'queue summary'",
          ],
          [
            ["erase", "--study", "1.2.3", "--yes"],
            "agent erase: stopped by SIGINT before the agent answered: it erases all of it or nothing; the " +
            'same command again says which ("no study with that UID": erased)',
          ],
        ] as const
      ) {
        // (This process's own, from the start's health checks, may still be open; and the last command's.)
        const before = connectionsTo(agent.httpPort);
        const cli = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", ...DENO_RUN_FLAGS, path.join(ROOT, "agent/main.ts"), ...args, ...http],
          stdout: "piped",
          stderr: "piped",
        }).spawn();
        const output = cli.output();
        await eventually("the command to ask the agent", () => connectionsTo(agent.httpPort) > before);
        cli.kill("SIGINT");
        const o = await output;
        // It ended silently, killed by the signal.
        assert.equal(o.code, 130, args.join(" "));
        assert.equal(new TextDecoder().decode(o.stdout), "");
        assert.equal(withoutDenoNotices(new TextDecoder().decode(o.stderr)).trim(), said);
      }
      Deno.kill(agent.pid, "SIGCONT");
      // The agent, going on, answers the next one.
      const summary = await agentCli(["queue", "summary", ...http, "--json"]);
      assert.equal(summary.code, 0, summary.stderr);
    } finally {
      try {
        Deno.kill(agent.pid, "SIGCONT");
      } catch { /* gone */ }
      await agent.stop();
    }
  },
});

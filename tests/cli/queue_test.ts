/**
 * `deno task agent queue`: a command line that cannot be right is a usage error (exit code 2, the usage on
 * standard error), told before the agent is asked, as operations.md says.
 */
import assert from "node:assert/strict";
import { freePort } from "../support/processes.ts";
import { agentCli } from "../support/agent.ts";

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

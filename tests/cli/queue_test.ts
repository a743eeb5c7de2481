/**
 * `deno task agent queue`: a command line that cannot be right is a usage error (exit code 2, the usage on
 * standard error), told before the agent is asked, as operations.md says.
 */
import assert from "node:assert/strict";
import { freePort } from "../support/processes.ts";
import { agentCli } from "../support/agent.ts";

Deno.test("queue retry and replay without a selector, a bad --state or --limit: usage errors, exit code 2", async () => {
  // Nothing listens there: a command that got as far as asking the agent would exit 1.
  const port = String(freePort());
  for (
    const args of [
      ["retry"],
      ["replay"],
      ["list", "--state", "bogus"],
      ["list", "--limit", "0"],
      ["list", "--limit", "abc"],
    ]
  ) {
    const { code, stderr } = await agentCli(["queue", ...args, "--http-port", port]);
    assert.equal(code, 2, `queue ${args.join(" ")}: ${stderr}`);
    assert.match(stderr, /^agent queue: .*\nusage: /, `queue ${args.join(" ")}`);
  }
  // A well-formed command asks the agent: not reachable here, exit code 1.
  const { code } = await agentCli(["queue", "retry", "--all", "--http-port", port]);
  assert.equal(code, 1);
});

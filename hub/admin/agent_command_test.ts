import assert from "node:assert/strict";
import { agentCommand } from "./agent_command.ts";

Deno.test("agentCommand() is deno task agent from the repository", () => {
  assert.equal(agentCommand(), "deno task agent");
  assert.equal(agentCommand("file:///opt/conduit/hub/admin/site_command.ts"), "deno task agent");
});

Deno.test("agentCommand() is the agent bundle's launcher beside the hub's bundle", () => {
  assert.equal(agentCommand("file:///opt/conduit/hub/hub/main.js"), "/opt/conduit/agent/conduit-agent");
  assert.equal(agentCommand("file:///srv/my%20build/hub/hub/main.js"), "'/srv/my build/agent/conduit-agent'");
});

Deno.test("agentCommand() is the agent's binary beside the hub's compiled binary", () => {
  const compiled = "file:///tmp/deno-compile-conduit-hub/hub/admin/agent_command.ts";
  assert.equal(agentCommand(compiled, "/opt/conduit/conduit-hub"), "/opt/conduit/conduit-agent");
  assert.equal(agentCommand(compiled, "/srv/my build/conduit-hub"), "'/srv/my build/conduit-agent'");
  // A checkout under a folder of that name is still a repository.
  assert.equal(agentCommand("file:///home/deno-compile-x.ts", "/usr/bin/deno"), "deno task agent");
});

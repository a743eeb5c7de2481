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

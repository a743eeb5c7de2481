/**
 * The console rig tears down what it started whatever the test does: a failing test's error is the one
 * reported, its agents are stopped, its browser closed and its hub (the one in `rig.hub`, also after a
 * restart) stopped; the console is built once per process.
 */
import assert from "node:assert/strict";
import { hasChromium } from "./browser.ts";
import { eventually, startTestHub, type TestHub } from "./hub.ts";
import type { AgentProcess } from "./agent.ts";
import { buildConsoleOnce, type ConsoleRig, northAndSouthSites, withConsole } from "./console_rig.ts";
import { freePort } from "./ports.ts";

const skip = hasChromium() ? undefined : "chromium not installed";
if (skip) console.warn(`console_rig_test: skipped: ${skip}`);

/** True once nothing answers on the port. */
async function closed(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return false;
  } catch {
    return true;
  }
}

Deno.test({
  name: "console rig: a failing test's error is reported and its agents, browser and restarted hub end",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    assert.equal(buildConsoleOnce(), buildConsoleOnce(), "one build per process");
    let seen: ConsoleRig | undefined;
    let agent: AgentProcess | undefined;
    let first: TestHub | undefined;
    await assert.rejects(
      withConsole({}, async (rig) => {
        seen = rig;
        agent = await rig.startAgent("north", { aet: "NORTH" });
        await eventually("north online", () => rig.hub.sessions.get("north"));
        assert.equal(rig.url, `http://127.0.0.1:${rig.hub.port}/`);
        // The test restarts the hub on the same data and port: the rig stops the new one.
        first = rig.hub;
        const { dataDir, port } = rig.hub;
        await rig.hub.stop();
        rig.hub = await startTestHub({ dataDir, port });
        throw new Error("the test failed");
      }),
      /the test failed/,
    );
    assert.ok(seen && agent && first);
    assert.notEqual(seen.hub, first);
    assert.deepEqual(seen.agents, [agent]);
    assert.ok(agent.exited(), "the agent was stopped");
    assert.ok(await closed(seen.hub.port), "the restarted hub was stopped");
    await assert.rejects(seen.browser.newPage(), "the browser was closed");
  },
});

Deno.test({
  name:
    "console rig: the agents of `sites` start with the hub; one that fails to start fails the rig, and all ends",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Started: in `sites` and `agents`, north and south as northAndSouth returns them, stopped at tear-down.
    let seen: ConsoleRig | undefined;
    await withConsole({ sites: northAndSouthSites() }, async (rig) => {
      seen = rig;
      const { north, south } = await rig.northAndSouth();
      assert.deepEqual(rig.sites, { north, south });
      assert.deepEqual(new Set(rig.agents), new Set([north, south]));
      assert.equal(north.aet, "NORTH");
      assert.equal(south.aet, "SOUTH");
    });
    assert.ok(seen);
    assert.ok(seen.agents.every((agent) => agent.exited()), "the agents were stopped");

    // South's agent refuses its config (an unknown key): the rig fails with its error, before the test
    // runs, and the hub and north's agent, which did come up, end.
    const [hubPort, northPort] = [freePort(), freePort()];
    let ran = false;
    await assert.rejects(
      withConsole({
        hub: { port: hubPort },
        sites: {
          north: { aet: "NORTH", port: northPort },
          south: { aet: "SOUTH", config: { noSuchKey: 1 } },
        },
      }, () => {
        ran = true;
        return Promise.resolve();
      }),
      /noSuchKey|exited/,
    );
    assert.equal(ran, false, "the test does not run on a rig that failed");
    assert.ok(await closed(northPort), "north's agent was stopped");
    assert.ok(await closed(hubPort), "the hub was stopped");
  },
});

/**
 * Two hubs on one PostgreSQL (in this process) and a real agent on the second: the first hub learns the
 * features the agent named in its hello from the hub holding it (a probe over the hub-to-hub link), so
 * that it asks the agent what it understands (the `delivery` check of a transfer to a node, WADO-RS paths,
 * some series of a study, a site's conflicts) instead of taking it for an agent of version 1; held by a hub
 * that cannot say, a site is not asked its conflicts. A site no hub holds has none.
 */
import assert from "node:assert/strict";
import { FEATURE_DELIVERY, FEATURE_INSTANCE_PATH, FEATURE_SERIES_TRANSFER } from "@conduit/shared/tunnel";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { postgresTest } from "../support/postgres.ts";
import { freePort } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { TRPCClientError } from "@trpc/client";
import { createConduitClient } from "../../hub/client/mod.ts";

postgresTest("a hub learns the features of an agent another hub of its cluster holds", async (db) => {
  const [portA, portB] = [freePort(), freePort()];
  const a = await startTestHub({ db, port: portA, clusterUrl: `http://127.0.0.1:${portA}` });
  const b = await startTestHub({ db, port: portB, clusterUrl: `http://127.0.0.1:${portB}` });
  const agent = await startAgentProcess({ aet: "SOUTH", args: await siteArgs(b, "south") });
  try {
    await eventually(
      "south on hub B, seen from hub A",
      () => b.sessions.get("south") && a.sessions.online("south"),
    );
    assert.equal(a.sessions.get("south"), undefined, "not connected to hub A");
    assert.equal(a.sessions.supports("south", FEATURE_DELIVERY), false, "what hub A knows by itself");
    const features = await a.sessions.featuresOf("south");
    assert.ok(features, "hub B told hub A");
    for (const f of [FEATURE_DELIVERY, FEATURE_INSTANCE_PATH, FEATURE_SERIES_TRANSFER]) {
      assert.ok(features.has(f), f);
    }
    assert.deepEqual([...(await b.sessions.featuresOf("south"))!].sort(), [...features].sort());
    assert.equal(await a.sessions.featuresOf("nowhere"), undefined);
    // A site's conflicts, through hub A: asked of the agent hub B holds, which names the feature.
    const client = createConduitClient({
      url: `http://127.0.0.1:${portA}`,
      token: (await a.tokens.create("ops", "operator")).token,
    });
    assert.deepEqual(await client.site.conflicts.query({ site: "south" }), {
      limit: 50,
      offset: 0,
      total: 0,
      conflicts: [],
    });
    // Held by a hub that cannot say what the agent supports (one from before site features): not asked.
    const elsewhere = (a.sessions as unknown as { elsewhere: { features?: unknown } }).elsewhere;
    const features0 = elsewhere.features;
    elsewhere.features = undefined;
    await assert.rejects(client.site.conflicts.query({ site: "south" }), (e: unknown) => {
      assert.ok(e instanceof TRPCClientError && e.data?.code === "PRECONDITION_FAILED", String(e));
      assert.match(
        e.message,
        /^the hub that holds south cannot say whether its agent can list conflicts/,
      );
      return true;
    });
    elsewhere.features = features0;
    // The agent's tunnel saw no stream for the probe (nothing in its log about a bad request).
    const log = await Deno.readTextFile(agent.logFile);
    assert.doesNotMatch(log, /"level":"(warn|error)".*stream/);
  } finally {
    await agent.stop();
    await b.stop();
    await a.stop();
  }
});

/**
 * The hub's relay policy (`tunnel.relays`) with real agents: north may relay only to east, so its route to
 * south's PACS is refused at the hub, each object dead at once with the reason, nothing at the PACS, and the
 * rest of an object not sent once the refusal is in; a transfer an operator creates from north to south
 * still goes (transfers relay from their source to their destination whatever the list says).
 */
import assert from "node:assert/strict";
import { freePort, skipReason, startStorescp } from "../support/peers.ts";
import { type AgentProcess, indexRows, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { readPart10Header } from "@conduit/shared/dicom";

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`relay_policy_test: skipped: ${skip}`);

Deno.test({
  name: "tunnel.relays: a route to a site the policy does not list is refused; a transfer there still goes",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub({ relays: { north: ["east"] } });
    const pacs = await startStorescp({
      aet: "PACS",
      dir: await Deno.makeTempDir({ prefix: "policy-pacs-" }),
    });
    const agents: AgentProcess[] = [];
    try {
      const queue = { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 50 };
      const south = await startAgentProcess({
        aet: "SOUTH",
        port: freePort(),
        config: { queue, nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port } } },
        args: await siteArgs(hub, "south"),
      });
      agents.push(south);
      const north = await startAgentProcess({
        aet: "NORTH",
        config: { queue, routes: [{ name: "to-south", to: [{ site: "south", node: "pacs" }] }] },
        args: await siteArgs(hub, "north"),
      });
      agents.push(north);
      await eventually("both online", () => hub.sessions.get("north") && hub.sessions.get("south"));

      const dir = await Deno.makeTempDir({ prefix: "policy-src-" });
      const series = await writeGeneratedSeries(dir, {
        count: 3,
        rows: 32,
        columns: 32,
        seed: "relay-policy",
      });
      assert.equal((await storescu(series.paths, north)).code, 0);
      const sops = await Promise.all(
        series.paths.map(async (p) => readPart10Header(await Deno.readFile(p)).sopInstanceUid!),
      );
      // A large object too: refused before it is sent, it does not cross the tunnel.
      const big = await writeGeneratedSeries(dir, {
        count: 1,
        rows: 2048,
        columns: 2048,
        seed: "relay-policy-big",
      });
      const bigSize = (await Deno.stat(big.paths[0])).size;
      assert.equal((await storescu(big.paths, north)).code, 0);
      const rows = await eventually("north's rows dead", () => {
        const found = indexRows(
          north.dataDir,
          "SELECT state, attempts, last_error FROM queue WHERE route = ?",
          "to-south",
        );
        return found.length === 4 && found.every((r) => r.state === "dead") ? found : undefined;
      }, 30_000);
      for (const r of rows) {
        assert.equal(r.attempts, 1, "refused by policy: not tried again");
        assert.match(String(r.last_error), /site north may not relay to site south \(tunnel\.relays/);
      }
      assert.ok(hub.lines.some((l) => l.includes("relay refused by the relay policy")));
      const crossed = hub.sessions.get("north")!.session.bytesIn;
      assert.ok(
        crossed < bigSize / 4,
        `north stopped sending once refused (${crossed} bytes in, object ${bigSize})`,
      );
      assert.equal(
        indexRows(south.dataDir, "SELECT count(*) AS n FROM instances")[0].n,
        0,
        "south received nothing",
      );

      // An operator's transfer from north to south is not a route of north's: it goes.
      const { id } = await hub.transfers.create(
        { source: { site: "north" }, destination: { site: "south" }, studies: [series.studyUid] },
        "test",
      );
      await eventually(
        "the transfer done",
        async () => (await hub.transfers.get(id))?.status === "success" || undefined,
        60_000,
      );
      const atSouth = indexRows(south.dataDir, "SELECT sop_instance_uid FROM instances").map((r) =>
        r.sop_instance_uid
      );
      assert.deepEqual(atSouth.sort(), [...sops].sort());
    } finally {
      for (const a of agents) await a.stop();
      await pacs.stop();
      await hub.stop();
    }
  },
});

Deno.test({
  name:
    "a route to a site the hub does not know, or to a node its site does not have, is dead at once, saying so",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    const agents: AgentProcess[] = [];
    try {
      const queue = { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 50 };
      const south = await startAgentProcess({
        aet: "SOUTH",
        port: freePort(),
        args: await siteArgs(hub, "south"),
      });
      agents.push(south);
      const north = await startAgentProcess({
        aet: "NORTH",
        config: {
          queue,
          routes: [
            { name: "to-sooth", to: [{ site: "sooth" }] },
            { name: "to-south-nowhere", to: [{ site: "south", node: "nowhere" }] },
          ],
        },
        args: await siteArgs(hub, "north"),
      });
      agents.push(north);
      await eventually("both online", () => hub.sessions.get("north") && hub.sessions.get("south"));
      const dir = await Deno.makeTempDir({ prefix: "unknown-destination-" });
      const series = await writeGeneratedSeries(dir, { count: 2, rows: 8, columns: 8, seed: "unknown-dest" });
      assert.equal((await storescu(series.paths, north)).code, 0);
      const rows = await eventually("north's rows dead", () => {
        const found = indexRows(north.dataDir, "SELECT route, state, attempts, last_error FROM queue");
        return found.length === 4 && found.every((r) => r.state === "dead") ? found : undefined;
      }, 30_000);
      // Until 2026-12-07: "site sooth is not connected" and "stream N reset by the peer", tried again 50 times.
      for (const r of rows) {
        assert.equal(r.attempts, 1, JSON.stringify(r));
        assert.match(
          String(r.last_error),
          r.route === "to-sooth"
            ? /no site named sooth: check the route's site/
            : /the destination site has no node named nowhere: check the route's node/,
        );
      }
    } finally {
      for (const a of agents) await a.stop();
      await hub.stop();
    }
  },
});

/**
 * The hub-to-hub endpoint `/cluster` against a peer that misbehaves, with a real agent connected to the hub
 * all along: a wrong secret is 401 and logged; with the right secret, an open that fails the schema ends that
 * stream only (logged, the link goes on), thousands of streams at once are held to the link's limit, and
 * garbage frames end that link only. Throughout, the agent's tunnel and the hub's other routes stay up.
 */
import assert from "node:assert/strict";
import { Channel, openWebSocket, Session, webSocketTransport } from "@conduit/shared/tunnel";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { postgresTest } from "../support/postgres.ts";
import { freePort } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";

type Line = Record<string, unknown>;

postgresTest(
  "/cluster: a bad secret, a bad open, thousands of streams and garbage end only that peer's link",
  async (db) => {
    const port = freePort();
    const hub = await startTestHub({ db, port, clusterUrl: `http://127.0.0.1:${port}` });
    const agent = await startAgentProcess({ aet: "SOUTH", args: await siteArgs(hub, "south") });
    const logged = (msg: string) => hub.lines.map((l) => JSON.parse(l) as Line).filter((l) => l.msg === msg);
    const sessions: Session[] = [];
    try {
      const south = await eventually("south online", () => hub.sessions.get("south"));
      const url = `ws://127.0.0.1:${port}/cluster`;
      const secret = await hub.cluster!.leases.secret();

      // A wrong secret: 401, logged, never the secret.
      const wrong = await fetch(`http://127.0.0.1:${port}/cluster`, {
        headers: { authorization: "Bearer nope" },
      });
      assert.equal(wrong.status, 401);
      assert.match((await wrong.json()).error, /cluster secret/);
      assert.equal(logged("hub link refused: bad cluster secret").length, 1);

      const link = async () => {
        const ws = await openWebSocket(url, {
          headers: { authorization: `Bearer ${secret}`, "x-conduit-hub": "rogue" },
        });
        const session = new Session(webSocketTransport(ws), { side: "client", maxStreams: 20_000 });
        sessions.push(session);
        return { ws, session };
      };
      const { session } = await link();
      // Opens that fail the schema: each stream is reset, logged with why, and the link goes on.
      const refused = async (open: unknown) => {
        const channel = new Channel(session.open());
        await channel.send(open);
        await assert.rejects(channel.next());
      };
      await refused({ site: "south", drop: "tables" });
      await refused({ site: "" });
      await refused({ site: 5 });
      await refused(["not", "an", "object"]);
      const bad = await eventually("the bad opens logged", () => {
        const lines = logged("a hub's request refused");
        return lines.length === 4 ? lines : undefined;
      });
      assert.equal(bad[0].hub, "rogue");
      assert.match(String(bad[0].reason), /drop/);
      assert.ok(!session.isClosed, "the link goes on");
      // More of them: the first ten of a link are logged, the tenth saying the rest are not.
      for (let i = 0; i < 8; i++) await refused({ site: "south", probe: "yes" });
      await eventually(
        "ten refusals logged",
        () => logged("a hub's request refused").length === 10 || undefined,
      );
      const logged10 = logged("a hub's request refused");
      assert.equal(logged10.length, 10);
      assert.equal(logged10[9].more, "the link's further refusals are not logged");
      // A good probe on the same link still answers.
      const probe = new Channel(session.open());
      await probe.send({ site: "south", probe: true });
      const answer = await probe.next();
      assert.equal(answer?.kind, "json");
      assert.equal(logged("a hub's request refused").length, 10, "no more than ten logged for one link");

      // Ten thousand streams at once, none sending anything: the hub holds at most its limit and stays up.
      const many = Array.from({ length: 10_000 }, () => session.open());
      // Those past the hub's 8192 (less the few above, already ended) are refused at once.
      await eventually(
        "the streams past the limit refused",
        () => many.filter((s) => s.signal.aborted).length >= 10_000 - 8192 || undefined,
      );
      assert.ok(many.filter((s) => s.signal.aborted).length < 10_000 - 8192 + 20, "the rest are held");
      await eventually(
        "the hub still answers /healthz",
        async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok,
      );
      assert.ok(await south.session.ping(5000) >= 0, "the agent's tunnel works");
      // A stream that stays silent is reset once the hub has waited for its request (30 s; 300 ms here).
      // (On a link of its own: the first is at the hub's limit of streams, which refuses any new one at once.)
      hub.cluster!.peers.openWaitMs = 300;
      const quiet = (await link()).session;
      const silent = quiet.open();
      await eventually("the silent stream reset", () => silent.signal.aborted || undefined, 5000);
      // That link closed normally by the peer: its end is logged at info.
      quiet.close();
      const ends = () => logged("hub link from a peer ended");
      const normal = await eventually("the normal end logged", () => ends()[0]);
      assert.deepEqual([normal.level, normal.hub, normal.reason], ["info", "rogue", "Normal"]);

      // Garbage frames on another link: that link ends, logged as a warning (a protocol error, not a normal
      // close: it was info, like any end); the first link, the agent, the hub go on.
      const second = await link();
      second.ws.send(new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]));
      await eventually("the garbage link ended", () => second.session.isClosed || undefined);
      const broken = await eventually("its end logged", () => ends()[1]);
      assert.deepEqual([broken.level, broken.hub, broken.local], ["warn", "rogue", true]);
      assert.notEqual(broken.reason, "Normal");
      assert.equal(ends().length, 2);
      assert.equal(hub.sessions.get("south"), south, "the agent's tunnel was not touched");
      assert.ok(await south.session.ping(5000) >= 0);
      assert.ok((await fetch(`http://127.0.0.1:${port}/healthz`)).ok);
    } finally {
      for (const s of sessions) s.close();
      await agent.stop();
      await hub.stop();
    }
  },
);

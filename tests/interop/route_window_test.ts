/**
 * A route that forwards only in its time window (`routes[].window`): outside it, what it takes is archived
 * and queued, held until the opening; a reload that opens the window lets the rows go at once; one that
 * closes it again holds what came after; a replay while it is closed holds them again; a reload that removes
 * it lets them go. A bad window stops the reload with the transfers' own words.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { listFiles, queueRows, startAgentProcess } from "../support/agent.ts";
import { reloadAgent as reload } from "../support/reload.ts";
import { eventually } from "../support/hub.ts";
import { scratchDir, skipReason, startStorescp } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("storescu", "storescp");

const hhmm = (at: number) => new Date(at).toISOString().slice(11, 16);
/** A window of an hour that opens `hours` from now (UTC), or one open now. */
const windowIn = (hours: number) => ({
  start: hhmm(Date.now() + hours * 3600_000),
  end: hhmm(Date.now() + (hours + 1) * 3600_000),
  timeZone: "UTC",
});

Deno.test({
  name: "a route with a time window holds what it takes until the window opens; a reload opens or closes it",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("conduit-route-window-");
    const series = await writeGeneratedSeries(path.join(dir, "in"), { count: 4, rows: 16, columns: 16 });
    const pacs = await startStorescp({ dir: path.join(dir, "pacs"), aet: "PACS" });
    const config = (window: unknown) => ({
      nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port } },
      routes: [{ name: "night", to: [{ node: "pacs" }], window }],
    });
    const agent = await startAgentProcess({ config: config(windowIn(12)) });
    try {
      assert.equal((await storescu(series.paths.slice(0, 2), agent)).code, 0);
      const held = await eventually("two rows held", async () => {
        const rows = (await queueRows(agent)).filter((r) => r.destination === "pacs");
        return rows.length === 2 ? rows : undefined;
      });
      for (const r of held) {
        assert.equal(r.state, "pending");
        assert.ok((r as unknown as { nextAttemptAt: number }).nextAttemptAt > Date.now() + 10 * 3600_000);
      }
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await listFiles(pacs.dir)).length, 0, "nothing forwarded outside the window");

      // A bad window: the reload is refused in the words transfers use, and the route in force stays.
      const { line: refused } = await reload(agent, config({ start: "25:00", end: "06:00" }));
      assert.match(String(refused.reason), /routes: night: window: the window's start "25:00" is not a time/);

      // The window opened (a reload that puts it around now): the held rows go at once.
      const open = { start: hhmm(Date.now() - 3600_000), end: hhmm(Date.now() + 3600_000), timeZone: "UTC" };
      await reload(agent, config(open));
      await eventually("both at the PACS", async () => (await listFiles(pacs.dir)).length === 2, 20_000);

      // Closed again: what comes now waits.
      await reload(agent, config(windowIn(12)));
      assert.equal((await storescu(series.paths.slice(2), agent)).code, 0);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await listFiles(pacs.dir)).length, 2);
      const waiting = (await queueRows(agent)).filter((r) =>
        r.destination === "pacs" && r.state === "pending"
      );
      assert.equal(waiting.length, 2);
      // The summary says they are held, not late.
      const { rows } = await (await agent.http("/queue/summary")).json();
      assert.deepEqual(
        rows.filter((r: { destination: string; state: string }) =>
          r.destination === "pacs" && r.state === "pending"
        )
          .map((r: { count: number; held?: number; oldest: number }) => [r.count, r.held, r.oldest]),
        [[2, 2, 0]],
      );

      // Abandoned and replayed while the window is closed: held again, not sent (until 2026-12-08 a retry or
      // a replay sent them at once).
      const post = async (what: string) =>
        await (await agent.http(`/queue/${what}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ destination: "pacs" }),
        })).json();
      assert.deepEqual(await post("abandon"), { abandoned: 2 });
      assert.deepEqual(await post("replay"), { replayed: 2 });
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await listFiles(pacs.dir)).length, 2, "replayed rows wait for the window");
      const replayed = (await queueRows(agent)).filter((r) =>
        r.destination === "pacs" && r.state === "pending"
      );
      assert.equal(replayed.length, 2);
      for (const r of replayed) {
        assert.ok((r as unknown as { nextAttemptAt: number }).nextAttemptAt > Date.now() + 10 * 3600_000);
      }

      // The window removed by a reload: what it held goes at once (until 2026-12-08 it waited for the old
      // opening; so after a restart).
      await reload(agent, config(undefined));
      await eventually("all four at the PACS", async () => (await listFiles(pacs.dir)).length === 4, 20_000);
    } finally {
      await agent.stop();
      await pacs.stop();
    }
  },
});

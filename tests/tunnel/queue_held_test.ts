/**
 * Rows a route's window holds are told to the hub apart from the rest of the queue depth (`held`, the
 * `queue-held` feature): the Sites screen and `admin site list` say they are due later, not stuck (until
 * 2026-12-08 a site with thousands of held rows showed only its queue depth; QA 36b).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, siteRow, startTestHub } from "../support/hub.ts";
import { freePort, scratchDir, skipReason } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("storescu");
const hhmm = (at: number) => new Date(at).toISOString().slice(11, 16);

Deno.test({
  name: "the hub hears how many of a site's queued rows a window holds, apart from its queue depth",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    const dir = await scratchDir("conduit-queue-held-");
    const series = await writeGeneratedSeries(path.join(dir, "in"), { count: 3, rows: 16, columns: 16 });
    // A window that opens in 12 hours (UTC): what the route takes now waits.
    const window = {
      start: hhmm(Date.now() + 12 * 3600_000),
      end: hhmm(Date.now() + 13 * 3600_000),
      timeZone: "UTC",
    };
    const agent = await startAgentProcess({
      aet: "NORTH",
      config: {
        nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: freePort() } },
        routes: [{ name: "night", to: [{ node: "pacs" }], window }],
      },
      args: await siteArgs(hub, "north"),
    });
    try {
      await eventually("north online", () => hub.sessions.get("north"));
      assert.equal((await storescu(series.paths, agent)).code, 0);
      // The hub asks each site its status every 6 heartbeats (1 s each here).
      await eventually("the hub knows 3 held of 3", () => {
        const s = hub.sessions.get("north");
        return s?.queueDepth === 3 && s.held === 3 || undefined;
      }, 30_000);
      await eventually(
        "admin site list says so",
        async () => (await siteRow(hub, "north"))?.held === 3 || undefined,
      );
    } finally {
      await agent.stop();
      await hub.stop();
    }
  },
});

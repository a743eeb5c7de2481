/**
 * `hub admin site list` (text and `--json`) shows a site's last seen as the console does: the live fact that
 * the hub holding the site's session writes at each sync from the agent's answered heartbeats (one row per
 * site, overwritten), not the time its tunnel connected. A real hub, a real agent process, the CLI as a
 * subprocess on the hub's database and the console's `sites.list` through the tRPC client.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, hubAdmin, siteArgs, siteRow, startTestHub } from "../support/hub.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

/** The LAST SEEN column of `site`'s line in the text of `admin site list`. */
async function lastSeenText(dataDir: string, site: string): Promise<string | undefined> {
  const r = await hubAdmin(dataDir, ["site", "list"]);
  assert.equal(r.code, 0, r.stderr);
  const [header, ...lines] = r.stdout.trim().split("\n").map((l) => l.split("\t"));
  return lines.find((l) => l[0] === site)?.[header.indexOf("LAST SEEN")];
}

Deno.test({
  name: "admin site list: last seen moves with the site's heartbeats and is the console's",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub({ heartbeatSeconds: 1 });
    const agent = await startAgentProcess({ args: await siteArgs(hub, "north") });
    try {
      await eventually("north online", async () => (await siteRow(hub, "north"))?.state === "online");
      const first = Date.parse(String((await siteRow(hub, "north"))!.lastSeenAt));
      assert.ok(Number.isFinite(first));

      // Heartbeats answered after the first reading move it, in --json and in the text.
      await eventually("a later last seen in --json", async () => {
        const seen = Date.parse(String((await siteRow(hub, "north"))!.lastSeenAt));
        return seen > first || undefined;
      });
      await eventually("a later last seen in the text", async () => {
        const text = await lastSeenText(hub.dataDir, "north");
        return (text && Date.parse(text) > first) || undefined;
      });

      // The same value the console reads (sites.list), once both are read between two syncs.
      const console = createConduitClient({
        url: `http://127.0.0.1:${hub.port}`,
        token: (await hub.tokens.create("eyes", "viewer")).token,
      });
      await eventually("the CLI and the console agree", async () => {
        const cli = (await siteRow(hub, "north"))!.lastSeenAt;
        const shown = (await console.sites.list.query()).find((s) => s.site === "north")!.lastSeenAt;
        return (cli === shown && Date.parse(String(cli)) > first) || undefined;
      });
    } finally {
      await agent.stop();
      await hub.stop();
    }
  },
});

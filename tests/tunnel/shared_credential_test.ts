/**
 * Two real agents holding one site's credential (the second's data directory given a copy of the first's
 * hub-credential.json, as a copied directory or a leaked credential would): each connects in turn and pushes
 * the other out. The hub warns, once, that the site's sessions keep replacing each other, with both addresses
 * and what to do; one agent alone reconnecting does not.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { scratchDir } from "../support/processes.ts";

const FLAPPING = "site sessions keep replacing each other";

Deno.test({
  name: "hub: two agents with one site's credential are warned of as sessions that keep replacing each other",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub({ heartbeatSeconds: 1 });
    const hubSettings = { hub: { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 0.5 } };
    const args = await siteArgs(hub, "north");
    const first = await startAgentProcess({ config: hubSettings, args });
    let second: Awaited<ReturnType<typeof startAgentProcess>> | undefined;
    try {
      await eventually("north online", () => hub.sessions.get("north"));
      assert.ok(!hub.lines.some((l) => l.includes(FLAPPING)));
      const copy = await scratchDir("conduit-agent-copy-");
      await Deno.mkdir(copy, { recursive: true });
      await Deno.copyFile(
        path.join(first.dataDir, "hub-credential.json"),
        path.join(copy, "hub-credential.json"),
      );
      // The same site and hub, without the spent enrollment token.
      second = await startAgentProcess({ dataDir: copy, config: hubSettings, args: args.slice(0, 4) });
      const warned = await eventually(
        "the hub's warning",
        () => hub.lines.find((l) => l.includes(FLAPPING)),
        30_000,
      );
      const line = JSON.parse(warned);
      assert.equal(line.level, "warn");
      assert.equal(line.site, "north");
      assert.ok(line.replacements >= 3, warned);
      assert.match(line.previousAddress, /^127\.0\.0\.1:\d+$/);
      assert.match(line.hint, /two agents may hold this site's credential/);
      assert.doesNotMatch(warned, /cts\./, "never the credential");
    } finally {
      await second?.stop();
      await first.stop();
      await hub.stop();
    }
  },
});

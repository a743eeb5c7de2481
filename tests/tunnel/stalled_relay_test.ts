/**
 * A relay between two sites whose tunnels stall mid-transfer (TCP open, no byte either way, or one way
 * only: a half-open link): heartbeats end the sessions, both agents reconnect on fresh connections, and
 * every object reaches the destination's PACS once and unchanged, also when the stalled bytes move again
 * late (the proxy thawed after the new sessions are up).
 */
import assert from "node:assert/strict";
import { skipReason } from "../support/peers.ts";
import { eventually } from "../support/hub.ts";
import { assertDelivered, type RelayRig, sendSeries, startRelayRig } from "./_rig.ts";

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`stalled_relay_test: skipped: ${skip}`);

const FAULTS: Record<string, (rig: RelayRig) => void> = {
  "both ways": (rig) => rig.proxy.freezeAll(),
  "hub to agents only": (rig) => rig.proxy.freezeToClient(),
  "agents to hub only": (rig) => rig.proxy.freezeToUpstream(),
};

for (const [name, fault] of Object.entries(FAULTS)) {
  Deno.test({
    name: `stalled relay (${name}): the sessions are replaced and every object reaches PACS once`,
    ignore: Boolean(skip),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const rig = await startRelayRig();
      try {
        const online = () => {
          const n = rig.hub.sessions.get("north")?.session, s = rig.hub.sessions.get("south")?.session;
          return n && s ? [n, s] : undefined;
        };
        const before = await eventually("both sites online", online);
        // Some 500 KB at 200 KB/s from the hub to the agents: the stall lands while objects flow.
        rig.proxy.throttle(200_000);
        const sending = sendSeries(rig, `stalled-relay-${name}`, 60);
        sending.catch(() => {});
        await eventually(
          "the first objects at PACS",
          async () => (await rig.received()).size > 5 || undefined,
        );
        fault(rig);
        await eventually("both sites on new sessions", () => {
          const now = online();
          return now && now.every((s, i) => s !== before[i] && !s.isClosed) || undefined;
        }, 30_000);
        // The stalled connections move their bytes late, into sessions that have ended.
        rig.proxy.thaw();
        rig.proxy.throttle(undefined);
        await assertDelivered(rig, await sending);
      } finally {
        await rig.stop();
      }
    },
  });
}

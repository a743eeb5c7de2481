/**
 * A relay between two sites whose tunnels stall mid-transfer (TCP open, no byte either way, or one way
 * only: a half-open link): heartbeats end the sessions, both agents reconnect on fresh connections, and
 * every object reaches the destination's PACS once and unchanged, also when the stalled bytes move again
 * late (the proxy thawed after the new sessions are up). With only the destination's tunnel stalled, the
 * sender's relays held at the hub for it fail and are retried once it is back.
 */
import assert from "node:assert/strict";
import { skipReason } from "../support/peers.ts";
import { eventually } from "../support/hub.ts";
import { partialFiles } from "../support/faults.ts";
import { assertDelivered, type RelayRig, sendSeries, startRelayRig } from "./_rig.ts";
import { sharedRig } from "../support/shared_rig.ts";

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`stalled_relay_test: skipped: ${skip}`);

/** Each fault, and whether north reaches the hub directly (only south's tunnel stalls, north's relays wait). */
const FAULTS: Record<string, { fault: (rig: RelayRig) => void; northDirect?: boolean }> = {
  "both ways": { fault: (rig) => rig.proxy.freezeAll() },
  "hub to agents only": { fault: (rig) => rig.proxy.freezeToClient() },
  "agents to hub only": { fault: (rig) => rig.proxy.freezeToUpstream() },
  "south's tunnel only": { fault: (rig) => rig.proxy.freezeAll(), northDirect: true },
};

// A rig for the faults with both tunnels through the proxy, one for north's direct way: each test sends a
// series of its own and leaves the rig as it found it (the proxy thawed and unthrottled, the sessions up).
const rigs = [false, true].map((northDirect) =>
  sharedRig<RelayRig>({ skip, setUp: () => startRelayRig({ northDirect }), stop: (rig) => rig.stop() })
);

for (const [name, { fault, northDirect }] of Object.entries(FAULTS)) {
  const shared = rigs[northDirect ? 1 : 0];
  // The first rig stopped before the second starts (the faults through the proxy come first).
  if (northDirect) {
    rigs[0].tearDown("stalled_relay_test: the rig with both tunnels through the proxy stopped");
  }
  shared.test(
    `stalled relay (${name}): the stalled sessions are replaced and every object reaches PACS once`,
    async (rig) => {
      const online = () => {
        const n = rig.hub.sessions.get("north")?.session, s = rig.hub.sessions.get("south")?.session;
        return n && s ? [n, s] : undefined;
      };
      const before = await eventually("both sites online", online);
      // Some 500 KB at 200 KB/s from the hub to south: the stall lands while objects flow.
      const earlier = (await rig.received()).size; // what the rig's earlier tests delivered
      rig.proxy.throttle(200_000);
      const sending = sendSeries(rig, `stalled-relay-${name}`, 60);
      sending.catch(() => {});
      const under = await eventually("the first objects at PACS", async () => {
        const n = (await rig.received()).size - earlier;
        return n > 5 ? n : undefined;
      });
      fault(rig);
      assert.ok(under < 60, "every object was at PACS before the stall");
      await eventually("the stalled sessions replaced", () => {
        const now = online();
        const stalled = northDirect ? [1] : [0, 1];
        return now && stalled.every((i) => now[i] !== before[i] && !now[i].isClosed) || undefined;
      }, 30_000);
      // The stalled connections move their bytes late, into sessions that have ended.
      rig.proxy.thaw();
      rig.proxy.throttle(undefined);
      await assertDelivered(rig, await sending);
      // What south received of the objects cut off by the stall is not left behind.
      await eventually(
        "no partial file at south",
        async () => (await partialFiles(rig.south.dataDir)).length === 0 || undefined,
        10_000,
      );
    },
  );
}

rigs[1].tearDown("stalled_relay_test: the rig with north's direct way stopped");

/**
 * A transfer whose tunnels stall mid-way (TCP open, no byte either way, or only from the hub to the agents:
 * a half-open link): heartbeats end the sessions, the agents reconnect on fresh connections, and the transfer
 * resumes from what was acknowledged and ends `success`, every object at the PACS once.
 */
import assert from "node:assert/strict";
import { eventually } from "../support/hub.ts";
import type { CuttableProxy } from "../support/tcp_proxy.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { atPacs, atPacsSince, finished, type Rig, rig, seed, skip, stopRig } from "./_rig.ts";

const FAULTS: Record<string, (proxy: CuttableProxy) => void> = {
  "both ways": (proxy) => proxy.freezeAll(),
  "hub to agents only": (proxy) => proxy.freezeToClient(),
};

/** Both sites' sessions at the hub, once both are open. */
const sessions = (r: Rig) => {
  const n = r.hub.sessions.get("north")?.session, s = r.hub.sessions.get("south")?.session;
  return n && s && !n.isClosed && !s.isClosed ? [n, s] : undefined;
};

// One rig (both agents through the proxy) for both faults: each test transfers studies of its own (fresh
// seeds), counts what reached the PACS since it began, and leaves the proxy thawed and unthrottled.
const shared = sharedRig<Rig>({ skip, setUp: () => rig({ tunnelProxy: true }), stop: stopRig });

for (const [name, fault] of Object.entries(FAULTS)) {
  shared.test(
    `a transfer across a tunnel stalled ${name} resumes and ends success, each object once`,
    async (r) => {
      const earlier = await atPacs(r);
      // The two studies are written and stored to north side by side (two storescu associations).
      const studies = await Promise.all([
        seed(r, `stalled-${name}-a`, 30, "CT", 128),
        seed(r, `stalled-${name}-b`, 30, "CT", 128),
      ]);
      const before = await eventually("both sites online", () => sessions(r));
      // 2 MB at 300 KB/s to the agents: the stall lands while the transfer runs.
      r.proxy!.throttle(300_000);
      const { id } = await r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "pacs" },
        studies: studies.map((s) => s.studyUid),
      });
      const under = await eventually("the first objects acknowledged", async () => {
        const t = await r.client.transfers.get.query({ id });
        return t.totals.done > 5 ? t : undefined;
      });
      fault(r.proxy!);
      assert.ok(under.totals.done < 60, `the transfer was done before the stall (${under.totals.done})`);
      await eventually("both sites on new sessions", () => {
        const now = sessions(r);
        return now && now.every((s, i) => s !== before[i]) || undefined;
      }, 30_000);
      // The stalled connections deliver their bytes late, into sessions that have ended.
      r.proxy!.thaw();
      r.proxy!.throttle(undefined);
      const done = await finished(r, id);
      assert.equal(done.status, "success", JSON.stringify(done));
      assert.deepEqual(done.totals, { studies: 2, objects: 60, done: 60, failed: 0, missing: 0, held: 0 });
      const pacs = await eventually("60 objects at the PACS", async () => {
        const p = await atPacsSince(r, earlier);
        return p.size === 60 ? p : undefined;
      });
      assert.ok([...pacs.values()].every((n) => n === 1), "an object reached the PACS twice");
    },
  );
}

shared.tearDown("stalled_tunnel_test: the rig stopped");

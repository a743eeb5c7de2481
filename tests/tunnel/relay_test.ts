/**
 * Relay between two agents through the hub over real WebSockets: north's route sends to south's
 * PACS. Every object reaches the PACS exactly once and byte-identical, with the tunnel cut at
 * random moments, with the hub restarted, and with the destination agent restarted mid-transfer; an
 * object whose archived bytes changed after north indexed them never reaches it.
 */
import assert from "node:assert/strict";
import { skipReason } from "../support/peers.ts";
import { indexRows } from "../support/agent.ts";
import { eventually } from "../support/hub.ts";
import * as path from "node:path";
import { assertDelivered, type RelayRig, sendSeries, startRelayRig } from "./_rig.ts";
import { sharedRig } from "../support/shared_rig.ts";

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`relay_test: skipped: ${skip}`);
const CUTS = Deno.env.get("CONDUIT_QUICK") ? 6 : 30;
const BATCH = 100;
const OBJECTS = 300;

// One rig for the file's tests: each sends a series of its own (a fresh seed, so fresh UIDs) and counts at PACS
// only what it sent or what arrived since it began; the restarts leave the rig whole for the next test. The
// agents wait at most 0.3 s before they try the hub again (the cuts come faster than a session that holds, so
// their backoff stays at its cap; at 1 s a third of the cuts test went to waiting for the next connection), and
// fsync nothing (dimse.sync: false): the restarts here are of processes, whose writes the system keeps; a
// restart of the machine is not what these tests are about.
const shared = sharedRig<RelayRig>({
  skip,
  setUp: () => startRelayRig({ reconnectCapSeconds: 0.3, noSync: true }),
  stop: (rig) => rig.stop(),
});

function rigTest(name: string, fn: (rig: RelayRig) => Promise<void>) {
  shared.test(name, async (rig) => {
    try {
      await fn(rig);
    } catch (err) {
      console.error((await Deno.readTextFile(rig.north.logFile)).slice(-2500));
      console.error((await Deno.readTextFile(rig.south.logFile)).slice(-2500));
      throw err;
    }
  });
}

rigTest("a route to another site's node delivers through the hub, once and byte for byte", async (rig) => {
  await eventually("both sites online", () => rig.hub.sessions.get("north") && rig.hub.sessions.get("south"));
  const sources = await sendSeries(rig, "relay-plain", 20);
  await assertDelivered(rig, sources);
});

rigTest(
  `tunnel cuts at random moments lose and duplicate nothing (${CUTS} cuts while series of ${BATCH} objects flow)`,
  async (rig) => {
    await eventually(
      "both sites online",
      () => rig.hub.sessions.get("north") && rig.hub.sessions.get("south"),
    );
    // Series go to north one after another while the tunnel is cut at random moments (every 0.15 to 0.65 s;
    // an object of these takes milliseconds, a reconnect at most 0.3 s and a handshake: 0.2 to 1.2 s before)
    // under them: each cut lands somewhere in a flowing transfer (an object's bytes, an ack, between
    // objects, a reconnect). Only cuts that hit a live connection count. Cheaper than draining the queue
    // after each cut (30 trials of 300 objects took 114 s), and no cut lands on an idle tunnel.
    const earlier = (await rig.received()).size; // what the file's earlier tests delivered
    const all = new Map<string, string>();
    let cuts = 0;
    let batches = 0;
    let done = false;
    const cutting = (async () => {
      while (!done) {
        await new Promise((r) => setTimeout(r, 150 + Math.random() * 500));
        if (!done) cuts += rig.proxy.cutAll() > 0 ? 1 : 0;
      }
    })();
    try {
      while (cuts < CUTS) {
        for (const [k, v] of await sendSeries(rig, `relay-cut-${batches++}`, BATCH)) all.set(k, v);
      }
    } finally {
      done = true;
      await cutting;
    }
    await assertDelivered(rig, all, 240_000);
    // Nothing arrives late as a duplicate.
    await new Promise((r) => setTimeout(r, 2000));
    const received = await rig.received();
    assert.equal(received.size, earlier + all.size);
    for (const files of received.values()) assert.equal(files.length, 1);
  },
);

rigTest("a hub restart mid-transfer loses and duplicates nothing", async (rig) => {
  await eventually("both sites online", () => rig.hub.sessions.get("north") && rig.hub.sessions.get("south"));
  const earlier = (await rig.received()).size;
  const sending = sendSeries(rig, "relay-hub-restart", OBJECTS);
  sending.catch(() => {}); // awaited below; a failure must not surface as an unhandled rejection first
  await eventually(
    "the first objects at PACS",
    async () => (await rig.received()).size > earlier + 20 || undefined,
  );
  await rig.restartHub();
  await assertDelivered(rig, await sending);
});

rigTest("a destination agent restart mid-transfer loses and duplicates nothing", async (rig) => {
  await eventually("both sites online", () => rig.hub.sessions.get("north") && rig.hub.sessions.get("south"));
  const earlier = (await rig.received()).size;
  const sending = sendSeries(rig, "relay-south-restart", OBJECTS);
  sending.catch(() => {});
  await eventually(
    "the first objects at PACS",
    async () => (await rig.received()).size > earlier + 20 || undefined,
  );
  await rig.restartSouth();
  await assertDelivered(rig, await sending);
});

rigTest(
  "an object whose archived bytes changed after they were indexed is refused by the receiving agent",
  async (rig) => {
    await eventually(
      "both sites online",
      () => rig.hub.sessions.get("north") && rig.hub.sessions.get("south"),
    );
    const southBefore = indexRows(rig.south.dataDir, "SELECT sop_instance_uid AS sop FROM instances").length;
    const summary = await (await rig.north.http("/queue/summary")).json() as {
      destinations: { name: string }[];
    };
    const destination = encodeURIComponent(summary.destinations[0].name);
    assert.equal((await rig.north.http(`/queue/pause/${destination}`, { method: "POST" })).status, 200);
    const sources = await sendSeries(rig, "relay-changed", 3);
    // Held back, north is idle and hashes what it received (ingest/backfill.ts): the sends below announce
    // the hashes its index recorded.
    const rows = await eventually("north's hashes", () => {
      const all = indexRows(
        rig.north.dataDir,
        "SELECT sop_instance_uid AS sop, path, dataset_offset AS at, dataset_size AS size, sha256 FROM instances",
      ) as { sop: string; path: string; at: number; size: number; sha256: string }[];
      const r = all.filter((x) => sources.has(x.sop));
      return r.length === 3 && r.every((x) => x.sha256 !== "") ? r : undefined;
    });
    // One byte of one object's pixel data changed on north's disk (a failing disk, or a hand).
    const changed = rows[1];
    const file = await Deno.open(path.join(rig.north.dataDir, changed.path), { read: true, write: true });
    const at = changed.at + changed.size - 100;
    const byte = new Uint8Array(1);
    await file.seek(at, Deno.SeekMode.Start);
    await file.read(byte);
    byte[0] ^= 0x5a;
    await file.seek(at, Deno.SeekMode.Start);
    await file.write(byte);
    file.close();
    assert.equal((await rig.north.http(`/queue/resume/${destination}`, { method: "POST" })).status, 200);

    const others = new Map([...sources].filter(([uid]) => uid !== changed.sop));
    await assertDelivered(rig, others);
    const row = await eventually("the changed object's row failed with the reason", async () => {
      const list = await (await rig.north.http(`/queue?limit=100`)).json() as {
        sopInstanceUid: string;
        state: string;
        lastError: string;
      }[];
      const r = list.find((x) => x.sopInstanceUid === changed.sop);
      return r && r.lastError ? r : undefined;
    });
    assert.notEqual(row.state, "done");
    assert.match(row.lastError, /SHA-256/);
    assert.equal((await rig.received()).has(changed.sop), false, "the changed object reached the PACS");
    const atSouth = indexRows(rig.south.dataDir, "SELECT sop_instance_uid AS sop FROM instances");
    assert.equal(atSouth.some((r) => r.sop === changed.sop), false, "south indexed the changed object");
    assert.equal(atSouth.length, southBefore + 2);
  },
);

shared.tearDown("relay_test: the rig stopped");

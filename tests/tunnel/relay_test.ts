/**
 * Relay between two agents through the hub over real WebSockets: north's route sends to south's
 * PACS. Every object reaches the PACS exactly once and byte-identical, with the tunnel cut at
 * random moments, with the hub restarted, and with the destination agent restarted mid-transfer.
 */
import assert from "node:assert/strict";
import { skipReason } from "../support/peers.ts";
import { datasetBytes } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { readPart10Header } from "@conduit/shared/dicom";
import { type RelayRig, startRelayRig } from "./_rig.ts";

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`relay_test: skipped: ${skip}`);
const TRIALS = Deno.env.get("CONDUIT_QUICK") ? 6 : 30;
const OBJECTS = 300;

/** Sends a fresh generated series to north; returns SOP UID -> source file. */
async function sendSeries(rig: RelayRig, seed: string, count: number): Promise<Map<string, string>> {
  const dir = await Deno.makeTempDir({ prefix: "relay-src-" });
  const series = await writeGeneratedSeries(dir, { count, rows: 64, columns: 64, seed });
  const sent = await storescu(series.paths, rig.north, [], 120_000);
  assert.equal(sent.code, 0, sent.stderr);
  const out = new Map<string, string>();
  for (const p of series.paths) out.set(readPart10Header(await Deno.readFile(p)).sopInstanceUid!, p);
  return out;
}

/** Waits until PACS holds every object of `sources`, then checks each arrived once and unchanged. */
async function assertDelivered(rig: RelayRig, sources: Map<string, string>, timeoutMs = 120_000) {
  const received = await eventually(`${sources.size} objects at PACS`, async () => {
    const r = await rig.received();
    return [...sources.keys()].every((uid) => r.has(uid)) ? r : undefined;
  }, timeoutMs);
  // storescp writes under the final name: a file seen a moment ago may still be growing.
  await eventually("the files written whole", async () => {
    for (const [uid, source] of sources) {
      const files = received.get(uid)!;
      const got = await datasetBytes(files[0]).catch(() => undefined);
      if (!got || got.byteLength !== (await datasetBytes(source)).byteLength) return undefined;
    }
    return true;
  }, 10_000);
  const final = await rig.received();
  for (const [uid, source] of sources) {
    const files = final.get(uid)!;
    assert.equal(files.length, 1, `${uid} reached PACS ${files.length} times`);
    assert.deepEqual(await datasetBytes(files[0]), await datasetBytes(source), `${uid} changed on the way`);
  }
}

function rigTest(name: string, fn: (rig: RelayRig) => Promise<void>) {
  Deno.test({
    name,
    ignore: Boolean(skip),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const rig = await startRelayRig();
      try {
        await fn(rig);
      } catch (err) {
        console.error((await Deno.readTextFile(rig.north.logFile)).slice(-2500));
        console.error((await Deno.readTextFile(rig.south.logFile)).slice(-2500));
        throw err;
      } finally {
        await rig.stop();
      }
    },
  });
}

rigTest("a route to another site's node delivers through the hub, once and byte for byte", async (rig) => {
  await eventually("both sites online", () => rig.hub.sessions.get("north") && rig.hub.sessions.get("south"));
  const sources = await sendSeries(rig, "relay-plain", 20);
  await assertDelivered(rig, sources);
});

rigTest(
  `tunnel cuts at random moments lose and duplicate nothing (${TRIALS} trials of ${OBJECTS} objects)`,
  async (rig) => {
    const all = new Map<string, string>();
    let cuts = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      await eventually(
        "both sites online",
        () => rig.hub.sessions.get("north") && rig.hub.sessions.get("south"),
      );
      const sending = sendSeries(rig, `relay-cut-${trial}`, OBJECTS);
      sending.catch(() => {});
      // One to three cuts, each at a random moment in the first seconds of the transfer.
      const cutting = (async () => {
        for (let i = 0, n = 1 + Math.floor(Math.random() * 3); i < n; i++) {
          await new Promise((r) => setTimeout(r, Math.random() * 1500));
          cuts += rig.proxy.cutAll() > 0 ? 1 : 0;
        }
      })();
      const sources = await sending;
      await cutting;
      for (const [k, v] of sources) all.set(k, v);
      await assertDelivered(rig, sources);
    }
    assert.ok(cuts >= TRIALS, `only ${cuts} cuts hit a live connection`);
    // Nothing arrives late as a duplicate.
    await new Promise((r) => setTimeout(r, 2000));
    const received = await rig.received();
    assert.equal(received.size, all.size);
    for (const files of received.values()) assert.equal(files.length, 1);
  },
);

rigTest("a hub restart mid-transfer loses and duplicates nothing", async (rig) => {
  await eventually("both sites online", () => rig.hub.sessions.get("north") && rig.hub.sessions.get("south"));
  const sending = sendSeries(rig, "relay-hub-restart", OBJECTS);
  sending.catch(() => {}); // awaited below; a failure must not surface as an unhandled rejection first
  await eventually("the first objects at PACS", async () => (await rig.received()).size > 20 || undefined);
  await rig.restartHub();
  await assertDelivered(rig, await sending);
});

rigTest("a destination agent restart mid-transfer loses and duplicates nothing", async (rig) => {
  await eventually("both sites online", () => rig.hub.sessions.get("north") && rig.hub.sessions.get("south"));
  const sending = sendSeries(rig, "relay-south-restart", OBJECTS);
  sending.catch(() => {});
  await eventually("the first objects at PACS", async () => (await rig.received()).size > 20 || undefined);
  await rig.restartSouth();
  await assertDelivered(rig, await sending);
});

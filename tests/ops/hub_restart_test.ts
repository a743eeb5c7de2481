/**
 * The hub stopped (SIGTERM's path: `stop()`) in the middle of a transfer and started again on the same data
 * directory and port: the agents reconnect, the job goes on from the database and the source's queue, and
 * every object reaches the destination's PACS, none missing.
 */
import assert from "node:assert/strict";
import { startTestHub } from "../support/hub.ts";
import { eventually } from "../support/hub.ts";
import { atPacs, finished, rigTest, seed } from "../transfers/_rig.ts";

const OBJECTS = 64;

rigTest("a hub stopped mid-transfer and started again finishes the job", async (r) => {
  // 64 objects of about 100 KB (about 6.4 MB): twice what the source keeps in flight at once (two queue
  // workers, 16 each), so that at the capped rate the first reach the PACS seconds before the last (objects
  // in flight share the cap and land nearly together: 12 objects of 0.5 MB, all in flight at once since
  // 2026-12-07, all landed within the test's 1.5 s below).
  const study = await seed(r, "restart", OBJECTS, "CT", 224);
  const { id } = await r.client.transfers.create.mutate({
    source: { site: "north" },
    destination: { site: "south", node: "pacs" },
    studies: [study.studyUid],
    bandwidthMbps: 8, // about 1 MB/s: some 6 s, long enough to stop the hub in the middle
  });
  // Under way: the PACS holds some of it and the job is not over. (The job's `done` counts objects at the
  // node, which the hub asks after at most every 5 s while the source sends: on a loaded machine it may go
  // from 0 to all at once, so the test watches the PACS itself.) A timeout says where the job was.
  let seen = "";
  await eventually("the transfer under way", async () => {
    const t = await r.client.transfers.get.query({ id });
    seen = JSON.stringify({
      status: t.status,
      totals: t.totals,
      lastErrors: t.tasks.map((k) => k.lastError),
    });
    return t.status === "in_progress" && (await atPacs(r)).size > 0 ? t : undefined;
  }, 60_000).catch((err) => {
    throw new Error(`${(err as Error).message}; the job was ${seen}`);
  });
  await new Promise((res) => setTimeout(res, 1500));
  const before = await r.client.transfers.get.query({ id });
  assert.equal(
    before.status,
    "in_progress",
    `still going when the hub stops: ${JSON.stringify(before.totals)}`,
  );
  assert.ok((await atPacs(r)).size < OBJECTS, "the PACS does not hold every object yet when the hub stops");
  const t0 = Date.now();
  await r.hub.stop();
  assert.ok(Date.now() - t0 < 12_000, `the hub stopped in ${Date.now() - t0} ms`);
  r.hub = await startTestHub({ dataDir: r.hub.dataDir, port: r.hub.port });
  const done = await finished(r, id);
  assert.equal(done.status, "success", JSON.stringify(done.totals));
  assert.equal(done.totals.done, OBJECTS);
  const pacs = await eventually(`${OBJECTS} objects at the PACS`, async () => {
    const p = await atPacs(r);
    return p.size === OBJECTS ? p : undefined;
  });
  assert.equal(pacs.size, OBJECTS);
});

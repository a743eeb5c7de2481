/**
 * Cancel as an operator meets it: the source is offline when the cancel is asked (killed mid-transfer),
 * and comes back; what it still held for the transfer must not go.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { eq } from "drizzle-orm";
import { audit } from "../../hub/db/schema.ts";
import { atPacs, finished, pacsHolding, rigTest, seed, skip } from "./_rig.ts";

if (skip) console.warn(`cancel_test: skipped: ${skip}`);

rigTest("a cancel asked while the source is offline reaches it when it reconnects", async (r) => {
  const dir = await Deno.makeTempDir({ prefix: "transfer-cancel-offline-" });
  const study = await writeGeneratedSeries(dir, { count: 300, seed: "t-cancel-offline" });
  const sent = await storescu(study.paths, r.north, [], 120_000);
  assert.equal(sent.code, 0, sent.stderr);
  const { id } = await r.client.transfers.create.mutate({
    source: { site: "north" },
    destination: { site: "south", node: "pacs" },
    studies: [study.studyUid],
  });
  await eventually("the first object through", async () => {
    const q = await (await r.north.http("/queue/summary")).json() as {
      rows: { destination: string; state: string; count: number }[];
    };
    return q.rows.some((row) => row.destination === "@south/pacs" && row.state === "done") || undefined;
  }, 60_000);
  await r.north.kill();
  await eventually("north offline at the hub", () => !r.hub.sessions.online("north") || undefined);
  const canceled = await r.client.transfers.cancel.mutate({ id });
  assert.equal(canceled.status, "canceled");
  assert.equal(
    canceled.tasks[0].status,
    "canceling",
    "the source has not been told yet, and the task says so",
  );
  // A retry meanwhile is refused with the reason: it would change nothing, and the cancel would end it.
  await assert.rejects(
    r.client.transfers.retry.mutate({ id }),
    /the transfer is still being canceled \(1 study has objects on their way, or a source to tell once it is back\): retry it once it is canceled/,
  );
  const unchanged = await r.client.transfers.get.query({ id });
  assert.deepEqual([unchanged.status, unchanged.tasks[0].status], ["canceled", "canceling"]);
  const audited = await r.hub.db.select().from(audit).where(eq(audit.action, "transfer.retry"));
  assert.deepEqual(audited, [], "a refused retry is not audited");

  r.north = await startAgentProcess(r.northArgs);
  const settled = await eventually("the source told of the cancel", async () => {
    const t = await r.client.transfers.get.query({ id });
    return t.tasks[0].status === "canceled" ? t : undefined;
  }, 30_000);
  assert.equal(settled.status, "canceled");
  await new Promise((res) => setTimeout(res, 3000));
  const waiting = (await (await r.north.http("/queue?destination=@south/pacs&limit=10000")).json() as {
    route: string;
    state: string;
  }[]).filter((row) => ["pending", "in_flight", "failed"].includes(row.state));
  assert.deepEqual(waiting, [], "nothing of the canceled transfer waits at the source");
  // Its rows are not in the dead letter's count, so the dead letter's alert does not fire for a cancel.
  const metrics = await (await r.north.http("/metrics")).text();
  assert.match(metrics, /conduit_agent_queue_rows\{destination="@south\/pacs",state="canceled"\} [1-9]/);
  assert.doesNotMatch(metrics, /conduit_agent_queue_rows\{destination="@south\/pacs",state="dead"\}/);
  const delivered = (await atPacs(r)).size;
  assert.ok(delivered < 300, `the transfer stopped (${delivered} of 300 reached the PACS)`);
  const after = await r.client.transfers.get.query({ id });
  assert.ok(after.totals.done < 300, `the job reports what went (${after.totals.done})`);
  // Exactly: an object south stored whose acknowledgement the kill lost (canceled at north) counts too.
  assert.equal(after.totals.done, delivered, "the job's done is what the PACS holds");
  // Canceled now: a retry takes the task up again.
  const retried = await r.client.transfers.retry.mutate({ id });
  assert.equal(retried.status, "in_progress");
  assert.equal(retried.tasks[0].status, "pending");
});

rigTest(
  "a canceled transfer reports exactly what reached the destination's node; a finished one stays as it is",
  async (r) => {
    const dir = await Deno.makeTempDir({ prefix: "transfer-cancel-count-" });
    const study = await writeGeneratedSeries(dir, { count: 300, seed: "t-cancel-count" });
    const sent = await storescu(study.paths, r.north, [], 120_000);
    assert.equal(sent.code, 0, sent.stderr);
    // Capped (300 objects of about 0.5 MB at 7.5 MB/s: 20 s) so that the cancel lands mid-way: uncapped, a
    // quiet machine moved all 300 before the cancel reached the source.
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [study.studyUid],
      bandwidthMbps: 60,
    });
    // Watched at the PACS itself: the job's `done` counts objects at the node as the hub last asked (at most
    // every 5 s while the source sends), so on a loaded machine it lagged until the job was nearly over.
    await eventually("some objects through", async () => (await atPacs(r)).size > 20 || undefined, 60_000);
    await r.client.transfers.cancel.mutate({ id });
    const settled = await eventually("the cancel settled", async () => {
      const t = await r.client.transfers.get.query({ id });
      return t.tasks[0].status === "canceled" ? t : undefined;
    }, 30_000);
    assert.equal(settled.status, "canceled");
    await new Promise((res) => setTimeout(res, 3000));
    const atNode = (await pacsHolding(r, 1)).size;
    const after = await r.client.transfers.get.query({ id });
    assert.ok(atNode < 300, `the cancel stopped the transfer (${atNode} of 300 went)`);
    assert.equal(after.totals.done, atNode, "the job's done is what the PACS holds");
    // Canceling again changes nothing.
    assert.deepEqual((await r.client.transfers.cancel.mutate({ id })).totals, after.totals);

    // A transfer that finished is not relabeled canceled.
    const small = await seed(r, "cancel-late", 3);
    const late = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [small.studyUid],
    });
    assert.equal((await finished(r, late.id)).status, "success");
    await assert.rejects(
      r.client.transfers.cancel.mutate({ id: late.id }),
      /the transfer is over \(success\)/,
    );
    assert.equal((await r.client.transfers.get.query({ id: late.id })).status, "success");
  },
);

/**
 * A batch stops when an operator cancels it, keeping what it found, making no transfer, and saying so
 * (status, results, audit); a batch its hub left running when it stopped is found at the next start and
 * marked failed with the reason, not left `running` for ever. Real hub, real agents, the typed client.
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import { toBase64 } from "@conduit/shared/base64";
import { eq } from "drizzle-orm";
import { audit, batches } from "../../hub/db/schema.ts";
import { eventually, startTestHub } from "../support/hub.ts";
import { rigTest, seed, skip } from "./_rig.ts";

if (skip) console.warn(`batch_cancel_test: skipped: ${skip}`);

/** A CSV of `n` rows of Patient IDs (one of them `hit`, first). */
const rowsCsv = (n: number, hit: string) =>
  ["Patient ID", hit, ...Array.from({ length: n - 1 }, (_, i) => `NOBODY${i}`)].join("\n") + "\n";

rigTest("batch.cancel stops a running batch: what it found stays, no transfer, audited", async (r) => {
  const study = await seed(r, "cancel-a", 1);
  const found = await r.client.query.studies.query({
    site: "north",
    filters: { StudyInstanceUID: study.studyUid },
  });
  const patient = (found.studies[0].study["00100020"] as { Value: string[] }).Value[0];
  const { id, rows } = await r.client.batch.upload.mutate({
    kind: "transfer",
    filename: "many.csv",
    contentBase64: toBase64(new TextEncoder().encode(rowsCsv(20_000, patient))),
    sites: ["north"],
    destination: { site: "south" },
  });
  assert.equal(rows, 20_000);
  assert.deepEqual(await r.client.batch.cancel.mutate({ id }), { id, status: "canceled" });
  const stopped = await eventually("the run stopped, its results written", async () => {
    const s = await r.client.batch.status.query({ id });
    return s.status === "canceled" && s.rowsDone > 0 ? s : undefined;
  }, 30_000);
  assert.ok(stopped.rowsDone < rows, `${stopped.rowsDone} rows searched of ${rows}`);
  await new Promise((ok) => setTimeout(ok, 6000)); // a beat later: nothing more
  const later = await r.client.batch.status.query({ id });
  assert.equal(later.status, "canceled");
  assert.equal(later.rowsDone, stopped.rowsDone, "the run stopped");
  assert.equal(later.transferId, null, "no transfer made");
  assert.equal((await r.client.transfers.list.query()).length, 0);
  const csv = atob((await r.client.batch.results.query({ id, format: "csv" })).contentBase64);
  assert.ok(csv.includes(study.studyUid), "what it found before the cancel is in its results");
  await assert.rejects(
    r.client.batch.cancel.mutate({ id }),
    (e) =>
      e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST" &&
      /is canceled, not running/.test(e.message),
  );
  await assert.rejects(
    r.client.batch.cancel.mutate({ id: "0000" }),
    (e) => e instanceof TRPCClientError && e.data?.code === "NOT_FOUND",
  );
  const entries = await r.hub.db.select().from(audit).where(eq(audit.action, "batch.cancel"));
  assert.deepEqual(entries.map((e) => e.target), [id], "audited");
  const listed = (await r.client.batch.list.query()).find((b) => b.id === id);
  assert.equal(listed?.status, "canceled");
});

Deno.test({
  name: "a batch its hub left running is marked failed at the next start, with the reason",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    let hub = await startTestHub();
    const { dataDir, port } = hub;
    const old = Date.now() - 5 * 60_000;
    await hub.db.insert(batches).values({
      id: "orphan1",
      kind: "query",
      filename: "left.csv",
      status: "running",
      sites: JSON.stringify({ sites: ["north"] }),
      rows: JSON.stringify([{ row: 2, keys: { PatientID: "P1" } }]),
      results: JSON.stringify([{ row: 2, site: "north", error: "", PatientID: "P1" }]),
      createdBy: "user:ops",
      createdAt: old,
      updatedAt: old,
    });
    await hub.stop();
    hub = await startTestHub({ dataDir, port });
    try {
      const row = await eventually("recovered", async () => {
        const [b] = await hub.db.select().from(batches).where(eq(batches.id, "orphan1"));
        return b.status !== "running" ? b : undefined;
      });
      assert.equal(row.status, "failed");
      const results = JSON.parse(row.results!) as { row: number; error: string }[];
      assert.equal(results.length, 2, "what it had found stays");
      assert.match(
        results[1].error,
        /interrupted: its hub stopped before it finished; upload the file again/,
      );
    } finally {
      await hub.stop();
    }
  },
});

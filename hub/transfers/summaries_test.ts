/**
 * TransferService.summaries() on a real hub database filled like a year's (tests/support/hub_scale.ts, at
 * a small scale): the same page of jobs as list(), each job as list() shows it less its tasks, with the
 * totals the database summed.
 */
import assert from "node:assert/strict";
import { filledTransfers } from "../../tests/support/hub_scale.ts";

Deno.test("TransferService.summaries() and summary() give list()'s and get()'s jobs less their tasks, same totals", async () => {
  const { filled, service, close } = await filledTransfers("conduit-summaries-", 0.005);
  try {
    const less = (jobs: { tasks: unknown }[]) => jobs.map(({ tasks: _, ...job }) => job);
    const pages: [number, readonly string[] | undefined, number][] = [
      [10, undefined, 0],
      [51, undefined, 0],
      [51, undefined, 50],
      [20, ["site-01", "site-02", "site-03", "site-04"], 0],
      [10, undefined, filled.scale.transfers - 5],
    ];
    for (const [limit, sites, offset] of pages) {
      const summaries = await service.summaries(limit, sites, offset);
      assert.deepEqual(
        summaries,
        less(await service.list(limit, sites, offset)),
        `${limit} ${sites} ${offset}`,
      );
      assert.ok(summaries.every((j) => !("tasks" in j)));
    }
    const big = (await service.summaries(1000)).find((j) => j.id === filled.bigJobId)!;
    assert.equal(big.totals.studies, filled.scale.bigJob);
    assert.ok(big.totals.done > 0 && big.totals.objects >= big.totals.done);
    assert.deepEqual(await service.summaries(10, undefined, filled.scale.transfers), []);
    // One job's (what its progress polls): get() less its tasks.
    for (const id of [filled.bigJobId, "job-0000000", "job-0000003"]) {
      assert.deepEqual(await service.summary(id), less([(await service.get(id))!])[0], id);
    }
    assert.equal(await service.summary("no-such-job"), undefined);
  } finally {
    await close();
  }
});

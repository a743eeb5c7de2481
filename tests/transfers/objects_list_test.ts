/**
 * transfers.objects of a study of more than 1000 objects: every one by default (the hub asks the source a
 * page at a time), or a page of `limit` after the row `after`; a source older than paging lists its first
 * page only, and `after` asked of it is refused saying why. Until 2026-12-06 every study listed its first
 * 1000 objects, silently (the source's default).
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import { FEATURE_OBJECTS_AFTER } from "@conduit/shared/tunnel";
import { finished, rigTest, seed, skip } from "./_rig.ts";

if (skip) console.warn(`objects_list_test: skipped: ${skip}`);

/** One more page than the source's default of 1000 rows, and then some. */
const COUNT = 1010;

rigTest("transfers.objects lists every object of a study of more than 1000, or a page of them", async (r) => {
  const study = await seed(r, "objects-list", COUNT, "CT", 8);
  const { id } = await r.client.transfers.create.mutate({
    source: { site: "north" },
    destination: { site: "south" },
    studies: [study.studyUid],
  });
  const done = await finished(r, id);
  assert.equal(done.status, "success", JSON.stringify(done.tasks[0]));

  const all = await r.client.transfers.objects.query({ id, study: study.studyUid });
  assert.equal(all.length, COUNT, "every object, not the source's first 1000");
  assert.equal(new Set(all.map((o) => o.sopInstanceUid)).size, COUNT, "each object once");
  assert.ok(all.every((o) => o.state === "done"));

  // Pages of 600: the second after the first's last row, and none after that.
  const first = await r.client.transfers.objects.query({ id, study: study.studyUid, limit: 600 });
  assert.equal(first.length, 600);
  const second = await r.client.transfers.objects.query({
    id,
    study: study.studyUid,
    limit: 600,
    after: first.at(-1)!.id,
  });
  assert.equal(second.length, COUNT - 600);
  assert.deepEqual([...first, ...second].map((o) => o.id), all.map((o) => o.id));
  assert.deepEqual(
    await r.client.transfers.objects.query({ id, study: study.studyUid, after: all.at(-1)!.id }),
    [],
  );
  await assert.rejects(
    r.client.transfers.objects.query({ id, study: study.studyUid, limit: 10_001 }),
    (e) => e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST",
  );

  // North as the hub sees an agent from before objects-after: one page, its own default; `after` refused.
  const entry = r.hub.sessions.get("north")! as { features: ReadonlySet<string> };
  entry.features = new Set([...entry.features].filter((f) => f !== FEATURE_OBJECTS_AFTER));
  assert.equal((await r.client.transfers.objects.query({ id, study: study.studyUid })).length, 1000);
  await assert.rejects(
    r.client.transfers.objects.query({ id, study: study.studyUid, after: first.at(-1)!.id }),
    (e) =>
      e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST" &&
      /^north's agent \(0\.1\.0.*\) cannot list objects after one: ask without after/.test(e.message),
  );
});

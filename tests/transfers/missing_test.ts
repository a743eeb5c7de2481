/**
 * A study that is not at the source, named beside one that is: its task fails saying where the source looked
 * and what to check, the other goes, and the job's numbers add up. Real hub, real agents, the typed client.
 */
import assert from "node:assert/strict";
import { atPacs, finished, rigTest, seed, skip } from "./_rig.ts";

if (skip) console.warn(`missing_test: skipped: ${skip}`);

rigTest(
  "a study the source does not hold fails its task, saying where it looked; the rest goes",
  async (r) => {
    const study = await seed(r, "missing-beside", 3);
    const absent = "1.2.826.0.1.3680043.8.498.404";
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [absent, study.studyUid],
    });
    const job = await finished(r, id);
    assert.equal(job.status, "failure");
    const byStudy = new Map(job.tasks.map((t) => [t.studyInstanceUid, t]));
    const missing = byStudy.get(absent)!;
    assert.deepEqual([missing.status, missing.objects, missing.done, missing.failed], ["failure", 0, 0, 0]);
    assert.equal(
      missing.lastError,
      "north found no object of this study in its archive: check the UID, or transfer it from where it is",
    );
    assert.equal(byStudy.get(study.studyUid)!.status, "success");
    assert.deepEqual(job.totals, { studies: 2, objects: 3, done: 3, failed: 0, missing: 0, held: 0 });
    assert.equal((await atPacs(r)).size, 3);
  },
);

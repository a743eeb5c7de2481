/**
 * Transfers at once between the same two sites: two to the same destination node, and a third canceled
 * while they run. Each ends in its own state with its own study's objects, and the PACS holds each of the
 * two whole, once.
 */
import assert from "node:assert/strict";
import { readPart10Header } from "@conduit/shared/dicom";
import { atPacs, finished, rigTest, seed } from "./_rig.ts";
import { eventually } from "../support/hub.ts";

const uidsOf = async (paths: string[]) =>
  new Set(
    await Promise.all(paths.map(async (p) => readPart10Header(await Deno.readFile(p)).sopInstanceUid!)),
  );

rigTest(
  "two transfers to the same destination at once and a third canceled meanwhile: each ends in its own state, tasks not mixed",
  async (r) => {
    const [a, c, b] = [
      await seed(r, "conc-a", 20),
      await seed(r, "conc-c", 20),
      await seed(r, "conc-b", 100),
    ];
    const [aUids, bUids, cUids] = await Promise.all([a, b, c].map((s) => uidsOf(s.paths)));
    const to = (study: string, bandwidthMbps?: number) =>
      r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "pacs" },
        studies: [study],
        ...(bandwidthMbps ? { bandwidthMbps } : {}),
      });
    // B is capped (100 objects of about 9 KB at 0.3 Mbit/s: about 25 s) so that the cancel lands mid-way.
    const [ja, jb, jc] = await Promise.all([to(a.studyUid), to(b.studyUid, 0.3), to(c.studyUid)]);
    assert.equal(new Set([ja.id, jb.id, jc.id]).size, 3, "three jobs");
    const ofB = async () => [...(await atPacs(r)).keys()].filter((uid) => bUids.has(uid)).length;
    await eventually("some of B at the PACS", async () => (await ofB()) >= 3 || undefined, 30_000);
    await r.client.transfers.cancel.mutate({ id: jb.id });

    for (const [job, study, uids] of [[ja, a, aUids], [jc, c, cUids]] as const) {
      const done = await finished(r, job.id, 60_000);
      assert.equal(done.status, "success", JSON.stringify(done));
      assert.deepEqual(done.tasks.map((t) => t.studyInstanceUid), [study.studyUid], "its own study only");
      assert.equal(done.totals.done, 20);
      const objects = await r.client.transfers.objects.query({ id: job.id, study: study.studyUid });
      assert.deepEqual(new Set(objects.map((o) => o.sopInstanceUid)), uids, "its own objects only");
      assert.ok(objects.every((o) => o.state === "done"), JSON.stringify(objects.map((o) => o.state)));
    }
    const canceled = await eventually("B canceled", async () => {
      const t = await r.client.transfers.get.query({ id: jb.id });
      return t.tasks[0].status === "canceled" ? t : undefined;
    }, 30_000);
    assert.equal(canceled.status, "canceled");
    assert.deepEqual(canceled.tasks.map((t) => t.studyInstanceUid), [b.studyUid]);
    const bObjects = await r.client.transfers.objects.query({ id: jb.id, study: b.studyUid });
    assert.deepEqual(new Set(bObjects.map((o) => o.sopInstanceUid)), bUids, "B's rows are B's objects");
    assert.ok(
      bObjects.every((o) => !["pending", "in_flight", "failed"].includes(o.state)),
      "nothing of the canceled transfer waits at the source",
    );

    // The PACS: A and C whole, once each; of B only part; nothing from elsewhere.
    const pacs = await eventually("A and C at the PACS", async () => {
      const now = await atPacs(r);
      return [...aUids, ...cUids].every((uid) => now.has(uid)) ? now : undefined;
    });
    for (const uid of [...aUids, ...cUids]) assert.equal(pacs.get(uid), 1, `${uid} at the PACS once`);
    const partOfB = [...pacs.keys()].filter((uid) => bUids.has(uid)).length;
    assert.ok(partOfB < 100, `the cancel stopped B (${partOfB} of 100 went)`);
    assert.equal(pacs.size, 40 + partOfB, "nothing else at the PACS");
  },
);

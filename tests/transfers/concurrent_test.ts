/**
 * Transfers at once between the same two sites: two to the same destination node, and a third canceled
 * while they run. Each ends in its own state with its own study's objects, and the PACS holds each of the
 * two whole, once.
 */
import assert from "node:assert/strict";
import { readPart10Header } from "@conduit/shared/dicom";
import { atPacs, finished, rigTest, seed } from "./_rig.ts";
import { eventually } from "../support/hub.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

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

rigTest(
  "transfers.create with an idempotency key: 8 at once and a retry make one job; the key with another request is CONFLICT",
  async (r) => {
    const study = await seed(r, "conc-key", 5);
    const other = await seed(r, "conc-key-other", 2);
    const request = {
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [study.studyUid],
      idempotencyKey: "nightly-2026-12-05/row-17",
    };
    // A script's create, sent 8 times at once (each as a separate HTTP request), then once more after.
    const ids = await Promise.all(Array.from({ length: 8 }, () => r.client.transfers.create.mutate(request)));
    assert.equal(new Set(ids.map((j) => j.id)).size, 1, `one job: ${JSON.stringify(ids)}`);
    const { id } = ids[0];
    assert.deepEqual(await r.client.transfers.create.mutate(request), { id }, "a retry answers the same job");
    const mine = (await r.client.transfers.list.query()).filter((t) =>
      t.tasks[0]?.studyInstanceUid === study.studyUid
    );
    assert.equal(mine.length, 1, "one job of that study in the list");
    await assert.rejects(
      r.client.transfers.create.mutate({ ...request, studies: [other.studyUid] }),
      (err: Error & { data?: { code?: string } }) => {
        assert.equal(err.data?.code, "CONFLICT");
        assert.match(err.message, new RegExp(`given before with another request \\(transfer ${id}\\)`));
        return true;
      },
    );
    // Another caller's key is its own; a request without a key makes a job each time.
    const admin = createConduitClient({
      url: r.url,
      token: (await r.hub.tokens.create("other", "operator")).token,
    });
    const theirs = await admin.transfers.create.mutate(request);
    assert.notEqual(theirs.id, id);
    const { idempotencyKey: _, ...unkeyed } = request;
    const [u1, u2] = [
      await r.client.transfers.create.mutate(unkeyed),
      await r.client.transfers.create.mutate(unkeyed),
    ];
    assert.notEqual(u1.id, u2.id);
    await assert.rejects(
      r.client.transfers.create.mutate({ ...request, idempotencyKey: "has a space" }),
      /visible ASCII/,
    );

    // The job runs once: the PACS gets each object once.
    for (const job of [id, theirs.id, u1.id, u2.id]) {
      assert.equal((await finished(r, job, 60_000)).status, "success");
    }
    const pacs = await eventually("5 objects at the PACS", async () => {
      const now = await atPacs(r);
      return now.size >= 5 ? now : undefined;
    });
    assert.ok([...pacs.values()].every((n) => n === 1), "each object once");
  },
);

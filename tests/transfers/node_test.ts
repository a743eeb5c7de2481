/**
 * Transfers to a node of the destination site (one it does not have is refused), as its PACS behaves: down when the transfer runs (the
 * task waits, saying why, and succeeds only once the PACS holds every object); refusing some objects for
 * good (the task fails with the PACS's reason, and a retry once the PACS takes them delivers them); the
 * same study asked twice at once (the PACS gets each object once).
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import { eventually } from "../support/hub.ts";
import { ctOnlyProfile } from "../support/peers.ts";
import { atPacs, finished, rigTest, seed, skip, startPacs } from "./_rig.ts";

if (skip) console.warn(`node_test: skipped: ${skip}`);

rigTest("a transfer to a PACS that is down is no success until the PACS holds every object", async (r) => {
  // A node the destination does not have is refused up front, naming the ones it has.
  await assert.rejects(
    r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pcas" },
      studies: ["1.2.3"],
    }),
    (e: unknown) =>
      e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST" &&
      /site south has no node named pcas \(its nodes: pacs, copy\)/.test(e.message),
  );
  const { port, dir } = r.pacs;
  await r.pacs.stop();
  const study = await seed(r, "node-down", 4);
  const { id } = await r.client.transfers.create.mutate({
    source: { site: "north" },
    destination: { site: "south", node: "pacs" },
    studies: [study.studyUid],
  });
  // North delivers all 4 to south at once; south cannot store them to its PACS.
  const waiting = await eventually("the task says what it waits for", async () => {
    const t = await r.client.transfers.get.query({ id });
    return t.tasks[0].lastError?.includes("wait at south for its node pacs") ? t : undefined;
  }, 30_000);
  await new Promise((res) => setTimeout(res, 3000));
  const still = await r.client.transfers.get.query({ id });
  assert.equal(
    still.status,
    "in_progress",
    `not a success while the PACS has nothing: ${JSON.stringify(still)}`,
  );
  assert.equal(still.tasks[0].status, "in_progress");
  assert.equal(still.totals.done, 0, "nothing is at the PACS");
  assert.equal(waiting.tasks[0].objects, 4);
  // Each object says so: delivered to south, where it waits for the PACS, with the reason.
  const objects = await eventually("the objects wait at south, with the reason", async () => {
    const listed = await r.client.transfers.objects.query({ id, study: study.studyUid });
    return listed.length === 4 && listed.every((o) => o.state === "failed") ? listed : undefined;
  });
  for (const o of objects) assert.match(o.lastError, /^it waits at south for its node pacs: .+/);
  // Counted as failed while they wait for another attempt, as the docs say of a node down.
  const counted = await eventually("the task counts them failed", async () => {
    const t = await r.client.transfers.get.query({ id });
    return t.tasks[0].failed === 4 ? t : undefined;
  });
  assert.equal(counted.status, "in_progress");
  assert.equal(counted.totals.failed, 4);

  r.pacs = await startPacs(dir, port);
  const done = await finished(r, id, 60_000);
  assert.equal(done.status, "success");
  assert.equal(done.totals.done, 4);
  assert.equal(done.tasks[0].lastError, null);
  const pacs = await atPacs(r);
  assert.equal(pacs.size, 4, "every object is at the PACS when the transfer says success");
  assert.ok([...pacs.values()].every((n) => n === 1));
});

rigTest(
  "a study larger than one page of the node check is no success until the PACS holds every object",
  async (r) => {
    // The hub lists a task's objects, and asks the destination about them, 5 at a time here (10 000 in use):
    // a study of 12 is three pages. Until 2026-12-06 a study of more than a page counted as done at the
    // destination's acknowledgement, so a transfer of 20 000 objects said success with half of them at the PACS.
    r.hub.transfers.nodeCheckPage = 5;
    const { port, dir } = r.pacs;
    await r.pacs.stop();
    const study = await seed(r, "node-pages", 12);
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [study.studyUid],
    });
    const waiting = await eventually("the task says its 12 objects wait for the PACS", async () => {
      const t = await r.client.transfers.get.query({ id });
      return t.tasks[0].lastError?.includes("12 of 12 objects wait at south for its node pacs")
        ? t
        : undefined;
    }, 30_000);
    assert.equal(waiting.status, "in_progress");
    assert.equal(waiting.totals.done, 0, "nothing is at the PACS");

    r.pacs = await startPacs(dir, port);
    const done = await finished(r, id, 60_000);
    assert.equal(done.status, "success");
    assert.equal(done.totals.done, 12, "the pages' counts added up");
    assert.equal(done.tasks[0].lastError, null);
    assert.equal((await atPacs(r)).size, 12, "every object is at the PACS when the transfer says success");
  },
);

rigTest(
  "a PACS that refuses a study's objects fails its task, and lists them given up, with the reason; a retry delivers them",
  async (r) => {
    const ct = await seed(r, "node-ct", 3, "CT");
    const mr = await seed(r, "node-mr", 2, "MR");
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [ct.studyUid, mr.studyUid],
    });
    const failed = await finished(r, id, 60_000);
    assert.equal(failed.status, "failure", JSON.stringify(failed));
    const byStudy = new Map(failed.tasks.map((t) => [t.studyInstanceUid, t]));
    assert.equal(byStudy.get(ct.studyUid)!.status, "success");
    assert.equal(byStudy.get(ct.studyUid)!.done, 3);
    const refused = byStudy.get(mr.studyUid)!;
    assert.equal(refused.status, "failure");
    assert.deepEqual([refused.objects, refused.done, refused.failed], [2, 0, 2], "the counts add up");
    assert.match(refused.lastError ?? "", /south could not store 2 of 2 objects to its node pacs: .+/);
    assert.deepEqual(failed.totals, { studies: 2, objects: 5, done: 3, failed: 2, missing: 0, held: 0 });
    assert.equal((await atPacs(r)).size, 3, "only the CT study is at the PACS");
    // Each object says where it is: the refused ones given up at south's node, with its reason.
    const refusedObjects = await r.client.transfers.objects.query({ id, study: mr.studyUid });
    assert.deepEqual(refusedObjects.map((o) => o.state), ["dead", "dead"]);
    for (const o of refusedObjects) {
      assert.match(
        o.lastError,
        /^south could not store it to its node pacs: .+ \(it is in south's dead letter\)$/,
      );
    }
    const stored = await r.client.transfers.objects.query({ id, study: ct.studyUid });
    assert.deepEqual(stored.map((o) => [o.state, o.lastError]), [["done", ""], ["done", ""], ["done", ""]]);

    // The PACS takes MR now: a retry sends what it refused again.
    const { port, dir } = r.pacs;
    await r.pacs.stop();
    r.pacs = await startPacs(dir, port);
    await r.client.transfers.retry.mutate({ id });
    const done = await finished(r, id, 60_000);
    assert.equal(done.status, "success", JSON.stringify(done));
    assert.deepEqual(done.totals, { studies: 2, objects: 5, done: 5, failed: 0, missing: 0, held: 0 });
    const pacs = await atPacs(r);
    assert.equal(pacs.size, 5);
    assert.ok([...pacs.values()].every((n) => n === 1), "nothing reached the PACS twice");
    const retried = await r.client.transfers.objects.query({ id, study: mr.studyUid });
    assert.deepEqual(retried.map((o) => o.state), ["done", "done"]);
  },
  { southQueue: { maxAttempts: 2 }, pacs: { configFile: await ctOnlyProfile() } },
);

rigTest(
  "a job that failed on the destination's dead letter settles as success once an operator replays those rows",
  async (r) => {
    const mr = await seed(r, "replay-mr", 2, "MR");
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [mr.studyUid],
    });
    const failed = await finished(r, id, 60_000);
    assert.equal(failed.status, "failure", JSON.stringify(failed));
    assert.match(failed.tasks[0].lastError ?? "", /\(they are in south's dead letter\)$/);
    // The PACS takes MR now; the operator replays south's dead letter (not the job).
    const { port, dir } = r.pacs;
    await r.pacs.stop();
    r.pacs = await startPacs(dir, port);
    const dead = await r.client.site.deadLetter.query({ site: "south" });
    assert.equal(dead.length, 2);
    const { replayed } = await r.client.site.replay.mutate({ site: "south", ids: dead.map((row) => row.id) });
    assert.equal(replayed, 2);
    const done = await finished(r, id, 60_000);
    assert.equal(done.status, "success", JSON.stringify(done));
    assert.deepEqual(done.totals, { studies: 1, objects: 2, done: 2, failed: 0, missing: 0, held: 0 });
    assert.equal(done.tasks[0].lastError, null);
    assert.equal((await atPacs(r)).size, 2);
  },
  { southQueue: { maxAttempts: 2 }, pacs: { configFile: await ctOnlyProfile() } },
);

rigTest("the same study transferred twice at once reaches the PACS once", async (r) => {
  const study = await seed(r, "node-twice", 30);
  const ask = () =>
    r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [study.studyUid],
    });
  const [a, b] = await Promise.all([ask(), ask()]);
  for (const { id } of [a, b]) {
    const done = await finished(r, id, 60_000);
    assert.equal(done.status, "success");
    assert.equal(done.totals.done, 30);
  }
  await new Promise((res) => setTimeout(res, 2000));
  const pacs = await atPacs(r);
  assert.equal(pacs.size, 30);
  const twice = [...pacs.values()].filter((n) => n > 1).length;
  assert.equal(twice, 0, `${twice} of 30 objects reached the PACS twice`);
});

rigTest(
  "a destination agent that does not answer delivery (older than it) is counted at its acknowledgement",
  async (r) => {
    // As the hub sees an agent from before `delivery`: its hello names no such feature, and it refuses
    // the request it does not know. The hub does not ask it, so a job to its node finishes on what it
    // acknowledged (as before the check) instead of waiting to hear for good.
    const sessions = r.hub.sessions as unknown as {
      featuresOf(site: string): Promise<ReadonlySet<string> | undefined>;
      ask(site: string, request: { op: string }, signal?: AbortSignal): Promise<unknown>;
    };
    const featuresOf = sessions.featuresOf.bind(sessions);
    const ask = sessions.ask.bind(sessions);
    // Its hello, as the hub knows it, without the feature.
    sessions.featuresOf = async (site) => {
      const features = await featuresOf(site);
      return site === "south" && features ? new Set([...features].filter((f) => f !== "delivery")) : features;
    };
    sessions.ask = (site, request, signal) =>
      site === "south" && request.op === "delivery"
        ? Promise.reject(new Error("the site answered: bad-request: unknown operation"))
        : ask(site, request, signal);
    try {
      const study = await seed(r, "node-old-agent", 3);
      const { id } = await r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "pacs" },
        studies: [study.studyUid],
      });
      const done = await finished(r, id, 60_000);
      assert.equal(done.status, "success", JSON.stringify(done));
      assert.equal(done.totals.done, 3);
    } finally {
      Object.assign(sessions, { featuresOf, ask });
    }
  },
);

import assert from "node:assert/strict";
import { and, eq, sql } from "drizzle-orm";
import { Logger } from "@conduit/shared/log";
import { recent } from "../auth/audit.ts";
import { type HubDb, openHubDb } from "../db/db.ts";
import { transfers, transferTasks } from "../db/schema.ts";
import { SiteRegistry } from "../sites/registry.ts";
import { Sessions } from "../tunnel/sessions.ts";
import { SiteRequestError } from "../tunnel/errors.ts";
import { FEATURE_DELIVERY, FEATURE_OBJECTS_AFTER } from "@conduit/shared/tunnel";
import { handOverDelayMs, TransferService } from "./service.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";
import { eventually } from "../../tests/support/hub.ts";

const STUDY = "1.2.826.0.1.3680043.8.498.7";

/**
 * A service on a fresh hub database (the libsql file, or under `deno task test:pg` a PostgreSQL database),
 * with one failed job (no site is connected, so nothing runs).
 */
async function withFailedJob(
  fn: (
    db: HubDb,
    service: TransferService,
    id: string,
    sessions: Sessions,
    logged: string[],
  ) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "conduit-transfer-service-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  const logged: string[] = [];
  const log = new Logger({ app: "test" }, "error", { write: (line: string) => void logged.push(line) });
  const sessions = new Sessions(new SiteRegistry(db), log, { syncSeconds: 3600, heartbeatSeconds: 3600 });
  const service = new TransferService(db, sessions, () => Promise.resolve(true), log);
  try {
    const { id } = await service.create({
      source: { site: "north" },
      destination: { site: "south" },
      studies: [STUDY],
    }, "user:alice");
    await db.update(transferTasks).set({ status: "failure", lastError: "refused" })
      .where(eq(transferTasks.transferId, id));
    await db.update(transfers).set({ status: "failure" }).where(eq(transfers.id, id));
    await fn(db, service, id, sessions, logged);
  } finally {
    await sessions.stop();
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("TransferService.retry() sets the failed tasks going again and audits who asked", async () => {
  await withFailedJob(async (db, service, id) => {
    // Handed to its source, which queued 3 objects, before it failed.
    await db.update(transferTasks).set({ objects: 3 }).where(eq(transferTasks.transferId, id));
    const view = await service.retry(id, "user:bob");
    assert.equal(view.status, "in_progress");
    assert.deepEqual(view.tasks.map((t) => [t.status, t.lastError]), [["pending", null]]);
    const last = (await recent(db, 1))[0];
    assert.deepEqual([last.actor, last.action, last.target], ["user:bob", "transfer.retry", id]);
  });
});

Deno.test("TransferService.retry() leaves a job its source has not started pending", async () => {
  await withFailedJob(async (db, service, id) => {
    await db.update(transferTasks).set({ status: "pending", lastError: null })
      .where(eq(transferTasks.transferId, id));
    await db.update(transfers).set({ status: "pending" }).where(eq(transfers.id, id));
    const view = await service.retry(id, "user:bob");
    assert.equal(view.status, "pending");
    assert.deepEqual(view.tasks.map((t) => t.status), ["pending"]);
  });
});

Deno.test("TransferService.retry() of a job canceled or failed before any hand-over reads pending, as a new job", async () => {
  await withFailedJob(async (db, service, id) => {
    // Failed at its hand-over (no object count): pending again, not in progress.
    assert.equal((await service.retry(id, "user:bob")).status, "pending");
    // Canceled while its source was offline: nothing of it reached the source.
    const { id: other } = await service.create({
      source: { site: "north" },
      destination: { site: "south" },
      studies: [STUDY, `${STUDY}.1`],
    }, "user:alice");
    assert.equal((await service.cancel(other, "user:alice")).status, "canceled");
    const retried = await service.retry(other, "user:bob");
    assert.equal(retried.status, "pending");
    assert.deepEqual(retried.tasks.map((t) => t.status), ["pending", "pending"]);
    // One study handed over (its object count known), the other not: the job is in progress.
    await service.cancel(other, "user:alice");
    await db.update(transferTasks).set({ objects: 2 }).where(
      and(eq(transferTasks.transferId, other), eq(transferTasks.studyInstanceUid, STUDY)),
    );
    assert.equal((await service.retry(other, "user:bob")).status, "in_progress");
  });
});

Deno.test("TransferService's cancel and retry audit how many tasks they touched, and the cancel those over already", async () => {
  await withFailedJob(async (db, service) => {
    const studies = [1, 2, 3, 4].map((i) => `${STUDY}.${i}`);
    const { id } = await service.create({
      source: { site: "north" },
      destination: { site: "south" },
      studies,
    }, "user:alice");
    // One succeeded, one failed, one at its (offline) source, one not handed over yet.
    for (const [i, status] of ["success", "failure", "queued", "pending"].entries()) {
      await db.update(transferTasks).set({ status, objects: status === "pending" ? null : 2 }).where(
        and(eq(transferTasks.transferId, id), eq(transferTasks.studyInstanceUid, studies[i])),
      );
    }
    await db.update(transfers).set({ status: "in_progress" }).where(eq(transfers.id, id));
    await service.cancel(id, "user:bob");
    const canceled = (await recent(db, 1))[0];
    assert.deepEqual([canceled.action, canceled.detail], ["transfer.cancel", {
      studies: 2,
      canceled: 1, // the pending one, at once
      canceling: 1, // the one at its source, told once it is back
      alreadyOver: 2,
    }]);
    await db.update(transferTasks).set({ status: "canceled" }).where(eq(transferTasks.status, "canceling"));
    await service.retry(id, "user:bob");
    const retried = (await recent(db, 1))[0];
    assert.deepEqual([retried.action, retried.detail], ["transfer.retry", { studies: 3 }]);
  });
});

Deno.test("TransferService.retry() changes nothing when its audit entry cannot be written", async () => {
  await withFailedJob(async (db, service, id) => {
    if (db.pg) {
      await db.pg.unsafe(`
        CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'no audit'; END $$;
        CREATE TRIGGER refuse_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION refuse_audit();`);
    } else {
      await db.run(
        sql`CREATE TRIGGER refuse_audit BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'no audit'); END`,
      );
    }
    // (drizzle on PostgreSQL wraps the server's error: its cause carries the message)
    await assert.rejects(service.retry(id, "user:bob"), (err: Error) => {
      assert.match(`${err.message} ${(err.cause as Error | undefined)?.message}`, /no audit/);
      return true;
    });
    const after = await service.get(id);
    assert.equal(after!.status, "failure");
    assert.deepEqual(after!.tasks.map((t) => [t.status, t.lastError]), [["failure", "refused"]]);
  });
});

Deno.test("TransferService.list() pages newest first with limit and offset, jobs of one millisecond included", async () => {
  await withFailedJob(async (db, service, first) => {
    const ids = [first];
    for (let i = 0; i < 4; i++) {
      const { id } = await service.create({
        source: { site: "north" },
        destination: { site: "south" },
        studies: [`${STUDY}.${i}`],
      }, "user:alice");
      ids.push(id);
    }
    // Two of them in the same millisecond: their order must still be one and the same on every page.
    const [a, b] = ids.slice(1, 3);
    await db.update(transfers).set({ createdAt: 1_000 }).where(eq(transfers.id, a));
    await db.update(transfers).set({ createdAt: 1_000 }).where(eq(transfers.id, b));
    const all = (await service.list(10)).map((t) => t.id);
    assert.equal(all.length, 5);
    const pages = [
      ...(await service.list(2, undefined, 0)),
      ...(await service.list(2, undefined, 2)),
      ...(await service.list(2, undefined, 4)),
    ].map((t) => t.id);
    assert.deepEqual(pages, all, "the pages are the whole list, in its order, each job once");
    assert.deepEqual(await service.list(2, undefined, 5), []);
    assert.deepEqual(all.slice(-2).sort(), [a, b].sort(), "the oldest two are the same-millisecond jobs");
  });
});

Deno.test("TransferService.cancel() during the hand-over of a study (a long retrieve) still reaches the source", async () => {
  await withFailedJob(async (_db, service, _failed, sessions) => {
    // The source answers the send only when the test says so (a retrieve from its node takes that long).
    let answerSend!: () => void;
    const sendAnswered = new Promise<void>((resolve) => (answerSend = resolve));
    const asked: string[] = [];
    let canceledAtSource = false;
    let sendRequest: { deadlineMs?: number } | undefined;
    Object.assign(sessions, {
      online: () => true,
      ask: async (_site: string, request: { op: string; deadlineMs?: number }) => {
        asked.push(request.op);
        if (request.op === "send") {
          sendRequest = request;
          await sendAnswered;
          return { objects: 3, queued: 3, missing: 0 };
        }
        if (request.op === "cancel") {
          canceledAtSource = true;
          return { canceled: 2 };
        }
        if (request.op === "progress") {
          return canceledAtSource
            ? { pending: 0, inFlight: 0, failed: 0, done: 1, dead: 0, canceled: 2, held: 0 }
            : { pending: 2, inFlight: 0, failed: 0, done: 1, dead: 0, canceled: 0, held: 0 };
        }
        throw new Error(`unexpected ${request.op}`);
      },
    });
    const { id } = await service.create({
      source: { site: "north" },
      destination: { site: "south" },
      studies: [STUDY],
    }, "user:alice");
    for (let i = 0; i < 50 && !asked.length; i++) {
      await service.tick(); // (returns at once while an earlier pass still runs)
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.deepEqual(asked, ["send"], "the study is being handed to the source");
    assert.ok(
      (sendRequest?.deadlineMs ?? 0) >= 3600_000,
      "a retrieve from the source's node may take longer than the agent's default 5 minutes",
    );
    const canceled = await service.cancel(id, "user:alice");
    assert.equal(canceled.status, "canceled");
    answerSend();
    // The pass that handed the study over ends once the send is answered (#dispatch then tells the source to
    // cancel); a tick returns at once while it runs, and the task may read canceled before that (a pending
    // task's cancel): tick until the source was told or 20 s went by (a fixed wait raced on PostgreSQL).
    let after = (await service.get(id))!;
    await eventually("the source told to cancel once the hand-over is answered", async () => {
      await service.tick();
      after = (await service.get(id))!;
      return canceledAtSource && after.tasks[0].status === "canceled";
    }).catch(() => {/* asserted below, with what was asked */});
    assert.ok(canceledAtSource, `the source was told to cancel (asked: ${asked.join(", ")})`);
    assert.equal(after.status, "canceled");
    assert.deepEqual(after.tasks.map((t) => [t.status, t.done, t.lastError]), [["canceled", 1, null]]);
  });
});

Deno.test("TransferService counts a task finishing once when a cancel's report and a pass's report race", async () => {
  await withFailedJob(async (db, service, _failed, sessions) => {
    // The pass's progress question is answered only when the test says so; the cancel's at once. Both
    // answers say the source delivered every object: the task finished while it was being canceled.
    let answerPass!: () => void;
    const passAnswered = new Promise<void>((resolve) => (answerPass = resolve));
    const asked: string[] = [];
    const done = { pending: 0, inFlight: 0, failed: 0, done: 3, dead: 0, canceled: 0, held: 0 };
    const finished: string[] = [];
    service.onTaskFinished = (outcome) => void finished.push(outcome);
    // Created while no site is connected (its first pass finds the source offline), then at its source.
    const { id } = await service.create({
      source: { site: "north" },
      destination: { site: "south" },
      studies: [STUDY],
    }, "user:alice");
    await db.update(transferTasks).set({ status: "in_progress", objects: 3 })
      .where(eq(transferTasks.transferId, id));
    await db.update(transfers).set({ status: "in_progress" }).where(eq(transfers.id, id));
    Object.assign(sessions, {
      online: () => true,
      ask: async (_site: string, request: { op: string }) => {
        asked.push(request.op);
        if (request.op === "progress" && asked.filter((op) => op === "progress").length === 1) {
          await passAnswered;
          return done;
        }
        if (request.op === "progress") return done;
        if (request.op === "cancel") return { canceled: 0 };
        if (request.op === "hold") return {};
        throw new Error(`unexpected ${request.op}`);
      },
    });
    // A pass starts once the one before (the creation's) is over: passes until one asks the progress.
    const passes: Promise<void>[] = [];
    await eventually("a pass asked the source's progress", () => {
      if (!asked.includes("progress")) passes.push(service.tick());
      return asked.includes("progress");
    });
    // The cancel's own report lands first (success, counted), then the cancel; then the pass's report.
    assert.equal((await service.cancel(id, "user:alice")).status, "canceled");
    answerPass();
    await Promise.all(passes);
    const [task] = await db.select().from(transferTasks).where(eq(transferTasks.transferId, id));
    assert.equal(task.status, "canceled", "the late report does not set the canceled task back");
    assert.deepEqual(finished, ["success"], "counted once, by the report that landed");
  });
});

/**
 * A job of one study from north to south's node pacs, at its source (5 objects queued there), with today's
 * agents' features; `ask` answers the source's and the destination's questions.
 */
async function nodeJobAtSource(
  db: HubDb,
  service: TransferService,
  sessions: Sessions,
  ask: (request: { op: string; sopInstanceUids?: string[] }) => Promise<unknown>,
): Promise<string> {
  const { id } = await service.create({
    source: { site: "north" },
    destination: { site: "south" },
    studies: [STUDY],
  }, "user:alice");
  await db.update(transferTasks).set({ status: "in_progress", objects: 5 }).where(
    eq(transferTasks.transferId, id),
  );
  await db.update(transfers).set({ status: "in_progress", destinationNode: "pacs" }).where(
    eq(transfers.id, id),
  );
  const features = new Set([FEATURE_DELIVERY, FEATURE_OBJECTS_AFTER]);
  Object.assign(sessions, {
    online: () => true,
    featuresOf: () => Promise.resolve(features),
    ask: (_site: string, request: { op: string; sopInstanceUids?: string[] }) => ask(request),
  });
  return id;
}

Deno.test("TransferService: a cancel settles once the objects at the destination have reached its node, and counts them", async () => {
  await withFailedJob(async (db, service, _failed, sessions) => {
    // The source sent 3 objects and drops the rest at the cancel; the destination has stored 2 of them at
    // its node and stores the third only when the test says so (its queue to the node runs on after it).
    let atNode = 2;
    const id = await nodeJobAtSource(db, service, sessions, (request) => {
      if (request.op === "cancel") return Promise.resolve({ canceled: 2 });
      if (request.op === "progress") {
        return Promise.resolve({
          pending: 0,
          inFlight: 0,
          failed: 0,
          done: 3,
          dead: 0,
          canceled: 2,
          held: 0,
        });
      }
      if (request.op === "objects") {
        return Promise.resolve({
          objects: ["1", "2", "3"].map((n, i) => ({
            id: i + 1,
            sopInstanceUid: `${STUDY}.${n}`,
            destination: "@south/pacs",
            state: "done",
          })),
        });
      }
      if (request.op === "delivery") {
        assert.equal(request.sopInstanceUids?.length, 3);
        // While one waits, the node refused it once (it is tried again).
        const refused = atNode < 3 ? { lastError: "0xA700 out of resources" } : {};
        return Promise.resolve({ done: atNode, waiting: 3 - atNode, dead: 0, unknown: 0, ...refused });
      }
      if (request.op === "hold") return Promise.resolve({});
      throw new Error(`unexpected ${request.op}`);
    });
    const canceled = await service.cancel(id, "user:alice");
    assert.equal(canceled.status, "canceled");
    assert.deepEqual(canceled.tasks.map((t) => [t.status, t.done, t.lastError]), [[
      "canceling",
      2,
      "canceled; 1 objects at south on their way to its node pacs finish first: 0xA700 out of resources",
    ]]);
    await service.tick();
    assert.equal((await service.get(id))!.tasks[0].status, "canceling", "still on its way: not settled");
    atNode = 3;
    const settled = await eventually("the cancel settled", async () => {
      await service.tick();
      const t = (await service.get(id))!;
      return t.tasks[0].status === "canceled" ? t : undefined;
    });
    assert.deepEqual(settled.tasks.map((t) => [t.status, t.done, t.lastError]), [["canceled", 3, null]]);
  });
});

Deno.test("TransferService: a canceled task counts what the destination's node got of the objects the cancel dropped at the source", async () => {
  await withFailedJob(async (db, service, _failed, sessions) => {
    // The source delivered 2 objects; 3 more it had sent or was sending when the cancel came (its agent
    // killed, or the tunnel cut, before the destination's acknowledgement reached it) are canceled there.
    // The destination committed one of those 3 before its acknowledgement was lost: it goes to the node
    // (still waiting there at first), and the task's done must count it, as the PACS ends up holding 3.
    let fourthAtNode = false;
    const sop = (n: number) => `${STUDY}.${n}`;
    const id = await nodeJobAtSource(db, service, sessions, (request) => {
      if (request.op === "cancel") return Promise.resolve({ canceled: 3 });
      if (request.op === "progress") {
        return Promise.resolve({
          pending: 0,
          inFlight: 0,
          failed: 0,
          done: 2,
          dead: 0,
          canceled: 3,
          held: 0,
        });
      }
      if (request.op === "objects") {
        return Promise.resolve({
          objects: [1, 2, 3, 4, 5].map((n) => ({
            id: n,
            sopInstanceUid: sop(n),
            destination: "@south/pacs",
            state: n <= 2 ? "done" : "dead",
            lastError: n <= 2 ? "" : "canceled",
          })),
        });
      }
      if (request.op === "delivery") {
        // South's rows for its node: the 2 delivered at the node, the 4th waiting (then at the node).
        const d = { done: 0, waiting: 0, dead: 0, unknown: 0 };
        for (const uid of request.sopInstanceUids ?? []) {
          if (uid === sop(1) || uid === sop(2) || uid === sop(4) && fourthAtNode) d.done++;
          else if (uid === sop(4)) d.waiting++;
          else d.unknown++;
        }
        return Promise.resolve(d);
      }
      if (request.op === "hold") return Promise.resolve({});
      throw new Error(`unexpected ${request.op}`);
    });
    const canceled = await service.cancel(id, "user:alice");
    assert.deepEqual(canceled.tasks.map((t) => [t.status, t.done, t.lastError]), [[
      "canceling",
      2,
      "canceled; 1 objects at south on their way to its node pacs finish first",
    ]]);
    fourthAtNode = true;
    const settled = await eventually("the cancel settled", async () => {
      await service.tick();
      const t = (await service.get(id))!;
      return t.tasks[0].status === "canceled" ? t : undefined;
    });
    assert.deepEqual(settled.tasks.map((t) => [t.status, t.done, t.lastError]), [["canceled", 3, null]]);
  });
});

Deno.test("TransferService: a job whose source is offline says so on its tasks, and the note goes when it answers", async () => {
  await withFailedJob(async (_db, service, _failed, sessions) => {
    const { id } = await service.create({
      source: { site: "north" },
      destination: { site: "south" },
      studies: [STUDY],
    }, "user:alice");
    let waiting;
    for (let i = 0; i < 50; i++) {
      await service.tick();
      waiting = (await service.get(id))!;
      if (waiting.tasks[0].lastError) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal(waiting!.status, "pending");
    assert.deepEqual(waiting!.tasks.map((t) => [t.status, t.lastError]), [
      ["pending", "waiting for the source site north to connect (it is offline)"],
    ]);
    Object.assign(sessions, {
      online: () => true,
      ask: (_site: string, request: { op: string }) =>
        Promise.resolve(
          request.op === "send"
            ? { objects: 1, queued: 1, missing: 0 }
            : { pending: 1, inFlight: 0, failed: 0, done: 0, dead: 0, canceled: 0, held: 0 },
        ),
    });
    let queued;
    for (let i = 0; i < 50; i++) {
      await service.tick();
      queued = (await service.get(id))!;
      if (queued.tasks[0].status === "queued") break;
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.deepEqual(queued!.tasks.map((t) => [t.status, t.lastError]), [["queued", null]]);
  });
});

Deno.test("TransferService: a job held by its window forgets the offline note once its source is back", async () => {
  await withFailedJob(async (_db, service, _failed, sessions) => {
    // A window that opens in twelve hours (of the UTC day): closed now, whatever the time.
    const at = new Date(Date.now() + 12 * 3600_000);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    const { id } = await service.create({
      source: { site: "north" },
      destination: { site: "south" },
      studies: [STUDY],
      window: { start: hhmm(at), end: hhmm(new Date(at.getTime() + 3600_000)), timeZone: "UTC" },
    }, "user:alice");
    const note = async (want: (e: string | null) => boolean) => {
      for (let i = 0; i < 50; i++) {
        await service.tick();
        const t = (await service.get(id))!;
        if (want(t.tasks[0].lastError)) return t;
        await new Promise((res) => setTimeout(res, 20));
      }
      return (await service.get(id))!;
    };
    const offline = await note((e) => e !== null);
    assert.equal(offline.tasks[0].lastError, "waiting for the source site north to connect (it is offline)");
    Object.assign(sessions, { online: () => true });
    const back = await note((e) => e === null);
    // Until 2026-12-07 the note stayed until the window opened, the source online all along.
    assert.deepEqual([back.status, back.tasks[0].status, back.tasks[0].lastError], [
      "pending",
      "pending",
      null,
    ]);
    assert.ok(back.waitingUntil, "it says what it waits for: its window");
  });
});

Deno.test("TransferService: a study being retrieved from the source's node says so while it waits", async () => {
  await withFailedJob(async (_db, service, _failed, sessions) => {
    let answerSend!: () => void;
    const sendAnswered = new Promise<void>((resolve) => (answerSend = resolve));
    Object.assign(sessions, {
      online: () => true,
      ask: async (_site: string, request: { op: string }) => {
        if (request.op === "nodes") {
          return { nodes: [{ name: "pacs", aet: "PACS", host: "h", port: 104, retrieve: "move" }] };
        }
        if (request.op === "send") {
          await sendAnswered;
          return { objects: 2, queued: 2, missing: 0 };
        }
        return { pending: 2, inFlight: 0, failed: 0, done: 0, dead: 0, canceled: 0, held: 0 };
      },
    });
    const { id } = await service.create({
      source: { site: "north", node: "pacs" },
      destination: { site: "south" },
      studies: [STUDY],
    }, "user:alice");
    let waiting;
    for (let i = 0; i < 50; i++) {
      await service.tick();
      waiting = (await service.get(id))!;
      if (waiting.tasks[0].lastError) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.deepEqual(waiting!.tasks.map((t) => [t.status, t.lastError]), [
      ["pending", "the source is retrieving the study from its node pacs (attempt 1)"],
    ]);
    answerSend();
    let queued;
    for (let i = 0; i < 50; i++) {
      queued = (await service.get(id))!;
      if (queued.tasks[0].status === "queued") break;
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.deepEqual(queued!.tasks.map((t) => [t.status, t.lastError]), [["queued", null]]);
  });
});

Deno.test("TransferService: a study's series make one task; a source held by another hub is asked for them", async () => {
  await withFailedJob(async (db, service, _failed, sessions) => {
    const sends: Record<string, unknown>[] = [];
    // In a cluster the source is connected to another hub: online, but not a session here.
    Object.assign(sessions, {
      online: () => true,
      // Each study's first send fails; a later one never ends, so no attempt outlives the test's database.
      ask: (_site: string, request: { op: string }) => {
        if (request.op !== "send") return Promise.reject(new Error("the stream was reset"));
        sends.push(request);
        return sends.filter((s) =>
            s.studyInstanceUid === (request as Record<string, unknown>).studyInstanceUid
          )
            .length === 1
          ? Promise.reject(new Error("the stream was reset"))
          : new Promise(() => {});
      },
    });
    const { id } = await service.create({
      source: { site: "north" },
      destination: { site: "south" },
      series: [{ study: STUDY, series: [`${STUDY}.1`, `${STUDY}.2`] }],
      studies: [`${STUDY}.9`],
    }, "user:alice");
    const created = (await service.get(id))!;
    assert.deepEqual(
      created.tasks.map((t) => [t.studyInstanceUid, t.series]).sort(),
      [[STUDY, [`${STUDY}.1`, `${STUDY}.2`]], [`${STUDY}.9`, undefined]],
    );
    assert.deepEqual((await recent(db, 1))[0].detail, {
      source: { site: "north" },
      destination: { site: "south" },
      studies: 2,
      series: 2,
    });
    let after;
    for (let i = 0; i < 50; i++) {
      await service.tick();
      after = (await service.get(id))!;
      if (after.tasks.every((t) => t.lastError)) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    const series = sends.find((s) => s.studyInstanceUid === STUDY);
    assert.deepEqual(series?.seriesInstanceUids, [`${STUDY}.1`, `${STUDY}.2`]);
    assert.equal(sends.find((s) => s.studyInstanceUid !== STUDY)?.seriesInstanceUids, undefined);
    const byStudy = new Map(after!.tasks.map((t) => [t.studyInstanceUid, t]));
    // An agent from before series transfers drops a request it cannot read: the task says what may be why.
    assert.equal(byStudy.get(STUDY)?.status, "pending", "tried again, as any failed hand-over");
    assert.equal(
      byStudy.get(STUDY)?.lastError,
      "the hub could not hand the study to north: the stream was reset (a source agent from before series transfers cannot read the request: upgrade it if it is one)",
    );
    assert.equal(
      byStudy.get(`${STUDY}.9`)?.lastError,
      "the hub could not hand the study to north: the stream was reset",
    );
  });
});

Deno.test("TransferService: a hand-over whose outcome cannot be recorded is logged, never an unhandled rejection", async () => {
  await withFailedJob(async (db, service, _failed, sessions, logged) => {
    Object.assign(sessions, {
      online: () => true,
      ask: () => Promise.reject(new Error("the source said no")),
    });
    await service.create(
      { source: { site: "north" }, destination: { site: "south" }, studies: [STUDY] },
      "u",
    );
    // The database fails every write from now on (a PostgreSQL connection lost, say).
    const update = db.update;
    Object.assign(db, {
      update: () => {
        throw new Error("connection ended");
      },
    });
    try {
      const line = await eventually("the failure logged", async () => {
        await service.tick();
        return logged.find((l) => l.includes("hand-over could not be recorded"));
      });
      assert.match(line, /connection ended/);
    } finally {
      Object.assign(db, { update });
    }
  });
});

Deno.test("weekday windows are stored as given (the first one also where older hubs read it), a single window as before", async () => {
  await withFailedJob(async (db, service) => {
    const windows = [
      { start: "19:00", end: "07:00", timeZone: "Europe/Paris", days: ["mon" as const, "fri" as const] },
      { start: "00:00", end: "00:00", days: ["sat" as const, "sun" as const] },
    ];
    const several = await service.create({
      source: { site: "north" },
      destination: { site: "south" },
      studies: [STUDY],
      window: windows,
    }, "user:alice");
    const row = (await db.query.transfers.findFirst({ where: eq(transfers.id, several.id) }))!;
    assert.deepEqual([row.windowStart, row.windowEnd, row.windowZone], ["19:00", "07:00", "Europe/Paris"]);
    assert.deepEqual(JSON.parse(row.windows!), windows);
    assert.deepEqual((await service.get(several.id))!.window, windows);
    // One window of every day: the three columns alone, as before weekday windows.
    const single = await service.schedule(several.id, { window: { start: "20:00", end: "06:00" } });
    assert.deepEqual(single.window, { start: "20:00", end: "06:00" });
    const plain = (await db.query.transfers.findFirst({ where: eq(transfers.id, several.id) }))!;
    assert.deepEqual([plain.windowStart, plain.windowEnd, plain.windowZone, plain.windows], [
      "20:00",
      "06:00",
      null,
      null,
    ]);
    const cleared = await service.schedule(several.id, { window: null });
    assert.equal(cleared.window, undefined);
    await assert.rejects(
      service.schedule(several.id, { window: { start: "19:00", end: "07:00", days: ["fri", "fri"] } }),
      /names a day twice/,
    );
  });
});

Deno.test("a site's uplink cap throttles everything the site relays, routes too, and clearing it stops that", async () => {
  await withFailedJob(async (db, service) => {
    const registry = new SiteRegistry(db);
    await registry.add("north");
    assert.equal(await service.limiterFor("north", "ct-to-research"), undefined);
    const info = await registry.setUplink("north", 8, "user:boss");
    assert.equal(info.uplinkMbps, 8);
    service.forgetSite("north");
    assert.ok(await service.limiterFor("north", "ct-to-research"), "a route's relay");
    assert.ok(await service.limiterFor("north", undefined), "a relay without a route");
    assert.ok(await service.limiterFor("north", "transfer:no-such-task"), "a transfer's relay");
    assert.equal(await service.limiterFor("south", "ct-to-research"), undefined);
    const last = (await recent(db, 1))[0];
    assert.deepEqual([last.actor, last.action, last.target, last.detail], [
      "user:boss",
      "site.uplink",
      "north",
      { uplinkMbps: 8 },
    ]);
    await registry.setUplink("north", null, "user:boss");
    service.forgetSite("north");
    assert.equal(await service.limiterFor("north", "ct-to-research"), undefined);
    await assert.rejects(registry.setUplink("nowhere", 5), /no site named nowhere/);
  });
});

Deno.test("a site's downlink cap throttles everything relayed to it, from any site, one line per flow", async () => {
  await withFailedJob(async (db, service) => {
    const registry = new SiteRegistry(db);
    for (const site of ["north", "south", "east"]) await registry.add(site);
    assert.equal(await service.limiterFor("north", "ct", "south"), undefined);
    const info = await registry.setDownlink("south", 1000, "user:boss");
    assert.deepEqual([info.downlinkMbps, info.uplinkMbps], [1000, null]);
    service.forgetSite("south");
    // Relays to south wait on its bucket, whoever sends them; relays elsewhere, or from south, do not.
    assert.equal(await service.limiterFor("north", "ct", "east"), undefined);
    assert.equal(await service.limiterFor("south", "ct", "north"), undefined);
    assert.equal(await service.limiterFor("north", "ct"), undefined, "a caller that names no destination");
    assert.ok(await service.limiterFor("north", undefined, "south"), "a relay without a route");
    assert.ok(await service.limiterFor("north", "transfer:no-such-task", "south"), "a transfer's relay");
    // One bucket for south, shared in turn: eight objects of north's route in flight at once form one line,
    // and east's route of the same name another (its two chunks come before the most of north's eight).
    const north = await Promise.all(
      [1, 2, 3, 4, 5, 6, 7, 8].map(() => service.limiterFor("north", "ct", "south")),
    );
    const east = (await service.limiterFor("east", "ct", "south"))!;
    const order: string[] = [];
    await Promise.all([
      ...north.map((t, i) => t!.take(1000).then(() => order.push(`north${i + 1}`))),
      ...[1, 2].map((i) => east.take(1000).then(() => order.push(`east${i}`))),
    ]);
    assert.deepEqual(order, [
      "north1",
      "north2",
      "east1",
      "north3",
      "east2",
      "north4",
      "north5",
      "north6",
      "north7",
      "north8",
    ]);
    const last = (await recent(db, 1))[0];
    assert.deepEqual([last.actor, last.action, last.target, last.detail], [
      "user:boss",
      "site.downlink",
      "south",
      { downlinkMbps: 1000 },
    ]);
    // The uplink cap is a bucket of its own: south's downlink does not slow what south sends.
    await registry.setUplink("north", 8, "user:boss");
    service.forgetSite("north");
    assert.ok(await service.limiterFor("north", "ct", "east"), "north's uplink");
    assert.equal((await registry.get("north"))?.downlinkMbps, null);
    await registry.setDownlink("south", null, "user:boss");
    service.forgetSite("south");
    assert.equal(await service.limiterFor("east", "ct", "south"), undefined);
    await assert.rejects(registry.setDownlink("nowhere", 5), /no site named nowhere/);
  });
});

Deno.test("a relay waits on its job's cap, its source's uplink cap and its destination's downlink cap: the lowest sets the pace", async () => {
  await withFailedJob(async (db, service) => {
    const registry = new SiteRegistry(db);
    for (const site of ["north", "south"]) await registry.add(site);
    const job = await service.create({
      source: { site: "north" },
      destination: { site: "south" },
      studies: ["1.2.826.0.1.3680043.8.498.8"],
      bandwidthMbps: 800,
    }, "user:alice");
    const task = await db.query.transferTasks.findFirst({ where: eq(transferTasks.transferId, job.id) });
    const route = `transfer:${task!.id}`;
    /** Seconds to pass 1.25 MB through what a relay of the job waits on. */
    const pass = async () => {
      const throttle = (await service.limiterFor("north", route, "south"))!;
      const started = performance.now();
      for (let sent = 0; sent < 1_250_000; sent += 50_000) await throttle.take(50_000);
      return (performance.now() - started) / 1000;
    };
    // Each in turn the lowest, at 8 Mbit/s (1 MB/s, a quarter second's burst): about a second each time.
    // Lower bounds only: a busy machine is slower still.
    const rounds = [["downlink", 800, 80, 8], ["uplink", 800, 8, 80], ["job", 8, 80, 80]] as const;
    for (const [lowest, jobMbps, up, down] of rounds) {
      await service.schedule(job.id, { bandwidthMbps: jobMbps });
      await registry.setUplink("north", up);
      await registry.setDownlink("south", down);
      service.forgetSite("north");
      service.forgetSite("south");
      const seconds = await pass();
      assert.ok(seconds >= 0.9, `the ${lowest} cap the lowest: ${seconds.toFixed(2)} s`);
    }
  });
});

Deno.test("TransferService.tasks() lists a job's tasks in the order the request named its studies", async () => {
  await withFailedJob(async (_db, service) => {
    // Named neither in the order of their UIDs nor in any order random ids would give by chance, then studies
    // named by some of their series (after the whole ones). A study named twice is refused (series_test).
    const named = Array.from({ length: 30 }, (_, i) => `1.2.826.0.1.3680043.8.498.${(i * 17) % 31 + 1}`);
    const { id } = await service.create({
      source: { site: "north" },
      destination: { site: "south" },
      studies: named,
      series: [{ study: "1.2.3.9", series: ["1.2.3.9.1"] }, { study: "1.2.3.8", series: ["1.2.3.8.1"] }],
    }, "user:alice");
    const listed: string[] = [];
    let after: string | undefined;
    do {
      const page = (await service.tasks(id, { limit: 7, after }))!;
      listed.push(...page.tasks.map((t) => t.studyInstanceUid));
      after = page.next;
    } while (after);
    assert.deepEqual(listed, [...named, "1.2.3.9", "1.2.3.8"]);
    assert.deepEqual(
      (await service.get(id))!.tasks.map((t) => t.studyInstanceUid).toSorted(),
      listed.toSorted(),
    );
  });
});

Deno.test("TransferService.create() puts a job's tasks in its studyOrder, whole studies and series interleaved", async () => {
  await withFailedJob(async (_db, service) => {
    const study = (n: number) => `1.2.826.0.1.3680043.8.498.${n}`;
    const { id } = await service.create({
      source: { site: "north" },
      destination: { site: "south" },
      studies: [study(1), study(2), study(3)],
      series: [{ study: study(4), series: [`${study(4)}.1`] }, {
        study: study(5),
        series: [`${study(5)}.1`],
      }],
      // A batch's lines: a series, two whole studies, another series; study 3 left out goes last.
      studyOrder: [study(5), study(2), study(5), study(1), study(4)],
    }, "user:alice");
    const { tasks } = (await service.tasks(id, { limit: 10 }))!;
    assert.deepEqual(tasks.map((t) => [t.studyInstanceUid, t.series]), [
      [study(5), [`${study(5)}.1`]],
      [study(2), undefined],
      [study(1), undefined],
      [study(4), [`${study(4)}.1`]],
      [study(3), undefined],
    ]);
  });
});

Deno.test("TransferService: a failed hand-over is tried again after a delay growing each time, then fails", async () => {
  await withFailedJob(async (db, service, _failed, sessions) => {
    let sends = 0;
    Object.assign(sessions, {
      online: () => true,
      ask: (_site: string, request: { op: string }) => {
        if (request.op === "send") sends++;
        // The source's own answer: its node refused the retrieve.
        return Promise.reject(new SiteRequestError("failed", "NPACS at h:104: Connection refused"));
      },
    });
    assert.deepEqual([1, 2, 3, 4].map(handOverDelayMs), [5000, 15_000, 45_000, 135_000]);
    const { id } = await service.create({
      source: { site: "north", node: "pacs" },
      destination: { site: "south" },
      studies: [STUDY],
    }, "user:alice");
    const task = async () => (await service.get(id))!.tasks[0];
    await eventually("the first hand-over failed", async () => {
      await service.tick();
      const [row] = await db.select().from(transferTasks).where(eq(transferTasks.transferId, id));
      return row.attempts === 1 || undefined; // (its note while the node is asked is not the failure)
    });
    // Passes within the delay hand nothing over again: the task waits, pending, with the reason.
    for (let i = 0; i < 5; i++) await service.tick();
    assert.equal(sends, 1);
    assert.deepEqual([(await task()).status, (await task()).lastError], [
      "pending",
      "north could not read the study from its node pacs: NPACS at h:104: Connection refused",
    ]);
    // Once the delay has passed (the failure set back in time), the next pass tries again.
    const back = (ms: number) =>
      db.update(transferTasks).set({ updatedAt: Date.now() - ms }).where(eq(transferTasks.transferId, id));
    await back(5000);
    await eventually("the second hand-over", async () => {
      await service.tick();
      return sends === 2 || undefined;
    });
    // The fifth failure fails the task.
    await db.update(transferTasks).set({ attempts: 4 }).where(eq(transferTasks.transferId, id));
    await back(135_000);
    const failed = await eventually("the task failed", async () => {
      await service.tick();
      const t = await task();
      return t.status === "failure" ? t : undefined;
    });
    assert.equal(
      failed.lastError,
      "north could not read the study from its node pacs: NPACS at h:104: Connection refused",
      "the operator reads where it failed, then the node's words",
    );
  });
});

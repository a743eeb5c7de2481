import assert from "node:assert/strict";
import { Channel, memoryPair, Reply, Request, Session, type Stream } from "@conduit/shared/tunnel";
import { Logger } from "@conduit/shared/log";
import { DimseStatusError } from "../dimse/handlers.ts";
import { UnknownNodeError } from "../nodes/operations.ts";
import { FrameError } from "../part10/frames.ts";
import { RenderError, RenderRequestError } from "../render/mod.ts";
import { BulkDataError } from "./metadata.ts";
import type { Handlers } from "./reply.ts";
import { HANDLERS, serveRequest, type SiteServices } from "./serve.ts";
import { z } from "zod";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { type SQL, sql } from "drizzle-orm";
import type { Archive } from "../archive/archive.ts";
import { archivedFiles, FILE_PAGES } from "../index/files.ts";
import { memorySource } from "../part10/source.ts";
import { OBJECTS_PAGE, QueueRowView } from "@conduit/shared/tunnel";
import { indexedDatabase } from "../index/testing.ts";
import { Queue } from "../queue/queue.ts";
import { transferRoute } from "../queue/keys.ts";

const quiet = new Logger({}, "error", { write: () => {} });
/** Only the logger: the handlers under test here touch nothing else. */
const services = { log: quiet } as unknown as SiteServices;

/** Serves `request` with `handlers` over an in-memory session; resolves with every reply the hub side got. */
async function ask(request: Request, handlers: Handlers, site = services): Promise<Reply[]> {
  const [a, b] = memoryPair();
  const served = new Promise<void>((resolve) => {
    new Session(b, {
      side: "server",
      onStream: (stream: Stream) => {
        const channel = new Channel(stream);
        channel.expect(Request).then((r) => serveRequest(site, r, channel, handlers)).then(resolve);
      },
    });
  });
  const hub = new Session(a, { side: "client" });
  const channel = new Channel(hub.open());
  await channel.send(request);
  await channel.end();
  const replies: Reply[] = [];
  for (let r = await channel.next(); r; r = await channel.next()) {
    if (r.kind === "json") replies.push(Reply.parse(r.value));
  }
  await served;
  hub.close();
  return replies;
}

Deno.test("HANDLERS serves every operation the hub sends a site, and only those", () => {
  const ops = new Set(Request.options.map((o) => o.shape.op.value));
  ops.delete("relay"); // the hub's own: an agent asks it, never serves it
  assert.deepEqual(new Set(Object.keys(HANDLERS)), ops);
});

Deno.test("serveRequest() answers an operation it has no handler for as unsupported", async () => {
  assert.deepEqual(await ask({ op: "status" }, {}), [{
    type: "error",
    code: "unsupported",
    message: "this agent does not do status over the tunnel yet",
  }]);
});

Deno.test("serveRequest() turns each kind of failure into its error code", async () => {
  const cases: [Error, string][] = [
    [new UnknownNodeError("no node named x"), "unknown-node"],
    [new DimseStatusError(0xa801, "unknown move destination"), "dimse"],
    [new BulkDataError("no such instance"), "not-found"],
    [new FrameError("frame 9 does not exist"), "not-found"],
    [new RenderError("not an image"), "not-renderable"],
    [new RenderRequestError("the region is not inside the frame"), "bad-request"],
    [new Error("disk on fire"), "failed"],
  ];
  for (const [error, code] of cases) {
    const replies = await ask({ op: "status" }, {
      status: () => Promise.reject(error),
    });
    assert.equal(replies.length, 1);
    const reply = replies[0] as Extract<Reply, { type: "error" }>;
    assert.equal(reply.code, code, error.name);
    assert.equal(reply.message, error.message);
    assert.equal(reply.status, error instanceof DimseStatusError ? error.status : undefined);
  }
});

Deno.test("serveRequest() gives a handler the request of its operation and the channel to answer on", async () => {
  let limit: number | undefined;
  const replies = await ask({ op: "deadLetter", limit: 3 }, {
    deadLetter: async (_s, request, channel) => {
      limit = request.limit;
      await channel.send({ type: "ok", detail: { rows: [] } });
    },
  });
  assert.equal(limit, 3);
  assert.deepEqual(replies, [{ type: "ok", detail: { rows: [] } }]);
});

Deno.test("objects awaiting Storage Commitment: told apart only to a hub that asks, as before to one that does not", async () => {
  const specs = [...generateStudies({
    seed: "serve-commit",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 2 }],
    rows: 4,
    columns: 4,
  })];
  const route = transferRoute("t1");
  const db = await indexedDatabase(specs, (spec, db) => {
    new Queue(db).addInTransaction(spec.sopInstanceUid, [{ route, destination: "pacs" }], 1000);
  });
  try {
    const queue = new Queue(db);
    const [row] = queue.claim("pacs", 1, 2000);
    queue.markCommitting([{ id: row.id, status: 0 }], "2.25.9", 1e12, 2000);
    const site = { log: quiet, queue, agentVersion: "9.9.9" } as unknown as SiteServices;
    // What a hub from before the `commitment-state` feature checks: a strict status, five row states.
    const olderStatus = z.object({
      type: z.literal("status"),
      queueDepth: z.number().int().nonnegative(),
      agentVersion: z.string(),
    }).strict();
    const olderRow = QueueRowView.extend({
      state: z.enum(["pending", "in_flight", "failed", "done", "dead"]),
    });

    const [before] = await ask({ op: "status" }, HANDLERS, site);
    assert.deepEqual(olderStatus.parse(before), { type: "status", queueDepth: 2, agentVersion: "9.9.9" });
    const [asked] = await ask({ op: "status", committing: true }, HANDLERS, site);
    assert.deepEqual(asked, { type: "status", queueDepth: 2, agentVersion: "9.9.9", committing: 1 });

    const objects = (reply: Reply) => reply.type === "ok" ? reply.detail!.objects as { state: string }[] : [];
    const states = (reply: Reply) => objects(reply).map((o) => o.state).sort();
    const [listed] = await ask({ op: "objects", transfer: "t1" }, HANDLERS, site);
    assert.deepEqual(states(listed), ["in_flight", "pending"]);
    for (const o of objects(listed)) olderRow.parse(o);
    const [apart] = await ask({ op: "objects", transfer: "t1", committing: true }, HANDLERS, site);
    assert.deepEqual(states(apart), ["committing", "pending"]);
  } finally {
    db.close();
  }
});

Deno.test("serveRequest() answers a study's metadata reading the index a page at a time, each object once", async () => {
  const specs = [...generateStudies({
    seed: "paged",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 150 }, { modality: "MR", instances: 90 }],
    rows: 4,
    columns: 4,
  })];
  // Instance numbers shared by several objects: pages must still start after the right one.
  specs.forEach((s, i) => i % 10 === 0 && (s.instanceNumber = 3));
  const bytes = new Map(specs.map((s) => [`archive/${s.sopInstanceUid}.dcm`, generateInstance(s)]));
  const db = await indexedDatabase(specs);
  const files = {
    open: (key: string) => Promise.resolve(memorySource(bytes.get(key)!)),
  } as unknown as Archive;
  let largest = 0;
  const read = {
    all: async <T>(q: SQL) => {
      const rows = await db.read.all<T>(q);
      largest = Math.max(largest, rows.length);
      return rows;
    },
  };
  const site = { log: quiet, db: { caughtUp: () => db.caughtUp(), read }, files } as unknown as SiteServices;
  const saved = { ...FILE_PAGES };
  Object.assign(FILE_PAGES, { first: 8, largest: 32 });
  try {
    const study = specs[0].studyInstanceUid;
    const replies = await ask({ op: "metadata", studyInstanceUid: study }, HANDLERS, site);
    const sops = replies.flatMap((r) =>
      r.type === "metadata" ? [(r.dataset["00080018"] as { Value: string[] }).Value[0]] : []
    );
    const whole = await archivedFiles(db, files, sql`i.study_instance_uid = ${study}`);
    assert.deepEqual(sops, whole.map((f) => f.sopInstanceUid), "every object once, in the study's order");
    assert.equal(sops.length, 240);
    assert.ok(largest <= 32, `a read of ${largest} rows (pages of at most 32)`);
  } finally {
    Object.assign(FILE_PAGES, saved);
    db.close();
  }
});

Deno.test("serveRequest() answers a page of a transfer's objects within one control record, and the page after a row", async () => {
  const db = await indexedDatabase([]);
  const route = transferRoute("t2");
  const queue = new Queue(db);
  // 1.2.3 plus 60 digits: as long as a UID gets; each row's last error as long as a node's reason may be.
  const uid = (i: number) => `1.2.3.${String(i).padStart(60, "0")}`;
  db.write(() => {
    for (let i = 0; i < OBJECTS_PAGE + 10; i++) {
      queue.addInTransaction(uid(i), [{ route, destination: "@south/pacs" }], 1000);
    }
    db.statement("UPDATE queue SET state = 'failed', last_error = ?").run("x".repeat(300));
  });
  try {
    const site = { log: quiet, queue } as unknown as SiteServices;
    const objects = (reply: Reply) => reply.type === "ok" ? reply.detail!.objects as { id: number }[] : [];
    const [first] = await ask({ op: "objects", transfer: "t2", limit: OBJECTS_PAGE }, HANDLERS, site);
    assert.equal(first.type, "ok", JSON.stringify(first).slice(0, 300));
    const page = objects(first);
    assert.equal(page.length, OBJECTS_PAGE);
    const [next] = await ask(
      { op: "objects", transfer: "t2", limit: OBJECTS_PAGE, after: page[page.length - 1].id },
      HANDLERS,
      site,
    );
    assert.equal(objects(next).length, 10, "the rows after the page's last");
  } finally {
    db.close();
  }
});

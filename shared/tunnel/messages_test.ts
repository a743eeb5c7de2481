import assert from "node:assert/strict";
import { type Op, OPERATIONS, repliesOf, Reply, Request } from "./messages.ts";

const UID = "1.2.826.0.1.3680043.8.498.1";
const row = {
  id: 7,
  sopInstanceUid: UID,
  route: "transfer:abc",
  destination: "@south",
  state: "dead",
  attempts: 5,
  nextAttemptAt: 1700000000000,
  lastStatus: null,
  lastError: "refused",
  createdAt: 1700000000000,
  updatedAt: 1700000000001,
  doneAt: null,
  copyId: null,
};

/** A conflict as the agent lists it (the `conflicts` and `resolveConflict` replies). */
const conflict = {
  id: 3,
  sopInstanceUid: UID,
  storedSha256: "a".repeat(64),
  receivedSha256: "b".repeat(64),
  policy: "keepBoth",
  keptPath: `${UID}/${UID}.1/${UID}.2.conflict-bbbbbbbbbbbbbbbb.dcm`,
  callingAet: "MODALITY",
  receivedAt: "2026-12-05T06:30:00.000Z",
} as const;

/** For each operation a request and the replies an agent of this version sends to it, as it sends them. */
const EXAMPLES: { [O in Op]: { request: unknown; replies: unknown[] } } = {
  status: { request: { op: "status" }, replies: [{ type: "status", queueDepth: 3, agentVersion: "0.1.0" }] },
  echo: { request: { op: "echo", node: "pacs" }, replies: [{ type: "ok", detail: { status: 0, ms: 4 } }] },
  find: {
    request: { op: "find", level: "STUDY", query: { StudyInstanceUID: "" }, limit: 10 },
    replies: [{ type: "match", dataset: { StudyInstanceUID: UID } }, { type: "end", completed: 1 }],
  },
  retrieve: {
    request: { op: "retrieve", studyInstanceUid: UID, skip: [UID], transferSyntax: "1.2.840.10008.1.2.1" },
    replies: [
      {
        type: "object",
        sopInstanceUid: UID,
        sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
        transferSyntax: "1.2.840.10008.1.2.1",
        size: 10,
        sha256: "0".repeat(64),
      },
      { type: "end", completed: 1, failed: 0, warning: 0 },
    ],
  },
  store: {
    request: { op: "store", from: "hub", node: "pacs", deliver: "now" },
    replies: [{ type: "ack", sopInstanceUid: UID }, {
      type: "nack",
      sopInstanceUid: UID,
      message: "node pacs refused the object (0xa700)",
      status: 0xa700,
    }],
  },
  relay: {
    request: { op: "relay", site: "south", node: "pacs", route: "transfer:abc" },
    replies: [{ type: "ack", sopInstanceUid: UID }, {
      type: "error",
      code: "site-offline",
      message: "offline",
    }],
  },
  nodes: {
    request: { op: "nodes" },
    replies: [{
      type: "ok",
      detail: { nodes: [{ name: "pacs", aet: "ORTHANC", host: "10.0.0.5", port: 4242, retrieve: "get" }] },
    }],
  },
  deadLetter: {
    request: { op: "deadLetter", limit: 500 },
    replies: [{ type: "ok", detail: { rows: [row] } }],
  },
  conflicts: {
    request: { op: "conflicts", limit: 50, offset: 50 },
    replies: [{
      type: "ok",
      detail: {
        total: 51,
        conflicts: [conflict],
      },
    }],
  },
  erase: {
    request: { op: "erase", studyInstanceUid: UID, seriesInstanceUid: `${UID}.1` },
    replies: [{
      type: "ok",
      detail: {
        instances: 2,
        files: 2,
        bytes: 1000,
        series: 1,
        studies: 0,
        patients: 0,
        queueRows: 2,
        inFlight: 0,
        copies: 0,
        conflicts: 0,
      },
    }],
  },
  resolveConflict: {
    request: { op: "resolveConflict", id: 3, keep: "received" },
    replies: [{
      type: "ok",
      detail: {
        conflict: { ...conflict, resolution: "received", resolvedAt: "2026-12-05T07:00:00.000Z" },
      },
    }],
  },
  replay: { request: { op: "replay", ids: [7] }, replies: [{ type: "ok", detail: { replayed: 1 } }] },
  siteOnline: { request: { op: "siteOnline", site: "south" }, replies: [{ type: "ok", detail: { due: 3 } }] },
  discardDead: {
    request: { op: "discardDead", ids: [7, 8] },
    replies: [{ type: "ok", detail: { discarded: 2 } }],
  },
  stranded: {
    request: { op: "stranded" },
    replies: [{ type: "ok", detail: { destinations: [{ destination: "old", waiting: 2, oldestMs: 1500 }] } }],
  },
  abandon: {
    request: { op: "abandon", destination: "old" },
    replies: [{ type: "ok", detail: { abandoned: 2 } }],
  },
  send: {
    request: {
      op: "send",
      transfer: "abc",
      studyInstanceUid: UID,
      seriesInstanceUids: [`${UID}.1`, `${UID}.2`],
      node: "pacs",
      to: { site: "south" },
      deid: { profile: "basic", options: ["retain-uids"], pseudonyms: { "P1": "X1" } },
    },
    replies: [{
      type: "ok",
      detail: {
        objects: 3,
        queued: 3,
        missing: 1,
        retrieve: { method: "move", status: 0xb000, expected: 4, arrived: 3 },
      },
    }, { type: "error", code: "bad-request", message: "this site has no de-identification key" }],
  },
  progress: {
    request: { op: "progress", transfer: "abc" },
    replies: [{
      type: "ok",
      detail: {
        pending: 1,
        inFlight: 0,
        failed: 0,
        done: 2,
        dead: 0,
        canceled: 0,
        held: 0,
        lastError: "refused",
        identifiers: { patientId: "X1", patientName: "", studyInstanceUid: UID },
      },
    }],
  },
  objects: {
    request: { op: "objects", transfer: "abc", limit: 10 },
    replies: [{ type: "ok", detail: { objects: [row] } }],
  },
  delivery: {
    request: { op: "delivery", node: "pacs", sopInstanceUids: [UID], replayDead: true },
    replies: [{ type: "ok", detail: { done: 1, waiting: 0, dead: 0, unknown: 0, lastError: "refused" } }],
  },
  cancel: { request: { op: "cancel", transfer: "abc" }, replies: [{ type: "ok", detail: { canceled: 2 } }] },
  hold: {
    request: { op: "hold", transfer: "abc", until: 0 },
    replies: [{ type: "ok", detail: { held: 2 } }],
  },
  credential: {
    request: { op: "credential", credential: `cts.north.${"A".repeat(43)}`, deadlineMs: 30_000 },
    replies: [{ type: "ok", detail: { saved: true } }],
  },
  metadata: {
    request: { op: "metadata", studyInstanceUid: UID },
    replies: [{ type: "metadata", dataset: { "0020000D": { vr: "UI", Value: [UID] } } }, {
      type: "end",
      completed: 1,
    }],
  },
  frames: {
    request: { op: "frames", sopInstanceUid: UID, frames: [1, 2], transferSyntaxes: ["1.2.840.10008.1.2.1"] },
    replies: [
      { type: "frames", transferSyntax: "1.2.840.10008.1.2.1", encapsulated: false },
      { type: "bulk", size: 512 },
      { type: "end", completed: 2 },
    ],
  },
  render: {
    request: {
      op: "render",
      studyInstanceUid: UID,
      media: "image/png",
      thumbnail: true,
      viewport: { width: 64 },
    },
    replies: [{ type: "image", mediaType: "image/png", size: 100 }, { type: "end", completed: 1 }],
  },
  bulkdata: {
    request: { op: "bulkdata", sopInstanceUid: UID, path: "7FE00010" },
    replies: [{ type: "bulk", size: 10 }, { type: "end", completed: 1 }, {
      type: "error",
      code: "not-found",
      message: "no such value",
    }],
  },
};

Deno.test("Request is exactly the union of every operation's request", () => {
  const inUnion = Request.options.map((o) => o.shape.op.value).sort();
  assert.deepEqual(inUnion, Object.keys(OPERATIONS).sort());
});

Deno.test("repliesOf() takes each operation's replies as an agent sends them, nothing dropped, and so does Reply", () => {
  for (const [op, { request, replies }] of Object.entries(EXAMPLES)) {
    assert.deepEqual(Request.parse(request), request, op);
    assert.deepEqual(OPERATIONS[op as Op].request.parse(request), request, op);
    for (const reply of replies) {
      assert.deepEqual(repliesOf(op as Op).parse(reply), reply, `${op}: ${JSON.stringify(reply)}`);
      // The wire is the same for every reader: the generic schema takes what the typed one takes.
      assert.deepEqual(Reply.parse(reply), reply, op);
    }
  }
});

Deno.test("repliesOf() takes an error reply for every operation", () => {
  const error = { type: "error", code: "unsupported", message: "this agent does not do that yet" };
  for (const op of Object.keys(OPERATIONS) as Op[]) assert.deepEqual(repliesOf(op).parse(error), error, op);
});

Deno.test("repliesOf() refuses a reply its operation does not get, and an ok detail of the wrong shape", () => {
  assert.throws(() => repliesOf("echo").parse({ type: "match", dataset: {} }));
  assert.throws(() => repliesOf("find").parse({ type: "ok", detail: {} }));
  assert.throws(() => repliesOf("nodes").parse({ type: "ok" }), /detail/);
  assert.throws(() => repliesOf("replay").parse({ type: "ok", detail: { replayed: "1" } }), /replayed/);
  assert.throws(() => Request.parse({ op: "discardDead", ids: [] }), /at least 1/);
  assert.throws(() => Request.parse({ op: "abandon" }), /destination/);
  assert.throws(() => repliesOf("send").parse({ type: "ok", detail: { objects: 1, queued: 1 } }), /missing/);
  assert.throws(() => repliesOf("retrieve").parse({ type: "bulk", size: 1 }));
});

Deno.test("repliesOf() drops detail fields a newer agent adds instead of refusing the reply", () => {
  const reply = repliesOf("cancel").parse({ type: "ok", detail: { canceled: 1, alsoHeld: 2 } });
  assert.deepEqual(reply, { type: "ok", detail: { canceled: 1 } });
});

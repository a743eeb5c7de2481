import assert from "node:assert/strict";
import { SiteRequestError } from "../tunnel/errors.ts";
import type { TransferTaskRow } from "../db/schema.ts";
import { handOverFailure, nodeWaitNote, taskProgress } from "./progress.ts";

Deno.test("taskProgress clears the last error of a task every object of which was delivered, and of no other", () => {
  const task: TransferTaskRow = {
    id: "t",
    transferId: "j",
    studyInstanceUid: "1.2.3",
    series: null,
    status: "in_progress",
    objects: 3,
    done: 1,
    failed: 2,
    missing: 0,
    lastError: "site south is not connected",
    attempts: 0,
    held: 0,
    pseudoPatientId: null,
    pseudoPatientName: null,
    pseudoStudyInstanceUid: null,
    updatedAt: 0,
  };
  const report = { pending: 0, inFlight: 0, failed: 0, done: 3, dead: 0, canceled: 0, held: 0 };
  const done = taskProgress(task, report);
  assert.equal(done.status, "success");
  assert.equal(done.lastError, null, "a reason reported before is over");
  const waiting = taskProgress(task, { ...report, done: 1, failed: 2 });
  assert.equal(waiting.status, "in_progress");
  assert.equal(waiting.lastError, "site south is not connected", "kept while objects wait");
  const canceling = taskProgress(
    { ...task, status: "canceling", lastError: "canceled; 2 objects finish" },
    report,
  );
  assert.equal(canceling.status, "canceling");
  assert.equal(canceling.lastError, "canceled; 2 objects finish", "a cancel's note stays");
});

Deno.test("nodeWaitNote names every group of objects that waits at the node, then the destination's error", () => {
  const none = { waiting: 0, unknown: 0, committing: 0, lastError: undefined };
  assert.equal(
    nodeWaitNote({ ...none, waiting: 4, lastError: "Connection refused" }, 4, "south", "pacs"),
    "4 of 4 objects wait at south for its node pacs: Connection refused",
  );
  assert.equal(
    nodeWaitNote({ ...none, committing: 3 }, 3, "south", "pacs"),
    "3 of 3 objects stored at south's node pacs wait for its storage commitment",
  );
  // Until 2026-12-05 only the first group was named: the objects awaiting commitment went unsaid.
  assert.equal(
    nodeWaitNote({ ...none, waiting: 2, committing: 3, lastError: "timed out" }, 5, "south", "pacs"),
    "2 of 5 objects wait at south for its node pacs; " +
      "3 of 5 objects stored at south's node pacs wait for its storage commitment: timed out",
  );
  assert.equal(
    nodeWaitNote({ ...none, unknown: 1, lastError: "old news" }, 2, "south", "pacs"),
    "south has no record of storing 1 of 2 objects to its node pacs",
  );
});

Deno.test("handOverFailure() names the source site, and its node when the source answered, before the reason", () => {
  const pacs = { sourceSite: "north", sourceNode: "pacs" };
  const archive = { sourceSite: "north", sourceNode: null };
  const refused = new SiteRequestError("failed", "NPACS at 127.0.0.1:4242: Connection refused");
  assert.equal(
    handOverFailure(pacs, refused),
    "north could not read the study from its node pacs: NPACS at 127.0.0.1:4242: Connection refused",
  );
  assert.equal(
    handOverFailure(archive, new SiteRequestError("failed", "disk full")),
    "north could not hand the study over: disk full",
  );
  assert.equal(
    handOverFailure(pacs, new SiteRequestError("bad-request", "no de-identification key")),
    "north refused the study: no de-identification key",
  );
  assert.equal(
    handOverFailure(archive, new Error("the stream was reset")),
    "the hub could not hand the study to north: the stream was reset",
  );
});

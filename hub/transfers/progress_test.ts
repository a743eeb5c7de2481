import assert from "node:assert/strict";
import { nodeWaitNote } from "./progress.ts";

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

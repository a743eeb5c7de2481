import assert from "node:assert/strict";
import type { Checked } from "./checks.ts";
import type { Prepared } from "./place.ts";
import { SharedCommit } from "./shared_commit.ts";

type Placed = Extract<Prepared, { kind: "index" }>;

/** A placed object as SharedCommit sees it: only its SOP Instance UID matters to the grouping. */
const placed = (sop: string): Placed =>
  ({ kind: "index", checked: { attrs: { sopInstanceUid: sop } } as Checked, targets: [] }) as Placed;

Deno.test("SharedCommit commits objects that wait together in one group, one SOP Instance UID once", async () => {
  const groups: string[][] = [];
  const shared = new SharedCommit((items) => {
    groups.push(items.map((i) => i.checked.attrs.sopInstanceUid));
    return items.filter((i) => i.checked.attrs.sopInstanceUid === "bad").map((i) => i.checked);
  });
  const results = await Promise.all(["1", "2", "1", "bad", "3"].map((sop) => shared.commit(placed(sop))));
  assert.deepEqual(
    results,
    [true, true, true, false, true],
    "each caller learns whether its own rows committed",
  );
  assert.deepEqual(groups, [["1", "2", "bad", "3"], ["1"]], "the second copy of 1 waits for the next group");
  // At rest an object commits alone, without waiting for others.
  assert.equal(await shared.commit(placed("4")), true);
  assert.deepEqual(groups.at(-1), ["4"]);
});

Deno.test("SharedCommit rejects every caller of a group whose transaction throws", async () => {
  const shared = new SharedCommit(() => {
    throw new Error("disk I/O error");
  });
  const outcomes = await Promise.allSettled([shared.commit(placed("1")), shared.commit(placed("2"))]);
  assert.deepEqual(outcomes.map((o) => o.status), ["rejected", "rejected"]);
});

Deno.test("SharedCommit answers a group only once the sync after its commit has finished", async () => {
  const events: string[] = [];
  const syncs: { resolve: () => void; reject: (err: Error) => void }[] = [];
  const shared = new SharedCommit((items) => {
    events.push(`commit ${items.map((i) => i.checked.attrs.sopInstanceUid).join(",")}`);
    return [];
  }, () => {
    events.push("sync");
    return new Promise((resolve, reject) => syncs.push({ resolve, reject }));
  });
  let answered = false;
  const first = shared.commit(placed("1")).then((ok) => {
    answered = true;
    return ok;
  });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(events, ["commit 1", "sync"]);
  assert.equal(answered, false, "committed, not synced: not answered yet");
  syncs[0].resolve();
  assert.equal(await first, true);
  // A failed sync: the group's callers learn it (their senders send again).
  const second = shared.commit(placed("2"));
  await new Promise((r) => setTimeout(r, 10));
  syncs[1].reject(new Error("EIO"));
  await assert.rejects(second, /EIO/);
});

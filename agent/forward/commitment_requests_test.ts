/** The Storage Commitment SCU's asking again: paused destinations wait, others are asked (or rescheduled). */
import assert from "node:assert/strict";
import { generateStudies } from "@conduit/shared/testing";
import { Logger } from "@conduit/shared/log";
import { configSchema } from "../config/schema.ts";
import { indexedDatabase } from "../index/testing.ts";
import { Queue } from "../queue/queue.ts";
import { CommitmentRequests, newTransactionUid } from "./commitment_requests.ts";

const quiet = new Logger({}, "error", { write: () => {} });

/** A closed port: listened on, then let go. */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("overdue commitments of a paused destination are not asked again until it is resumed", async () => {
  const specs = [...generateStudies({
    seed: "cr",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 2 }],
    rows: 4,
    columns: 4,
  })];
  const db = await indexedDatabase(specs, (spec, db) => {
    new Queue(db).addInTransaction(spec.sopInstanceUid, [{ route: "r", destination: "pacs" }], 1000);
  });
  const queue = new Queue(db);
  const config = configSchema.parse({
    dimse: { commitmentRetrySeconds: 100 },
    nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: closedPort(), storageCommitment: true } },
  });
  const requests = new CommitmentRequests(config, queue, quiet);
  try {
    const rows = queue.claim("pacs", 10, 2000);
    queue.markCommitting(rows.map((r) => ({ id: r.id, status: 0 })), newTransactionUid(), 3000, 2000);
    const due = () => queue.dueCommitments(Date.now()).length;
    queue.setPaused("pacs", true);
    await requests.sweep();
    assert.equal(due(), 2, "paused: not asked");
    queue.setPaused("pacs", false);
    await requests.sweep();
    // Asked: the node cannot be reached, so they wait for the retry (commitmentRetrySeconds).
    assert.equal(due(), 0);
    assert.ok(
      queue.list().every((r) =>
        r.state === "committing" && /ECONNREFUSED|refused|closed|connect/i.test(r.lastError)
      ),
    );
  } finally {
    await requests.stop();
    db.close();
  }
});

Deno.test("a Transaction UID is a UID under 2.25 of at most 64 characters, new each time", () => {
  const a = newTransactionUid(), b = newTransactionUid();
  assert.match(a, /^2\.25\.[1-9][0-9]*$/);
  assert.ok(a.length <= 64);
  assert.notEqual(a, b);
});

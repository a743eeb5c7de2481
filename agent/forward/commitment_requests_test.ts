/** The Storage Commitment SCU's asking again: paused destinations wait, others are asked (or rescheduled). */
import assert from "node:assert/strict";
import { generateStudies } from "@conduit/shared/testing";
import { Logger } from "@conduit/shared/log";
import { configSchema } from "../config/schema.ts";
import { indexedDatabase } from "../index/testing.ts";
import { Queue } from "../queue/queue.ts";
import { CommitmentRequests, newTransactionUid } from "./commitment_requests.ts";
import { eventually } from "../../tests/support/hub.ts";

const quiet = new Logger({}, "error", { write: () => {} });

/** A closed port: listened on, then let go. */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** An index of one CT series of `instances` tiny objects, each queued for every destination named. */
async function queuedFor(seed: string, instances: number, destinations: string[]) {
  const specs = [...generateStudies({
    seed,
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances }],
    rows: 4,
    columns: 4,
  })];
  const db = await indexedDatabase(specs, (spec, db) => {
    new Queue(db).addInTransaction(
      spec.sopInstanceUid,
      destinations.map((destination) => ({ route: "r", destination })),
      1000,
    );
  });
  return { db, queue: new Queue(db) };
}

Deno.test("overdue commitments of a paused destination are not asked again until it is resumed", async () => {
  const { db, queue } = await queuedFor("cr", 2, ["pacs"]);
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

Deno.test("a node that does not answer delays no other destination's asking again", async () => {
  const { db, queue } = await queuedFor("cr-two", 2, ["slow", "gone"]);
  // `slow` takes connections and never answers: its association waits for its whole ARTIM timeout.
  const blackHole = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of blackHole) held.push(conn);
  })();
  const config = configSchema.parse({
    dimse: { commitmentRetrySeconds: 100, artimTimeoutSeconds: 3600 },
    nodes: {
      slow: {
        aet: "SLOW",
        host: "127.0.0.1",
        port: (blackHole.addr as Deno.NetAddr).port,
        storageCommitment: true,
      },
      gone: { aet: "GONE", host: "127.0.0.1", port: closedPort(), storageCommitment: true },
    },
  });
  const requests = new CommitmentRequests(config, queue, quiet);
  let first: Promise<void> | undefined;
  try {
    // Both overdue, `slow`'s first (the order one sweep used to ask them in, one after the other).
    const slow = queue.claim("slow", 10, 2000), gone = queue.claim("gone", 10, 2000);
    queue.markCommitting(slow.map((r) => ({ id: r.id, status: 0 })), newTransactionUid(), 3000, 2000);
    queue.markCommitting(gone.map((r) => ({ id: r.id, status: 0 })), newTransactionUid(), 4000, 2000);
    const of = (destination: string) => queue.list().filter((r) => r.destination === destination);
    first = requests.sweep();
    await eventually(
      "gone's rows asked (refused) while slow's association still waits",
      () => of("gone").every((r) => r.state === "committing" && /refused|closed|connect/i.test(r.lastError)),
    );
    await eventually("slow's node reached", () => held.length === 1);
    assert.ok(of("slow").every((r) => r.lastError === ""), "slow is still being asked");
    // Further sweeps leave the destination being asked alone: no second association to it.
    await requests.sweep();
    await requests.sweep();
    assert.equal(held.length, 1);
    assert.equal(queue.dueCommitments(Date.now(), 1000, "gone").length, 0);
  } finally {
    await requests.stop();
    await first;
    blackHole.close();
    await accepting.catch(() => {});
    for (const c of held) c.close();
    db.close();
  }
});

Deno.test("stop() right after a sweep began opens no association it could not abort", async () => {
  const { db, queue } = await queuedFor("cr-stop", 1, ["slow"]);
  const blackHole = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of blackHole) held.push(conn);
  })();
  const config = configSchema.parse({
    dimse: { artimTimeoutSeconds: 3600 },
    nodes: {
      slow: {
        aet: "SLOW",
        host: "127.0.0.1",
        port: (blackHole.addr as Deno.NetAddr).port,
        storageCommitment: true,
      },
    },
  });
  const requests = new CommitmentRequests(config, queue, quiet);
  let bound: ReturnType<typeof setTimeout> | undefined;
  try {
    const rows = queue.claim("slow", 10, 2000);
    queue.markCommitting(rows.map((r) => ({ id: r.id, status: 0 })), newTransactionUid(), 3000, 2000);
    const sweep = requests.sweep();
    // An association opened after stop() looked would wait out its hour-long ARTIM timeout: a bound, not a wait.
    await Promise.race([
      requests.stop().then(() => sweep),
      new Promise((_, reject) => {
        bound = setTimeout(
          () => reject(new Error("stop() waited on an association it did not abort")),
          30_000,
        );
      }),
    ]);
    assert.equal(held.length, 0, "no association opened");
    assert.equal(queue.list()[0].state, "committing", "asked again at the next start");
  } finally {
    clearTimeout(bound);
    blackHole.close();
    await accepting.catch(() => {});
    for (const c of held) c.close();
    db.close();
  }
});

Deno.test("a Transaction UID is a UID under 2.25 of at most 64 characters, new each time", () => {
  const a = newTransactionUid(), b = newTransactionUid();
  assert.match(a, /^2\.25\.[1-9][0-9]*$/);
  assert.ok(a.length <= 64);
  assert.notEqual(a, b);
});

import assert from "node:assert/strict";
import { generateStudies } from "@conduit/shared/testing";
import { indexedDatabase } from "../index/testing.ts";
import { Queue } from "../queue/queue.ts";
import type { Forwarder } from "../forward/forwarder.ts";
import { queueRoutes } from "./queue.ts";

/**
 * The queue's retry and replay over a real libsql file: a destination nobody configured and no row names
 * (a misspelt one) is a 404 naming the destinations there are, not a count of 0 that reads as done.
 */
Deno.test("POST /retry and /replay: an unknown destination is 404 with the known ones, a known one counts", async () => {
  const specs = [
    ...generateStudies({
      seed: "queue-http",
      patients: 1,
      studiesPerPatient: 1,
      series: [{ modality: "CT", instances: 2 }],
      rows: 8,
      columns: 8,
    }),
  ];
  const db = await indexedDatabase(specs);
  try {
    const queue = new Queue(db);
    queue.enqueueRoute(specs.map((s) => s.sopInstanceUid), "old", "retired"); // rows of a node since removed
    const forwarder = { knownDestinations: () => ["pacs"], wake: () => {} } as unknown as Forwarder;
    const app = queueRoutes(queue, forwarder);
    const post = (path: string, body: unknown) =>
      app.request(path, {
        method: "POST",
        body: JSON.stringify(body),
        headers: { "content-type": "application/json" },
      });
    for (const path of ["/retry", "/replay"]) {
      const misspelt = await post(path, { destination: "pcas" });
      assert.equal(misspelt.status, 404, path);
      assert.deepEqual(await misspelt.json(), { error: 'no destination named "pcas" (pacs, retired)' });
      for (const destination of ["pacs", "retired"]) {
        const known = await post(path, { destination });
        assert.equal(known.status, 200, `${path} ${destination}`);
      }
      assert.equal((await post(path, { all: true })).status, 200);
    }
  } finally {
    db.close();
  }
});

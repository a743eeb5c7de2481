/**
 * An object the hub sends for a node of this site (an `extra` queue target) when this site's copy of it
 * was removed by retention: the row it gets must be one a worker can send, not a row that waits forever
 * for a file that is gone.
 */
import assert from "node:assert/strict";
import { Logger } from "@conduit/shared/log";
import { FileArchive } from "../archive/file_archive.ts";
import { Queue } from "../queue/queue.ts";
import { Retention } from "../forward/retention.ts";
import type { CompiledRoute } from "../routing/rules.ts";
import { ingestRig, otherBytes } from "./testing.ts";

const quiet = new Logger({}, "error", { write: () => {} });

for (const bytes of ["the same", "other"]) {
  Deno.test(`${bytes} bytes sent for a node after retention removed the object are stored again and their row is sent`, async () => {
    let queue: Queue | undefined;
    const all: CompiledRoute = { name: "all", destinations: ["pacs"], matches: () => true };
    const rig = await ingestRig("tombstone-extra", false, (db) => ({
      routing: { routes: [all], queue: queue = new Queue(db), queued: () => {} },
    }));
    const { db, dir, ingest, dataset, sopInstanceUid, store, tearDown } = rig;
    try {
      // Received, routed to pacs, delivered, removed by retention.
      assert.equal((await store(dataset)).outcome.status, 0);
      const [row] = queue!.claim("pacs", 10);
      queue!.markDone(row.id, Date.now() - 10_000);
      const archive = new FileArchive(dir, false);
      assert.equal(await new Retention(db, archive, { afterForwardSeconds: 1 }, quiet).sweep(), 1);

      // The hub sends the same object for the node pacs2 of this site.
      const sink = await ingest.openObjectAsync({
        sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
        sopInstanceUid,
        transferSyntax: "1.2.840.10008.1.2.1",
      });
      await new Promise<void>((resolve, reject) => {
        sink.once("finish", resolve);
        sink.once("error", reject);
        sink.end(bytes === "the same" ? dataset : otherBytes(dataset));
      });
      const outcome = await ingest.commitReceived(sink.received!, {
        association: { callingAet: "@north", calledAet: "CONDUIT", remoteAddress: "tunnel" },
        sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
        sopInstanceUid,
        transferSyntax: "1.2.840.10008.1.2.1",
      }, [{ route: "tunnel:@north", destination: "pacs2" }]);
      assert.equal(outcome.status, 0);

      const rows = queue!.list({ destination: "pacs2" });
      assert.equal(rows.length, 1, "the object is queued for pacs2");
      const claimed = queue!.claim("pacs2", 10);
      assert.equal(claimed.length, 1, "and a worker can claim it: its file is in the archive again");
      assert.equal(queue!.list({ destination: "pacs" })[0].state, "done", "pacs is not sent it again");
    } finally {
      await tearDown();
    }
  });
}

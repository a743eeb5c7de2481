/**
 * A batch's beat (its row's updatedAt, which tells other hubs it still runs) is timed on the monotonic clock:
 * a wall clock stepped back an hour while a row's search is slow stopped the beats for that hour, and another
 * hub's recover() then marked the batch failed after a minute ("its hub stopped"). Real hub database (libsql
 * file), sites in memory (hub/dicomweb/testing.ts) with a search that waits for the test.
 */
import assert from "node:assert/strict";
import { eq } from "drizzle-orm";
import { Logger } from "@conduit/shared/log";
import { openHubDb } from "../db/db.ts";
import { batches } from "../db/schema.ts";
import { SiteRegistry } from "../sites/registry.ts";
import { Sessions } from "../tunnel/sessions.ts";
import { MemoryBackendProvider, MemorySite } from "../dicomweb/testing.ts";
import { BatchService } from "./batch.ts";
import { TransferService } from "./service.ts";
import { eventually } from "../../tests/support/hub.ts";
import { withWallClockStepped } from "../../tests/support/clock.ts";

Deno.test("BatchService beats a running batch every 5 s of monotonic time, the wall clock stepped an hour back", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-batch-clock-" });
  const db = await openHubDb(dir);
  const log = new Logger({}, "error", { write: () => {} });
  const sessions = new Sessions(new SiteRegistry(db), log, { syncSeconds: 3600, heartbeatSeconds: 3600 });
  const memory = new MemoryBackendProvider({ north: new MemorySite(), south: new MemorySite() });
  let searching: () => void = () => {};
  const searched = new Promise<void>((r) => (searching = r));
  let answer: () => void = () => {};
  const answered = new Promise<void>((r) => (answer = r));
  const provider = {
    sites: () => memory.sites(),
    backend: async (site: string, node?: string) => {
      const backend = await memory.backend(site, node);
      return {
        ...backend,
        qido: {
          ...backend.qido,
          search: async function* (...args: Parameters<typeof backend.qido.search>) {
            searching();
            await answered; // a slow C-FIND at the site
            yield* backend.qido.search(...args);
          },
        },
      };
    },
  } as unknown as MemoryBackendProvider;
  const transfers = new TransferService(db, sessions, () => Promise.resolve(true), log);
  const service = new BatchService(db, provider, transfers, log);
  const updatedAt = async (id: string) =>
    (await db.select({ at: batches.updatedAt }).from(batches).where(eq(batches.id, id)))[0].at;
  try {
    const { id } = await service.upload({
      kind: "query",
      filename: "rows.csv",
      content: new TextEncoder().encode("Accession Number\nACC1\n"),
      sites: ["north"],
    }, "user:ops");
    await searched;
    const before = await updatedAt(id);
    await withWallClockStepped(
      -3600_000,
      () =>
        eventually(
          "a beat while the row's search runs",
          async () => (await updatedAt(id)) !== before,
          12_000,
        ),
    );
    answer();
    await eventually("the batch over", async () => (await service.status(id))?.status !== "running");
    assert.equal((await service.status(id))?.status, "done");
  } finally {
    answer();
    await sessions.stop();
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

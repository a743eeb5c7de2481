/**
 * A batch transfer whose source cannot be asked (offline from the start, or gone at a row): BatchService stops
 * at that row, gives every row after it one line saying it was not searched and why (a bad row its own
 * reason), and ends `failed` without a transfer, its last line saying to upload the file again once the
 * source is back; the source is not asked again for each row. On a real hub database (PostgreSQL under
 * `deno task test:pg`), with sites in memory (hub/dicomweb/testing.ts), so the moment the source goes is
 * chosen, not raced.
 */
import assert from "node:assert/strict";
import { Logger } from "@conduit/shared/log";
import { generateStudies } from "@conduit/shared/testing";
import { openHubDb } from "../db/db.ts";
import { SiteRegistry } from "../sites/registry.ts";
import { Sessions } from "../tunnel/sessions.ts";
import { MemoryBackendProvider, MemorySite } from "../dicomweb/testing.ts";
import { BatchService } from "./batch.ts";
import { TransferService } from "./service.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";
import { eventually } from "../../tests/support/hub.ts";

/** Five rows by Accession Number (the first two studies north has), the fourth with no key to search by. */
const FILE = new TextEncoder().encode(
  "Accession Number,Modality\nACC0000001,\nACC0000002,\nACC0000003,\n,CT\nACC0000005,\n",
);

/** Runs the batch with north going offline before its `offlineAt`-th search (1: offline from the start). */
async function batchWithSourceGone(offlineAt: number) {
  const dir = await Deno.makeTempDir({ prefix: "conduit-batch-offline-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  const log = new Logger({}, "error", { write: () => {} });
  const sessions = new Sessions(new SiteRegistry(db), log, { syncSeconds: 3600, heartbeatSeconds: 3600 });
  const north = new MemorySite([
    ...generateStudies({
      seed: "batch-offline",
      patients: 2,
      studiesPerPatient: 1,
      series: [{ modality: "CT", instances: 1 }],
      rows: 8,
      columns: 8,
    }),
  ]);
  const memory = new MemoryBackendProvider({ north, south: new MemorySite() });
  let asked = 0;
  const provider = {
    sites: () => memory.sites(),
    backend: (site: string, node?: string) => {
      if (site === "north" && ++asked >= offlineAt) north.online = false;
      return memory.backend(site, node);
    },
  };
  const transfers = new TransferService(db, sessions, () => Promise.resolve(true), log);
  const batches = new BatchService(db, provider, transfers, log);
  try {
    const { id } = await batches.upload({
      kind: "transfer",
      filename: "rows.csv",
      content: FILE,
      sites: ["north"],
      destination: { site: "south" },
    }, "user:ops");
    const status = await eventually("the batch over", async () => {
      const s = await batches.status(id);
      return s?.status !== "running" ? s : undefined;
    });
    return { status, asked, transfers: await transfers.list(10) };
  } finally {
    await sessions.stop();
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const BAD_ROW = "give at least a Patient ID, a Patient Name, an Accession Number or a Study Instance UID";
const notSearched = (from: number) =>
  `not searched: the source site north could not be asked from row ${from} on`;
const stopped = (from: number) =>
  `the batch stopped: the source site north could not be asked from row ${from} on; upload the file again once ` +
  "north is back online";

Deno.test("BatchService: a batch transfer whose source is offline stops at the first row, the rest not searched", async () => {
  const { status, asked, transfers } = await batchWithSourceGone(1);
  assert.equal(status!.status, "failed");
  assert.equal(asked, 1, "north asked once, not once per row");
  assert.deepEqual(status!.errors, [
    { row: 2, site: "north", error: "site north is offline" },
    { row: 3, site: "north", error: notSearched(2) },
    { row: 4, site: "north", error: notSearched(2) },
    { row: 5, site: "", error: BAD_ROW }, // its own reason
    { row: 6, site: "north", error: notSearched(2) },
    { row: 0, site: "", error: stopped(2) },
  ]);
  assert.equal(status!.rowsDone, 5, "every row has its line");
  assert.equal(status!.transferId, null);
  assert.deepEqual(transfers, [], "no transfer made");
});

Deno.test("BatchService: a batch transfer whose source goes offline at a row stops there, what it found kept in its results", async () => {
  const { status, asked, transfers } = await batchWithSourceGone(3);
  assert.equal(status!.status, "failed");
  assert.equal(asked, 3);
  assert.equal(status!.matches, 2, "rows 2 and 3 found their studies");
  assert.deepEqual(status!.errors, [
    { row: 4, site: "north", error: "site north is offline" },
    { row: 5, site: "", error: BAD_ROW },
    { row: 6, site: "north", error: notSearched(4) },
    { row: 0, site: "", error: stopped(4) },
  ]);
  assert.equal(status!.transferId, null);
  assert.deepEqual(transfers, [], "no transfer made of a batch cut short");
});

/**
 * BatchService.list() on a real hub database: a page is read from the index as asked (newest first, ties by
 * id), and a principal that reaches only some sites gets full pages of its own batches however many of
 * other sites' come between. Neither reads the batches outside the page.
 */
import assert from "node:assert/strict";
import { Logger } from "@conduit/shared/log";
import { type HubDb, openHubDb } from "../db/db.ts";
import { batches } from "../db/schema.ts";
import { BatchService } from "./batch.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";

/** 500 batches, one a millisecond, two at each, alternately of site a and of site b (to c). */
async function withBatches(fn: (service: BatchService, db: HubDb) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "conduit-batch-list-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    const rows = Array.from({ length: 500 }, (_, i) => ({
      id: `b${String(i).padStart(3, "0")}`,
      kind: i % 2 ? "query" : "transfer",
      filename: `f${i}.csv`,
      status: "done",
      sites: JSON.stringify(i % 2 ? { sites: ["a"] } : { sites: ["b"], destination: { site: "c" } }),
      rows: "[]",
      results: "[]",
      createdBy: "user:x",
      createdAt: 1_000 + Math.floor(i / 2),
      updatedAt: 1_000 + i,
    }));
    for (let i = 0; i < rows.length; i += 100) await db.insert(batches).values(rows.slice(i, i + 100));
    // Neither the service's provider nor its transfers take part in a list.
    const service = new BatchService(db, undefined as never, undefined as never, new Logger({}, "error"));
    await fn(service, db);
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const ids = (list: { id: string }[]) => list.map((b) => b.id);
/** The ids of batches `from` to `to` (exclusive) of the newest-first order, of one parity (0: b, 1: a). */
const newest = (n: number, parity?: number) =>
  Array.from({ length: 500 }, (_, i) => 499 - i).filter((i) => parity === undefined || i % 2 === parity)
    .slice(0, n).map((i) => `b${String(i).padStart(3, "0")}`);

Deno.test("BatchService.list() pages newest first, ties by id, from the offset asked", () =>
  withBatches(async (service) => {
    assert.deepEqual(ids(await service.list(21)), newest(21));
    assert.deepEqual(ids(await service.list(20, 470)), newest(490).slice(470));
    assert.deepEqual(ids(await service.list(50, 480)), newest(500).slice(480));
    assert.deepEqual(await service.list(20, 500), []);
    const [first] = await service.list(1);
    assert.deepEqual(first, {
      id: "b499",
      kind: "query",
      filename: "f499.csv",
      status: "done",
      sites: ["a"],
      destination: null,
      transferId: null,
      createdBy: "user:x",
      createdAt: new Date(1_249).toISOString(),
    });
  }));

Deno.test("BatchService.list() gives a scoped principal full pages of its batches, past other sites' ones", () =>
  withBatches(async (service) => {
    const onlyA = (site: string) => site === "a";
    assert.deepEqual(ids(await service.list(20, 0, onlyA)), newest(20, 1));
    // Deeper than a chunk of the index (200): its 130th to 150th batch lie among the 260th to 300th.
    assert.deepEqual(ids(await service.list(20, 130, onlyA)), newest(150, 1).slice(130));
    assert.deepEqual(ids(await service.list(20, 245, onlyA)), newest(250, 1).slice(245));
    // Of site b and to c: reaching b alone is not enough.
    assert.deepEqual(await service.list(20, 0, (site) => site === "b"), []);
    assert.deepEqual(ids(await service.list(5, 0, (s) => s !== "a")), newest(5, 0));
  }));

Deno.test("BatchService.list() reads only the batches of the page it gives", () =>
  withBatches(async (service, db) => {
    // A row that cannot be read as a batch (its sites are not JSON), older than the page: never read.
    await db.insert(batches).values({
      id: "a-broken",
      kind: "query",
      filename: "broken.csv",
      status: "done",
      sites: "not json",
      rows: "[]",
      createdBy: "user:x",
      createdAt: 1,
      updatedAt: 1,
    });
    assert.deepEqual(ids(await service.list(21)), newest(21));
    assert.deepEqual(ids(await service.list(20, 100)), newest(120).slice(100));
  }));

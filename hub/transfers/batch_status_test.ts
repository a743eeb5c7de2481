/**
 * BatchService.status() on a real hub database (PostgreSQL under `deno task test:pg`): it answers from the
 * batch's summary, written with its results, and reads neither its rows nor its results (20 000 lines for
 * a big batch, polled every few seconds); a batch from before summaries is summed from both.
 */
import assert from "node:assert/strict";
import { eq } from "drizzle-orm";
import { Logger } from "@conduit/shared/log";
import { type HubDb, openHubDb } from "../db/db.ts";
import { batches } from "../db/schema.ts";
import { BatchService } from "./batch.ts";
import { resultColumns } from "./batch_summary.ts";
import type { BatchRow } from "./rows.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";

/** 300 rows (the last bad); each good row finds one study, every tenth none, and rows 2 and 3 the same one. */
const ROWS: BatchRow[] = Array.from({ length: 300 }, (_, i) => ({
  row: i + 2,
  keys: { AccessionNumber: `ACC${i}` },
  ...(i === 299 ? { error: "no key to search by" } : {}),
}));
const RESULTS = ROWS.slice(0, 299).map((r, i) =>
  i % 10 === 9
    ? { row: r.row, site: "north", error: "no study matches this row" }
    : { row: r.row, site: "north", StudyInstanceUID: `1.2.3.${i < 2 ? 0 : i}` }
).concat([{ row: 301, site: "", error: "no key to search by" }]);

const STATUS = {
  rows: 300,
  rowsDone: 300,
  badRows: 1,
  matches: 270 - 1, // 299 good rows less 29 that found none, two of them finding one study
  errors: RESULTS.filter((r) => "error" in r),
};

async function withDb(fn: (db: HubDb, service: BatchService) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "conduit-batch-status-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    // Neither the provider nor the transfers take part in a status.
    await fn(db, new BatchService(db, undefined as never, undefined as never, new Logger({}, "error")));
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const batch = (id: string, columns: { results?: string | null; summary?: string | null }) => ({
  id,
  kind: "query",
  filename: "list.csv",
  status: "done",
  sites: JSON.stringify({ sites: ["north"] }),
  rows: JSON.stringify(ROWS),
  createdBy: "user:x",
  createdAt: 1,
  updatedAt: 1,
  ...columns,
});

Deno.test("BatchService.status() answers from the batch's summary, reading neither its rows nor results", () =>
  withDb(async (db, service) => {
    // Rows and results that cannot be read: a status that parsed them would throw.
    await db.insert(batches).values({
      ...batch("b1", { summary: resultColumns(ROWS, RESULTS).summary, results: "[{not json" }),
      rows: "[{not json",
    });
    const status = await service.status("b1");
    assert.deepEqual({ ...status, errors: status?.errors.length }, {
      id: "b1",
      sites: ["north"],
      kind: "query",
      filename: "list.csv",
      status: "done",
      ...STATUS,
      errors: STATUS.errors.length,
      transferId: null,
    });
    assert.deepEqual(status?.errors, STATUS.errors);
    assert.equal(await service.status("no-such-batch"), undefined);
  }));

Deno.test("BatchService.status() sums a batch from before summaries from its rows and results", () =>
  withDb(async (db, service) => {
    await db.insert(batches).values([
      batch("old", { results: JSON.stringify(RESULTS), summary: null }),
      batch("new", resultColumns(ROWS, RESULTS)),
    ]);
    const { id: _, ...old } = (await service.status("old"))!;
    const { id: __, ...summed } = (await service.status("new"))!;
    assert.deepEqual(old, summed);
    assert.equal(old.matches, STATUS.matches);
  }));

Deno.test("BatchService.recover() writes the interrupted batch's summary with its results", () =>
  withDb(async (db, service) => {
    await db.insert(batches).values({
      ...batch("orphan", resultColumns(ROWS, RESULTS.slice(0, 100))),
      status: "running",
    });
    assert.equal(await service.recover(Date.now()), 1);
    const status = (await service.status("orphan"))!;
    assert.equal(status.status, "failed");
    assert.equal(status.rowsDone, 100);
    assert.match(String(status.errors.at(-1)?.error), /the batch was interrupted/);
    // The summary alone says so: the results are not read.
    await db.update(batches).set({ results: "[{not json" }).where(eq(batches.id, "orphan"));
    assert.deepEqual(await service.status("orphan"), status);
  }));

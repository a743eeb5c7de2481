/** Test helpers of erasure: a study stored into a real archive, intake and libsql file, with its Eraser. */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { Logger } from "@conduit/shared/log";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { FileArchive } from "../archive/file_archive.ts";
import { Queue } from "../queue/queue.ts";
import type { CompiledRoute } from "../routing/rules.ts";
import { cStoreOf, ingestRig, storeAsWire } from "../ingest/testing.ts";
import { Eraser } from "./erase.ts";

export const quiet = new Logger({}, "error", { write: () => {} });

/** A study of two series (CT: 3 instances, MR: 2) stored into a fresh ingest routed to `pacs`. */
export async function storedStudy(seed: string, duplicates?: "keepBoth") {
  let queue: Queue | undefined;
  const all: CompiledRoute = { name: "all", destinations: ["pacs"], matches: () => true };
  const rig = await ingestRig(seed, true, (db) => ({
    routing: { routes: [all], queue: queue = new Queue(db), queued: () => {} },
    ...(duplicates ? { duplicates } : {}),
  }));
  const specs = [...generateStudies({
    seed,
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 3 }, { modality: "MR", instances: 2 }],
    rows: 8,
    columns: 8,
  })];
  for (const spec of specs) {
    const { dataset, ctx } = await cStoreOf(generateInstance(spec));
    assert.equal((await storeAsWire(rig.ingest, ctx, dataset)).outcome.status, 0);
  }
  const archive = new FileArchive(rig.dir, true);
  const eraser = new Eraser(rig.db, archive, rig.dir, quiet, (fn) => rig.ingest.exclusive(fn));
  const count = (sql: string, ...args: string[]) =>
    (rig.db.statement(`SELECT count(*) AS n FROM ${sql}`).get(...args) as { n: number }).n;
  const files = () =>
    [...fs.readdirSync(rig.dir, { recursive: true }) as string[]].filter((f) => f.endsWith(".dcm"));
  return { ...rig, queue: queue!, specs, eraser, archive, count, files };
}

/**
 * Test support for the ingest's unit tests: one generated object as a C-STORE brings it, a store done as
 * the wire layer does it (the sink written, ended, then committed), and an ingest over a real archive,
 * intake and libsql file in a fresh folder.
 */
import * as path from "node:path";
import { once } from "node:events";
import { Logger } from "@conduit/shared/log";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import type { StoreContext } from "../dimse/handlers.ts";
import { memorySource } from "../part10/source.ts";
import { FileArchive } from "../archive/file_archive.ts";
import { Database } from "../index/db.ts";
import { Ingest, type IngestOptions } from "./ingest.ts";
import { Intake } from "./intake.ts";
import { receivedFrom } from "./recover.ts";

const association = { callingAet: "SENDER", calledAet: "CONDUIT", remoteAddress: "127.0.0.1" };

/** A generated CT object of `rows` × `rows` pixels from SENDER: its data set bytes and its C-STORE's context. */
export async function cStoreObject(seed: string, rows = 8) {
  const [spec] = [...generateStudies({
    seed,
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 1 }],
    rows,
    columns: rows,
  })];
  return await cStoreOf(generateInstance(spec));
}

/** A Part 10 file as a C-STORE from SENDER brings it: its data set bytes and its C-STORE's context. */
export async function cStoreOf(file: Uint8Array) {
  const described = await receivedFrom(memorySource(file), "unused", "SENDER");
  const dataset = file.subarray(described.fileSize - described.datasetSize);
  const { sopClassUid, sopInstanceUid, transferSyntax } = described.meta;
  const ctx: StoreContext = { association, sopClassUid, sopInstanceUid, transferSyntax };
  return { dataset, sopInstanceUid, ctx };
}

/** One C-STORE of `bytes` into `ingest`, committed and settled. */
export async function storeAsWire(ingest: Ingest, ctx: StoreContext, bytes: Uint8Array) {
  const sink = ingest.open(ctx);
  sink.write(bytes);
  sink.end();
  await once(sink, "finish");
  const outcome = await ingest.commit(sink, ctx);
  await ingest.settled();
  return { sink, outcome };
}

const quiet = new Logger({}, "error", { write: () => {} });

/**
 * An ingest with an intake in a fresh folder (with or without syncs; `extra` adds options, given the
 * index), one generated object of `rows` × `rows` pixels, and `store`: one C-STORE of some bytes.
 */
export async function ingestRig(
  seed: string,
  sync: boolean,
  extra: (db: Database) => Partial<IngestOptions> = () => ({}),
  rows = 8,
) {
  const dir = await Deno.makeTempDir({ prefix: `${seed}-` });
  const archive = new FileArchive(dir, sync);
  await archive.prepare();
  const db = await Database.open(path.join(dir, "agent.db"), { durable: sync });
  const intake = new Intake(dir, sync);
  intake.prepare();
  const ingest = new Ingest({ archive, db, log: quiet, intake, ...extra(db) });
  db.waitFor(() => ingest.settled());
  const { dataset, sopInstanceUid, ctx } = await cStoreObject(seed, rows);
  const tearDown = async () => {
    ingest.group?.close();
    await intake.close();
    db.close();
    await Deno.remove(dir, { recursive: true });
  };
  const store = (bytes: Uint8Array) => storeAsWire(ingest, ctx, bytes);
  return { dir, db, intake, ingest, dataset, sopInstanceUid, ctx, store, tearDown };
}

/** A data set's bytes with the last one changed: other bytes under the same UIDs (a conflict). */
export function otherBytes(dataset: Uint8Array, change = 0xff): Uint8Array {
  const copy = dataset.slice();
  copy[copy.length - 1] ^= change;
  return copy;
}

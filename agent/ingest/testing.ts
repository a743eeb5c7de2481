/**
 * Test support for the ingest's unit tests: one generated object as a C-STORE brings it, and a store
 * done as the wire layer does it (the sink written, ended, then committed).
 */
import { once } from "node:events";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import type { StoreContext } from "../dimse/handlers.ts";
import { memorySource } from "../part10/source.ts";
import type { Ingest } from "./ingest.ts";
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
  const file = generateInstance(spec);
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

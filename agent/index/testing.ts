/** For unit tests: a real libsql file holding generated instances, indexed as ingest would. */
import * as path from "node:path";
import { generateInstance, type InstanceSpec } from "@conduit/shared/testing";
import { type InstanceAttributes, instanceAttributes } from "@conduit/shared/dicom";
import { parseHeaderBytes } from "../part10/header.ts";
import { Database } from "./db.ts";
import { indexInstance, type StoredFile } from "./instances.ts";

/** A Part 10 object's bytes as the index records them, at `path` (a test's: no hash, calling AE "TEST"). */
export function indexEntryOf(
  bytes: Uint8Array,
  path: string,
): { attrs: InstanceAttributes; file: StoredFile } {
  const h = parseHeaderBytes(bytes, bytes.length, true);
  return {
    attrs: instanceAttributes(h.bytes, h.dataset, h.header),
    file: {
      path,
      fileSize: bytes.length,
      datasetOffset: h.header.datasetOffset,
      datasetSize: bytes.length - h.header.datasetOffset,
      sha256: "0".repeat(64),
      transferSyntaxUid: h.header.transferSyntax,
      callingAet: "TEST",
    },
  };
}

/** Opens a fresh database and indexes `specs`; `alsoFor` runs inside each instance's transaction. */
export async function indexedDatabase(
  specs: InstanceSpec[],
  alsoFor?: (spec: InstanceSpec, db: Database) => void,
): Promise<Database> {
  const db = await Database.open(path.join(await Deno.makeTempDir({ prefix: "index-test-" }), "agent.db"));
  for (const spec of specs) {
    const { attrs, file } = indexEntryOf(generateInstance(spec), `archive/${spec.sopInstanceUid}.dcm`);
    indexInstance(db, attrs, file, alsoFor ? () => alsoFor(spec, db) : undefined);
  }
  return db;
}

/** For unit tests: a real libsql file holding generated instances, indexed as ingest would. */
import * as path from "node:path";
import { generateInstance, type InstanceSpec } from "@conduit/shared/testing";
import { instanceAttributes } from "@conduit/shared/dicom";
import { parseHeaderBytes } from "../part10/header.ts";
import { Database } from "./db.ts";
import { indexInstance } from "./instances.ts";

/** Opens a fresh database and indexes `specs`; `alsoFor` runs inside each instance's transaction. */
export async function indexedDatabase(
  specs: InstanceSpec[],
  alsoFor?: (spec: InstanceSpec, db: Database) => void,
): Promise<Database> {
  const db = await Database.open(path.join(await Deno.makeTempDir({ prefix: "index-test-" }), "agent.db"));
  for (const spec of specs) {
    const bytes = generateInstance(spec);
    const h = parseHeaderBytes(bytes, bytes.length, true);
    indexInstance(db, instanceAttributes(h.bytes, h.dataset, h.header), {
      path: `archive/${spec.sopInstanceUid}.dcm`,
      fileSize: bytes.length,
      datasetOffset: h.header.datasetOffset,
      datasetSize: bytes.length - h.header.datasetOffset,
      sha256: "0".repeat(64),
      transferSyntaxUid: h.header.transferSyntax,
      callingAet: "TEST",
    }, alsoFor ? () => alsoFor(spec, db) : undefined);
  }
  return db;
}

/** A retrieved object as a Part 10 file: a File Meta group written here, then its data set as it streams. */
import { buildFileMeta } from "@conduit/shared/dicom";
import type { RetrievedObject } from "./service.ts";

export async function* part10(object: RetrievedObject): AsyncGenerator<Uint8Array> {
  yield buildFileMeta({
    sopClassUid: object.header.sopClassUid,
    sopInstanceUid: object.header.sopInstanceUid,
    transferSyntax: object.header.transferSyntax,
  });
  yield* object.bytes;
}

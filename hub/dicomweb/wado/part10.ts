/** A retrieved object as a Part 10 file: a File Meta group written here, then its data set as it streams. */
import { buildFileMeta } from "@conduit/shared/dicom";
import type { RetrievedObject } from "./service.ts";

/** The File Meta group the hub writes before a retrieved object's data set. */
export function fileMetaOf(object: RetrievedObject): Uint8Array {
  return buildFileMeta({
    sopClassUid: object.header.sopClassUid,
    sopInstanceUid: object.header.sopInstanceUid,
    transferSyntax: object.header.transferSyntax,
  });
}

export async function* part10(object: RetrievedObject): AsyncGenerator<Uint8Array> {
  yield fileMetaOf(object);
  yield* object.bytes;
}

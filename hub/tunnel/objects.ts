/**
 * Reading objects an agent streams back (a retrieve): each comes as an ObjectHeader and its data
 * set's bytes (build a File Meta group from the header to make a Part 10 file),
 * which the caller consumes as a stream before asking for the next object. The SHA-256 and size are
 * checked as the bytes pass; a mismatch throws at the object's end, before the caller can treat it
 * as complete.
 */
import { createHash } from "node:crypto";
import type { ObjectHeader, ReplyOf, RequestChannel } from "@conduit/shared/tunnel";
import { SiteRequestError } from "./errors.ts";

export class ObjectIntegrityError extends Error {
  override name = "ObjectIntegrityError";
}

export interface IncomingObject {
  header: ObjectHeader;
  /** The data set's bytes; read them to the end before the next object. */
  bytes: AsyncIterable<Uint8Array>;
}

export type RetrieveEnd = Extract<ReplyOf<"retrieve">, { type: "end" }>;

/** Yields each object of a retrieve reply; returns the closing `end` reply. Throws on `error`. */
export async function* readObjects(
  channel: RequestChannel<"retrieve">,
): AsyncGenerator<IncomingObject, RetrieveEnd> {
  while (true) {
    const reply = await channel.reply();
    if (reply.type === "end") return reply;
    if (reply.type === "error") throw new SiteRequestError(reply.code, reply.message, reply.status);
    const header: ObjectHeader = reply;
    let consumed = false;
    const bytes = (async function* () {
      const hash = createHash("sha256");
      let got = 0;
      while (got < header.size) {
        const r = await channel.next();
        if (!r || r.kind !== "bytes") {
          throw new ObjectIntegrityError(`object ended after ${got} of ${header.size} bytes`);
        }
        got += r.data.byteLength;
        if (got > header.size) throw new ObjectIntegrityError("more bytes than announced");
        hash.update(r.data);
        if (got === header.size && hash.digest("hex") !== header.sha256) {
          throw new ObjectIntegrityError("the bytes do not match their SHA-256");
        }
        yield r.data;
      }
      consumed = true;
    })();
    yield { header, bytes };
    if (!consumed) { for await (const _ of bytes) { /* drain what the caller left */ } }
  }
}

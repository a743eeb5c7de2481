/**
 * Reading objects an agent streams back (a retrieve): each comes as an ObjectHeader and its data
 * set's bytes (build a File Meta group from the header to make a Part 10 file),
 * which the caller consumes as a stream before asking for the next object. The size is checked as the
 * bytes pass; a short or long object throws before the caller can treat it as complete. The SHA-256 is
 * the agent's to check: it verifies the bytes against its index as it reads them and does not send the
 * last block of an object that does not match (agent/tunnel/objects.ts), so the hub does no per-byte
 * work on its one thread.
 */
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
      let got = 0;
      while (got < header.size) {
        const r = await channel.next();
        if (!r || r.kind !== "bytes") {
          throw new ObjectIntegrityError(`object ended after ${got} of ${header.size} bytes`);
        }
        got += r.data.byteLength;
        if (got > header.size) throw new ObjectIntegrityError("more bytes than announced");
        yield r.data;
      }
      consumed = true;
    })();
    yield { header, bytes };
    if (!consumed) { for await (const _ of bytes) { /* drain what the caller left */ } }
  }
}

/** What a refused C-STORE's data set goes into, and how failures are worded for a peer. */
import { Writable } from "node:stream";
import { DimseStatusError } from "./handlers.ts";

/** A sink for a refused C-STORE: reads the data set off the wire and forgets it. */
export class DiscardStream extends Writable {
  constructor(readonly refusal: DimseStatusError) {
    super();
  }
  override _write(_c: unknown, _e: BufferEncoding, cb: () => void): void {
    cb();
  }
  discard(): void {}
}

/**
 * A failure's reason fit for a peer and for the log: our own status errors say what happened in
 * words we chose; anything else (a database error quoting values, a file error naming an archive path
 * built from UIDs) is reported by its kind only.
 */
export function safeReason(err: unknown): string {
  if (err instanceof DimseStatusError) return err.message;
  const e = err as NodeJS.ErrnoException;
  return `${e?.code ?? e?.name ?? "Error"}: processing failed`;
}

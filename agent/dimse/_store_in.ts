/**
 * An incoming C-STORE on our own receive path (_pdata.ts): the sink its data set is written to (the
 * store handler's, or a discarding one when the object is refused unread), and its completion: the
 * handler's commit, mapped to a status, and the C-STORE response encoded by command_codec.ts.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import { encodeCommand } from "./command_codec.ts";
import { pdataPdu } from "./_raw_send.ts";
import { DiscardStream, safeReason } from "./_refusal.ts";
import type { StoreCommand } from "./_pdata.ts";
import {
  DimseStatusError,
  Status,
  statusHex,
  type StoreContext,
  type StoreHandler,
  type StoreSink,
} from "./handlers.ts";
import type { WireSocket } from "./deno_socket.ts";

/** The sink for an incoming object: the handler's, or a discarding one carrying the refusal. */
export function openSink(
  handler: StoreHandler | undefined,
  ctx: StoreContext,
  ended: boolean,
): StoreSink | DiscardStream {
  try {
    if (ended) throw new DimseStatusError(Status.ProcessingFailure, "the association has ended");
    if (!handler) throw new DimseStatusError(Status.SopClassNotSupported, "this association stores nothing");
    const sink = handler.open(ctx);
    sink.on("error", () => {/* recorded in sink.failure */});
    return sink;
  } catch (err) {
    const refusal = err instanceof DimseStatusError
      ? err
      : new DimseStatusError(Status.OutOfResources, `cannot open a file: ${fileError(err)}`);
    return new DiscardStream(refusal);
  }
}

/** File system errors a peer's operator can act on, in words (the Error Comment); the code stays beside. */
const FILE_ERRORS: Record<string, string> = {
  ENOSPC: "out of disk space",
  EDQUOT: "disk quota exceeded",
  EIO: "disk I/O error",
  EROFS: "archive on a read-only file system",
  EACCES: "no permission to write the archive",
  EPERM: "no permission to write the archive",
  EMFILE: "too many open files",
  ENFILE: "too many open files",
};

/** A file error as a short reason for a peer: its words and code (`out of disk space (ENOSPC)`), no path. */
export function fileError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (!code) return "error";
  return FILE_ERRORS[code] ? `${FILE_ERRORS[code]} (${code})` : code;
}

/** Writes a fragment; resolves at once unless the sink asks to wait (then on drain, error or close). */
export function writeFragment(sink: StoreSink | DiscardStream, value: Buffer): Promise<void> | undefined {
  if (sink.write(value)) return undefined;
  return new Promise((resolve) => {
    const done = () => {
      sink.off("drain", done);
      sink.off("error", done);
      sink.off("close", done);
      resolve();
    };
    sink.on("drain", done);
    sink.on("error", done);
    sink.on("close", done);
  });
}

/** Ends the sink; resolves once it has finished (synced) or failed. */
export function finished(sink: StoreSink | DiscardStream): Promise<void> {
  return new Promise((resolve) => {
    if (sink.writableFinished) return resolve();
    sink.once("finish", () => resolve());
    sink.once("error", () => resolve());
    sink.end();
  });
}

/** What the status of a finished object is: refused, failed to write, or the handler's commit. */
export async function completeStore(
  handler: StoreHandler | undefined,
  sink: StoreSink | DiscardStream,
  ctx: StoreContext,
  log: Logger,
): Promise<{ status: number; comment?: string; bytes: number }> {
  if (sink instanceof DiscardStream) {
    log.warn("C-STORE refused", { status: statusHex(sink.refusal.status), reason: sink.refusal.message });
    return { status: sink.refusal.status, comment: sink.refusal.message, bytes: 0 };
  }
  if (sink.failure || !sink.received) {
    sink.discard();
    const code = (sink.failure as NodeJS.ErrnoException | undefined)?.code ?? "unknown";
    log.error("C-STORE write failed", { code });
    return { status: Status.OutOfResources, comment: `write failed: ${fileError(sink.failure)}`, bytes: 0 };
  }
  const bytes = sink.received.fileSize;
  try {
    const outcome = await handler!.commit(sink, ctx);
    if (outcome.status !== Status.Success && (outcome.status & 0xf000) !== 0xb000) sink.discard();
    return { status: outcome.status, comment: outcome.comment, bytes };
  } catch (err) {
    sink.discard();
    const status = err instanceof DimseStatusError ? err.status : Status.OutOfResources;
    const reason = safeReason(err);
    log.error("C-STORE commit failed", { reason, sop: hashUid(ctx.sopInstanceUid) });
    return { status, comment: reason, bytes };
  }
}

/** Sends the C-STORE response for `command` (PS3.7 9.3.1.2). */
export function sendStoreResponse(
  socket: WireSocket,
  command: StoreCommand,
  status: number,
  comment?: string,
): void {
  if (socket.destroyed) return;
  const bytes = encodeCommand({
    CommandField: 0x8001,
    MessageIDBeingRespondedTo: command.messageId,
    AffectedSOPClassUID: command.sopClassUid,
    AffectedSOPInstanceUID: command.sopInstanceUid,
    CommandDataSetType: 0x0101,
    Status: status,
    ...(comment && status !== Status.Success ? { ErrorComment: comment.slice(0, 64) } : {}),
  });
  if (bytes) socket.write(pdataPdu(command.pcId, bytes, true, true));
}

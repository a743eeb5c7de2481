/**
 * What the hub asks of a site, one request per tunnel stream: a table of handlers by operation, each
 * answering on its stream (replies, then bytes where the operation carries them). A request has a
 * deadline and stops when the hub resets its stream; a failure goes back as an `error` reply whose code
 * says what kind it was. The link that carries the requests is agent/tunnel; this folder is what a site
 * serves over it.
 */
import type { Channel, Request } from "@conduit/shared/tunnel";
import { DimseStatusError } from "../dimse/handlers.ts";
import { UnknownNodeError } from "../nodes/operations.ts";
import { FrameError } from "../part10/frames.ts";
import { FrameNotFoundError, RenderError, RenderRequestError } from "../render/mod.ts";
import { BulkDataError } from "./metadata.ts";
import type { Handlers } from "./reply.ts";
import type { SiteServices } from "./services.ts";
import { queryHandlers } from "./query.ts";
import { wadoHandlers } from "./wado.ts";
import { pixelFrameHandlers } from "./pixel_frames.ts";
import { renderedHandlers } from "./rendered.ts";
import { storeHandlers } from "./store.ts";
import { SendRefusedError, transferHandlers } from "./transfers.ts";
import { deadLetterHandlers } from "./dead_letter.ts";
import { siteOnlineHandlers } from "./site_online.ts";
import { credentialHandlers } from "./credential.ts";
import { eraseHandlers } from "./erase.ts";
import { ErasureRequestError, NothingToEraseError } from "../erase/erase.ts";
import { CredentialRefusedError } from "../tunnel/credential.ts";
import { ConflictResolveError } from "../ingest/resolve.ts";
import { CommitBlockedError } from "../ingest/group_commit.ts";

export type { SiteServices };

/** Every operation a site serves, by name; an operation not here is answered `unsupported`. */
export const HANDLERS: Handlers = {
  ...queryHandlers,
  ...wadoHandlers,
  ...pixelFrameHandlers,
  ...renderedHandlers,
  ...storeHandlers,
  ...transferHandlers,
  ...deadLetterHandlers,
  ...siteOnlineHandlers,
  ...credentialHandlers,
  ...eraseHandlers,
};

const DEFAULT_DEADLINE_MS = 5 * 60 * 1000;

/** The `error` reply's code for a failure. */
function errorCode(e: Error, timedOut: boolean): string {
  if (timedOut) return "timeout";
  if (e instanceof UnknownNodeError) return "unknown-node";
  if (e instanceof DimseStatusError) return "dimse";
  if (
    e instanceof BulkDataError || e instanceof FrameError || e instanceof FrameNotFoundError ||
    e instanceof NothingToEraseError
  ) {
    return "not-found";
  }
  if (
    e instanceof SendRefusedError || e instanceof RenderRequestError || e instanceof CredentialRefusedError ||
    e instanceof ErasureRequestError
  ) {
    return "bad-request";
  }
  if (e instanceof ConflictResolveError) return e.kind === "not-found" ? "not-found" : "bad-request";
  if (e instanceof RenderError) return "not-renderable";
  if (e instanceof CommitBlockedError) return "unavailable";
  return "failed";
}

/** Answers one request on its channel, then ends the channel. */
export async function serveRequest(
  services: SiteServices,
  request: Request,
  channel: Channel,
  handlers: Handlers = HANDLERS,
): Promise<void> {
  const signal = AbortSignal.any([
    channel.stream.signal,
    AbortSignal.timeout(
      "deadlineMs" in request && request.deadlineMs ? request.deadlineMs : DEFAULT_DEADLINE_MS,
    ),
  ]);
  try {
    const handler = handlers[request.op] as
      | ((s: SiteServices, r: Request, c: Channel, signal: AbortSignal) => Promise<void>)
      | undefined;
    if (handler) await handler(services, request, channel, signal);
    else {
      await channel.send({
        type: "error",
        code: "unsupported",
        message: `this agent does not do ${request.op} over the tunnel yet`,
      });
    }
  } catch (err) {
    if (channel.stream.signal.aborted) return; // the hub cancelled; nobody is listening
    const e = err as Error;
    const code = errorCode(e, signal.aborted);
    services.log.warn("tunnel request failed", { op: request.op, code, reason: e.message });
    await channel.send({
      type: "error",
      code,
      message: e.message,
      ...(e instanceof DimseStatusError ? { status: e.status } : {}),
    }).catch(() => {});
  }
  await channel.end().catch(() => {});
}

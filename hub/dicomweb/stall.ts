/**
 * The write-stall bound of DICOMweb answers (`dicomweb.stallSeconds`): an answer whose client has taken no
 * bytes for that long is cancelled. Cancelling its body is what a client that goes away does: the route's
 * stream stops the site's retrieve (the tunnel stream is reset, the agent closes its file) and the server
 * drops the connection. One middleware over every answer under `/dicomweb` (WADO-RS objects, zip, frames,
 * bulk data, metadata, QIDO-RS), so no route has its own.
 *
 * What "taken" means: the server asks the body for its next chunk once it has handed the last one to the
 * connection, so the time from a chunk handed over to the next ask is time the client's connection took no
 * more (its socket buffers full). Time the body itself waits on the site is not counted: a slow site is not
 * a stalled client. But the server's writes land in the socket's buffers (some MB on Linux), which a slow
 * client empties slowly: its reads free room for the next write only after a long while. So while the server
 * waits, the connection's send queue (`progress`, ./tcp_queue.ts) is also looked at a few times a bound: when
 * it moved, the client took bytes (about one TCP segment each time: 64 KiB on loopback, 1.4 KiB on Ethernet).
 */
import type { MiddlewareHandler } from "hono";
import type { Logger } from "@conduit/shared/log";
import type { HubMetrics } from "../metrics.ts";
import { dicomwebKind } from "./metrics.ts";
import { sendQueue } from "./tcp_queue.ts";

/** The most bytes handed to the server at once. */
export const SLICE = 64 * 1024;

/** How many times a bound the connection's send queue is looked at while the server waits. */
const LOOKS = 4;

/** Why a stalled answer's body was cancelled (its `reason`). */
export class StalledClientError extends Error {
  override name = "StalledClientError";
}

/**
 * `body` handed to its reader slice by slice; when the reader has not asked for the next slice for
 * `stallMs` after the last, and `progress` (a number that changes when the client takes bytes, or undefined
 * when unknown) did not change meanwhile, `body` is cancelled, the stream errors (the server drops the
 * connection once it writes again) and `onStall` is called once.
 */
export function stallBound(
  body: ReadableStream<Uint8Array>,
  stallMs: number,
  onStall: () => void,
  progress: () => number | undefined = () => undefined,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let pending: Uint8Array | undefined;
  /** When the last slice was handed over, while the reader has not asked for the next one. */
  let since: number | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let over = false;
  const stop = () => {
    over = true;
    clearTimeout(timer);
    timer = undefined;
  };
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let lastProgress: number | undefined;
  const look = stallMs / LOOKS;
  const check = () => {
    timer = undefined;
    if (over || since === undefined) return; // the reader is waiting on the body: pull() arms it again
    const now = performance.now();
    const p = progress();
    if (p !== undefined && p !== lastProgress) {
      lastProgress = p;
      since = now;
    }
    const left = since + stallMs - now;
    if (left > 0) {
      timer = setTimeout(check, Math.min(left, look));
      return;
    }
    stop();
    const reason = new StalledClientError(`the client took no bytes for ${stallMs / 1000} s`);
    controller.error(reason);
    reader.cancel(reason).catch(() => {});
    onStall();
  };
  return new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    async pull(c) {
      since = undefined;
      if (!pending) {
        let r: ReadableStreamReadResult<Uint8Array>;
        try {
          r = await reader.read();
        } catch (err) {
          stop();
          throw err;
        }
        if (over) return;
        if (r.done) {
          stop();
          return c.close();
        }
        pending = r.value;
      }
      const slice = pending.length > SLICE ? pending.subarray(0, SLICE) : pending;
      pending = slice === pending ? undefined : pending.subarray(SLICE);
      c.enqueue(slice);
      since = performance.now();
      timer ??= setTimeout(check, look);
    },
    cancel(reason) {
      stop();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** The site that answers a DICOMweb request, as the routes record it (federated ones find it by UID). */
export type SiteEnv = { Variables: { answeringSite?: string } };

/** The site in a request's path (`/sites/{site}`), if any. */
function siteInPath(path: string): string | undefined {
  const m = /\/sites\/([^/]+)/.exec(path);
  return m ? decodeURIComponent(m[1]) : undefined;
}

/**
 * Bounds every answer's body under it by {@link stallBound}: a stall is logged at warn with the route's
 * kind and the site (no path, no UID) and counted in `conduit_hub_dicomweb_stalled_total`. Registered
 * before the metrics middleware, so that it is nearest the server.
 */
export function dicomwebStallBound(
  stallSeconds: number,
  log: Logger,
  metrics?: HubMetrics,
): MiddlewareHandler<SiteEnv> {
  return async (c, next) => {
    await next();
    const res = c.res;
    if (!res.body) return;
    const kind = dicomwebKind(c.req.method, c.req.path);
    const peer = (c.env as { remoteAddr?: Deno.NetAddr } | undefined)?.remoteAddr;
    const body = stallBound(res.body, stallSeconds * 1000, () => {
      const site = c.get("answeringSite") ?? siteInPath(c.req.path) ?? "(federated)";
      log.warn("DICOMweb answer cancelled: the client took no bytes", { kind, site, stallSeconds });
      metrics?.dicomwebStalled.inc({ kind });
    }, peer ? () => sendQueue(peer) : undefined);
    c.res = new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/**
 * The error handlers the agent's and the hub's HTTP servers (Deno's `serve`) are given, so that nothing they
 * serve prints to stderr past the program's logger. An answer whose body fails once its head is sent (a
 * stream that errors: a DICOMweb answer cut short) still ends abnormally for its client: Deno's server ends
 * the connection (HTTP/1.1) or resets the stream (HTTP/2). Deno 2.9 also hands that error to the server's
 * `onError`, whose default prints it with its stack on stderr (not JSON; ext/http/00_serve.ts,
 * `reportResponseStreamError`). {@link failedBodyHandler} logs a debug line instead; {@link guarded}
 * answers a handler that throws, so that `onError` sees only bodies. A client that goes away mid-answer only
 * cancels the body (no error, nothing printed, with or without these).
 */
import type { Logger } from "./log.ts";

/** What a failed body or handler is logged with: the error's name and message (the logger hashes UIDs). */
function reasonOf(err: unknown): Record<string, string> {
  return err instanceof Error ? { error: err.name, reason: err.message } : { reason: String(err) };
}

/**
 * The server's `onError` for handlers that never throw ({@link guarded}): the error of a response body that
 * failed after its head was sent, at debug (the route logged it, at warn); nothing on stderr from Deno. The
 * answer it returns is not used (the head is on the wire already).
 */
export function failedBodyHandler(log: Logger): (err: unknown) => Response {
  return (err) => {
    log.debug("response body ended before its end; the client sees it cut short", reasonOf(err));
    return new Response(null, { status: 500 });
  };
}

/** `handler` answering 500 (a problem object) when it throws, logged at error: no throw reaches Deno. */
export function guarded<I>(handler: (req: Request, info: I) => Response | Promise<Response>, log: Logger) {
  return async (req: Request, info: I): Promise<Response> => {
    try {
      return await handler(req, info);
    } catch (err) {
      log.error("request failed", reasonOf(err));
      return Response.json({ type: "about:blank", title: "Internal Server Error", status: 500 }, {
        status: 500,
        headers: { "content-type": "application/problem+json" },
      });
    }
  };
}

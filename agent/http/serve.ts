/**
 * The agent's HTTP listener: `Deno.serve` with the shared error handlers (shared/serve_errors.ts), so that
 * an answer whose body fails after its head was sent is a debug line of the agent's log (JSON) rather than a
 * stack Deno prints on stderr, and a handler that throws is a 500 problem object, logged.
 */
import type { Logger } from "@conduit/shared/log";
import { failedBodyHandler, guarded } from "@conduit/shared/serve-errors";

/** Listens on `hostname:port` (0: a free port) with `handler`; throws as Deno.serve does (a port in use). */
export function serveHttp(
  options: { hostname: string; port: number },
  handler: (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>,
  log: Logger,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: options.hostname, port: options.port, onListen: () => {}, onError: failedBodyHandler(log) },
    guarded(handler, log),
  );
}

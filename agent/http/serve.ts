/**
 * The agent's HTTP listener: `Deno.serve` with the shared error handlers (shared/serve_errors.ts), so that
 * an answer whose body fails after its head was sent is a debug line of the agent's log (JSON) rather than a
 * stack Deno prints on stderr, and a handler that throws is a 500 problem object, logged. When its listener
 * fails (EMFILE: out of file descriptors), which ends Deno.serve for good, it listens again on the same port
 * (shared/relisten.ts); before 2026-12-06 the API stayed closed until a restart.
 */
import type { Logger } from "@conduit/shared/log";
import { keepListening } from "@conduit/shared/relisten";
import { failedBodyHandler, guarded } from "@conduit/shared/serve-errors";

/** The agent's HTTP server, whichever Deno.serve listens for it now. */
export interface AgentHttpServer {
  readonly addr: Deno.NetAddr;
  /** No new connections; resolves once the requests in progress have ended. */
  shutdown(): Promise<void>;
}

/** Listens on `hostname:port` (0: a free port) with `handler`; throws as Deno.serve does (a port in use). */
export function serveHttp(
  options: { hostname: string; port: number },
  handler: (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>,
  log: Logger,
): AgentHttpServer {
  const serve = (port: number) =>
    Deno.serve(
      { hostname: options.hostname, port, onListen: () => {}, onError: failedBodyHandler(log) },
      guarded(handler, log),
    );
  let current: Deno.HttpServer<Deno.NetAddr> | undefined = serve(options.port);
  const port = current.addr.port;
  keepListening(current, {
    current: () => current,
    restart: () => serve(port),
    replaced: (next) => (current = next),
    failed: (reason) =>
      log.error("the HTTP listener failed; listening again", {
        reason: reason === "EMFILE" ? "too many open files (EMFILE)" : reason,
        port,
      }),
    listening: (tries) => log.info("listening for HTTP again", { port, tries }),
  });
  const addr = current.addr;
  return {
    addr,
    shutdown: () => {
      const server = current;
      current = undefined;
      // A server whose listener failed may refuse its shutdown: it serves nothing more either way.
      return server ? server.shutdown().catch(() => {}) : Promise.resolve();
    },
  };
}

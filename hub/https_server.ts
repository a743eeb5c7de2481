/**
 * The hub's HTTP(S) server, whose certificate and key can be replaced while it runs (SIGHUP, `reloadTls`).
 *
 * `Deno.serve` takes its certificate once, when it starts listening. To change it, a second server listens on
 * the same port with the new pair (`reusePort`, SO_REUSEPORT on Linux; for TLS listeners an unstable API,
 * hence `"unstable": ["net"]` in deno.json) and the first is shut down: it accepts nothing more, and its
 * requests in progress finish on the old pair. Measured on Deno 2.9.6: that shutdown closes the WebSockets
 * it upgraded at once (close code 1001, going away), so every agent's tunnel opened before the reload ends
 * and the agent connects again (after its first backoff step, under `hub.reconnectBaseSeconds`) to the new
 * server. A console's live updates (SSE) keep the old server up until they end.
 *
 * Without TLS it is one plain `Deno.serve`, as before.
 *
 * An answer whose body fails once its head is sent (a DICOMweb answer cut short: the stall bound, the site's
 * tunnel lost) must still end abnormally, so that its client does not take it for whole: its stream errors,
 * and Deno's server then ends the connection (HTTP/1.1) or resets the stream (HTTP/2). Deno 2.9 also hands
 * that error to the server's `onError`, whose default prints it with its stack on stderr (not JSON, not
 * through the hub's logger; ext/http/00_serve.ts, `reportResponseStreamError`). The hub's `onError`
 * (`failedBodyHandler`, shared/serve_errors.ts, which the agent uses too) writes a debug line instead: the route
 * that cut the answer short has logged why already. A handler that throws is answered there (`guarded`), so
 * that `onError` sees only bodies.
 */
import { Logger } from "@conduit/shared/log";
import { failedBodyHandler, guarded } from "@conduit/shared/serve-errors";
import { keepListening } from "@conduit/shared/relisten";

/** A certificate chain and its key, PEM. */
export interface TlsPair {
  cert: string;
  key: string;
}

type Handler = (req: Request, info: Deno.ServeHandlerInfo<Deno.NetAddr>) => Response | Promise<Response>;

export class HubServer {
  #current: Deno.HttpServer<Deno.NetAddr>;
  /** Servers replaced by a reload, until their last request has ended. */
  #draining = new Set<Promise<void>>();
  #hostname: string;
  #handler: Handler;
  #onError: (err: unknown) => Response;
  /** The pair new connections get. */
  #tls: TlsPair | undefined;

  /**
   * Listens on `hostname:port` (0: a free port), with `tls` when given. Throws as `Deno.serve` does (the port
   * in use...): with TLS, the port is first bound without SO_REUSEPORT, so that a port another program (or
   * another hub) holds is refused at start as before, and not shared. `log` takes what fails (see the
   * module's comment).
   */
  constructor(
    options: { hostname: string; port: number; tls?: TlsPair; log?: Logger },
    handler: Handler,
  ) {
    this.#hostname = options.hostname;
    const log = options.log ?? new Logger({ part: "http" });
    this.#handler = guarded(handler, log);
    this.#onError = failedBodyHandler(log);
    let port = options.port;
    if (options.tls) {
      const probe = Deno.listen({ hostname: options.hostname, port });
      port = (probe.addr as Deno.NetAddr).port;
      probe.close();
    }
    this.#current = this.#serve(port, options.tls);
    this.#tls = options.tls;
    this.#log = log;
    this.#watch(this.#current);
  }

  #log: Logger;
  #stopped = false;

  /**
   * At EMFILE (out of file descriptors) Deno.serve stops listening for good while the hub goes on: listen
   * again on the same port (shared/relisten.ts), with the pair served now. Before 2026-12-06 the hub's port
   * stayed closed until a restart: no DICOMweb, no console, no tunnel for any agent.
   */
  #watch(server: Deno.HttpServer<Deno.NetAddr>): void {
    const port = server.addr.port;
    keepListening(server, {
      current: () => (this.#stopped ? undefined : this.#current),
      restart: () => this.#serve(port, this.#tls),
      replaced: (next) => (this.#current = next),
      failed: (reason) =>
        this.#log.error("the HTTP listener failed; listening again", {
          reason: reason === "EMFILE" ? "too many open files (EMFILE)" : reason,
          port,
        }),
      listening: (tries) => this.#log.info("listening for HTTP again", { port, tries }),
    });
  }

  get addr(): Deno.NetAddr {
    return this.#current.addr;
  }

  #serve(port: number, tls?: TlsPair): Deno.HttpServer<Deno.NetAddr> {
    return Deno.serve(
      {
        hostname: this.#hostname,
        port,
        onListen: () => {},
        onError: this.#onError,
        ...(tls ? { ...tls, reusePort: true } : {}),
      },
      this.#handler,
    );
  }

  /**
   * Serves new connections with `tls` from now on; the connections open before finish on the old pair (the
   * WebSockets among them are closed: see the module's comment). Throws, the old server untouched, when the
   * new one cannot listen (rustls refuses the pair, for example). The same pair as served: nothing is done,
   * and false.
   */
  replaceTls(tls: TlsPair): boolean {
    if (this.#tls && this.#tls.cert === tls.cert && this.#tls.key === tls.key) return false;
    const next = this.#serve(this.addr.port, tls);
    this.#tls = tls;
    const old = this.#current;
    this.#current = next;
    this.#watch(next);
    const drained: Promise<void> = old.shutdown().finally(() => this.#draining.delete(drained));
    this.#draining.add(drained);
    return true;
  }

  /** No new connections; resolves once every request in progress, on this server and the replaced ones, has ended. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    // A server whose listener failed may refuse its shutdown: it serves nothing more either way.
    await Promise.all([this.#current.shutdown().catch(() => {}), ...this.#draining]);
  }
}

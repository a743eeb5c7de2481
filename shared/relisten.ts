/**
 * Keeps an HTTP server listening after its listener fails. Deno's HTTP server ends for good when accepting a
 * connection fails (EMFILE: the process is out of file descriptors): its `finished` rejects and the port is
 * closed, while the process goes on (measured on Deno 2.9.6). `keepListening` starts it again on the same
 * address, 50 ms after, then twice as long each time up to 2 s while listening fails too. No I/O of its own:
 * `restart` listens.
 */

export interface KeepListening<S> {
  /** The server the caller serves with now (a replaced or stopped one is not restarted). */
  current(): S | undefined;
  /** Listens again as the failed server did; throws when it cannot (tried again later). */
  restart(): S;
  /** The restarted server, now the current one (watched in turn). */
  replaced(next: S): void;
  /** The listener of the current server failed: its reason (`EMFILE`, or the message). */
  failed(reason: string): void;
  /** Listening again, after `tries` tries. */
  listening(tries: number): void;
}

/** Watches `server.finished`; when it rejects while `server` is the current one, listens again. */
export function keepListening<S extends { finished: Promise<void> }>(server: S, o: KeepListening<S>): void {
  server.finished.then(() => {}, async (err: unknown) => {
    if (o.current() !== server) return;
    const e = err as { code?: string; message?: string } | undefined;
    const code = e?.code ?? /\(os error 24\)/.exec(e?.message ?? "")?.[0];
    o.failed(code === "(os error 24)" ? "EMFILE" : code ?? String(e?.message ?? err));
    for (let tries = 1, wait = 50;; tries++, wait = Math.min(wait * 2, 2000)) {
      await new Promise((r) => setTimeout(r, wait));
      if (o.current() !== server) return;
      let next: S;
      try {
        next = o.restart();
      } catch {
        continue;
      }
      o.replaced(next);
      o.listening(tries);
      keepListening(next, o);
      return;
    }
  });
}

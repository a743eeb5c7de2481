/**
 * A bound on how long a request waits on a database that does not answer. A PostgreSQL stopped or restarting
 * refuses at once (hub/db/errors.ts maps that to 503), but one behind a network partition, or frozen, leaves
 * a query waiting until TCP gives up, minutes later. A request still unanswered after `afterMs` asks the
 * database's health probe (shared, at most once a second, itself bounded to 2 s); when the probe says the
 * database does not answer, the request is answered 503 then. The handler left behind ends when its query
 * does (its answer goes nowhere).
 */
import type { MiddlewareHandler } from "hono";
import type { DbProbe } from "./health.ts";
import { DATABASE_AWAY, DATABASE_RETRY_AFTER_S } from "./errors.ts";
import { problem } from "../problem.ts";

export interface DatabaseGuardOptions {
  /** How long a request runs before the probe is asked (then every second while it runs). */
  afterMs?: number;
  /** Called for each request answered 503 this way (a log line). */
  onRefused?: (path: string, problem: string) => void;
}

export function databaseGuard(probe: DbProbe, options: DatabaseGuardOptions = {}): MiddlewareHandler {
  const afterMs = options.afterMs ?? 3000;
  return async (c, next) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let settled = false;
    const handled = next().then(() => undefined);
    const away = new Promise<string>((resolve) => {
      const check = async () => {
        const health = await probe.health();
        if (settled) return;
        if (!health.ok) return resolve(health.problem);
        timer = setTimeout(check, 1000);
      };
      timer = setTimeout(check, afterMs);
    });
    try {
      const problemText = await Promise.race([handled, away]);
      if (problemText === undefined) return;
      // The handler goes on until its query ends; whatever it throws then is nobody's to hear.
      handled.catch(() => {});
      options.onRefused?.(c.req.path, problemText);
      return problem(c, 503, DATABASE_AWAY, { "retry-after": String(DATABASE_RETRY_AFTER_S) });
    } finally {
      settled = true;
      clearTimeout(timer);
    }
  };
}

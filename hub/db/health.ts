/**
 * Whether the hub's database can be read and written, for `/healthz`: one small write (a row of
 * `cluster_settings`), at most once per `cacheMs` whoever asks and however often (a load balancer polling
 * every hub every second costs each database one write a second), bounded by `timeoutMs` (a database that
 * does not answer is reported as such then, not waited for). A probe that has not ended when the next is
 * due is not doubled: the next answer is "no answer" until it ends. A time limit that runs out while this
 * process's event loop was held is not taken for the database's silence (see StallGuard): until 2026-12-06,
 * a hub on PostgreSQL whose loop was held past the limit reported the database away although its answer was
 * waiting in the socket, and `/healthz` failed and the guard (guard.ts) answered 503 for that second.
 */
import { StallGuard } from "@conduit/shared/stall-guard";

export type DbHealth = { ok: true } | { ok: false; problem: string };

/** A failed probe with a sentence for `/healthz` (never a file path, URL or SQL: the endpoint is open). */
export class DbProbeError extends Error {
  override name = "DbProbeError";
}

export interface DbProbeOptions {
  /** How long an answer is reused. */
  cacheMs?: number;
  /** How long a probe may take before the database counts as not answering. */
  timeoutMs?: number;
  /** Called when the answer changes (ok to failing and back), with the error of a failing one. */
  onChange?: (health: DbHealth, err?: unknown) => void;
}

export class DbProbe {
  readonly cacheMs: number;
  readonly timeoutMs: number;
  #last?: { at: number; health: DbHealth };
  /** The probe whose answer is awaited now (shared by every request meanwhile). */
  #asking?: Promise<DbHealth>;
  /** The database's own call, while it has not ended (it may outlast its probe's time limit). */
  #pending?: Promise<void>;
  #wasOk = true;

  constructor(private readonly check: () => Promise<void>, private readonly options: DbProbeOptions = {}) {
    this.cacheMs = options.cacheMs ?? 1000;
    this.timeoutMs = options.timeoutMs ?? 2000;
  }

  /** The database's health, as of at most `cacheMs` ago. Never throws. */
  health(): Promise<DbHealth> {
    const last = this.#last;
    if (last && performance.now() - last.at < this.cacheMs) return Promise.resolve(last.health);
    this.#asking ??= this.#probe().then((health) => {
      this.#last = { at: performance.now(), health };
      this.#asking = undefined;
      return health;
    });
    return this.#asking;
  }

  async #probe(): Promise<DbHealth> {
    const noAnswer = `the database did not answer within ${this.timeoutMs / 1000} s`;
    if (this.#pending) return this.#report({ ok: false, problem: noAnswer });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const call = Promise.resolve().then(() => this.check());
    const pending = call.then(() => {}, () => {}).finally(() => {
      if (this.#pending === pending) this.#pending = undefined;
    });
    this.#pending = pending;
    try {
      // The time limit is checked four times over it, and a check right after this process's event loop was
      // held judges nothing: the database's answer may be waiting in its socket, read after the timers.
      const deadline = performance.now() + this.timeoutMs;
      const period = this.timeoutMs / 4;
      const stalls = new StallGuard(period);
      await Promise.race([
        call,
        new Promise((_, reject) => {
          const tick = () => {
            if (stalls.mayJudge() && performance.now() >= deadline) return reject(new DbProbeError(noAnswer));
            timer = setTimeout(tick, period);
          };
          timer = setTimeout(tick, period);
        }),
      ]);
      return this.#report({ ok: true });
    } catch (err) {
      const problem = err instanceof DbProbeError ? err.message : "the database failed a read and write";
      return this.#report({ ok: false, problem }, err);
    } finally {
      clearTimeout(timer);
    }
  }

  #report(health: DbHealth, err?: unknown): DbHealth {
    if (health.ok !== this.#wasOk) {
      this.#wasOk = health.ok;
      try {
        this.options.onChange?.(health, err);
      } catch { /* a log that fails does not fail the probe */ }
    }
    return health;
  }
}

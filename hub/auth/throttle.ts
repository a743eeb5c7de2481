/**
 * Login throttling, per (user name, source address) and per source address, never per user name
 * alone: one address that keeps failing locks only itself out (of that name, or of every name when
 * it fails across many), and the user can still log in from anywhere else. The policy:
 * `LOGIN_POLICY.perPair` failures for one name from one address, or `perAddress` failures from one
 * address over any names, each within `windowMs` of the previous one, lock that pair (or address)
 * for `lockMs`. A success clears its pair, not its address. An attempt counts from the moment it begins, before
 * its password is checked (`begin()`, then `fail()` or `succeed()`, and `end()`): attempts sent all at once, while
 * the hub waits on its database, are held to the same limits as attempts one after another.
 */

export interface ThrottlePolicy {
  perPair: number;
  perAddress: number;
  windowMs: number;
  lockMs: number;
}

const LOGIN_POLICY: Readonly<ThrottlePolicy> = {
  perPair: 5,
  perAddress: 20,
  windowMs: 60_000,
  lockMs: 60_000,
};

/** How long an attempt refused because earlier ones are still being checked is told to wait. */
const BUSY_WAIT_MS = 1000;

/** Entries kept before expired ones are dropped (so that made-up names cannot fill memory). */
const PRUNE_AT = 10_000;

interface Count {
  count: number;
  /** Until when the count still matters (a failure's window, or the lock). */
  until: number;
}

export class LoginThrottle {
  readonly #counts = new Map<string, Count>();
  /** Attempts begun and not yet ended, per pair and per address. */
  readonly #pending = new Map<string, number>();

  constructor(private readonly policy: Readonly<ThrottlePolicy> = LOGIN_POLICY) {}

  #key(kind: "pair" | "address", user: string, address: string) {
    return kind === "pair" ? `pair\0${user}\0${address}` : `address\0${address}`;
  }

  #limit(kind: "pair" | "address") {
    return kind === "pair" ? this.policy.perPair : this.policy.perAddress;
  }

  /** Until when this name may not log in from this address, or undefined when it may try. */
  lockedUntil(user: string, address: string, now = Date.now()): number | undefined {
    return this.lockOf(user, address, now)?.until;
  }

  /** The lock an attempt meets, if any: of this user from this address ("pair"), or of the address. */
  lockOf(
    user: string,
    address: string,
    now = Date.now(),
  ): { kind: "pair" | "address"; until: number } | undefined {
    for (const kind of ["pair", "address"] as const) {
      const c = this.#counts.get(this.#key(kind, user, address));
      if (c && c.count >= this.#limit(kind) && c.until > now) return { kind, until: c.until };
    }
    return undefined;
  }

  /**
   * Takes a place for one attempt before its password is checked: undefined when it may go on (then call
   * `end()` once it is settled, whatever happened), else until when it must wait: locked, or as many
   * attempts under way as failures are left before the lock (each might fail).
   */
  begin(user: string, address: string, now = Date.now()): number | undefined {
    const locked = this.lockedUntil(user, address, now);
    if (locked !== undefined) return locked;
    const keys = (["pair", "address"] as const).map((kind) => ({
      kind,
      key: this.#key(kind, user, address),
    }));
    for (const { kind, key } of keys) {
      const c = this.#counts.get(key);
      const failures = c && c.until > now ? c.count : 0;
      if (failures + (this.#pending.get(key) ?? 0) >= this.#limit(kind)) return now + BUSY_WAIT_MS;
    }
    for (const { key } of keys) this.#pending.set(key, (this.#pending.get(key) ?? 0) + 1);
    return undefined;
  }

  /** Gives back the place `begin()` took (after `fail()` or `succeed()`, or an error). */
  end(user: string, address: string): void {
    for (const kind of ["pair", "address"] as const) {
      const key = this.#key(kind, user, address);
      const left = (this.#pending.get(key) ?? 0) - 1;
      if (left > 0) this.#pending.set(key, left);
      else this.#pending.delete(key);
    }
  }

  /** Counts a failure; returns what it locked ("pair" or "address"), if it locked something now. */
  fail(user: string, address: string, now = Date.now()): "pair" | "address" | undefined {
    if (this.#counts.size > PRUNE_AT) {
      for (const [k, c] of this.#counts) if (c.until <= now) this.#counts.delete(k);
    }
    let locked: "pair" | "address" | undefined;
    for (const kind of ["pair", "address"] as const) {
      const key = this.#key(kind, user, address);
      const c = this.#counts.get(key);
      const count = c && c.until > now ? c.count + 1 : 1;
      const locks = count >= this.#limit(kind);
      this.#counts.set(key, { count, until: now + (locks ? this.policy.lockMs : this.policy.windowMs) });
      if (locks && count === this.#limit(kind)) locked ??= kind;
    }
    return locked;
  }

  succeed(user: string, address: string): void {
    this.#counts.delete(this.#key("pair", user, address));
  }
}

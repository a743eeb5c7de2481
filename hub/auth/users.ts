/**
 * Console users and their sessions. Passwords are hashed with Argon2id (hash-wasm; 19 MiB, 2
 * passes, the OWASP minimum); a session is a random id in an httpOnly SameSite=Strict cookie, kept
 * hashed, with its own CSRF token that every state-changing call must echo in a header; it ends once
 * unused for the idle time (each use slides it) and 12 hours after its login whatever its use. Failed
 * logins are audited (name, source address, time) and throttled per (name, address) and per
 * address (./throttle.ts), so that one address cannot lock an account for everyone.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { argon2id, argon2Verify } from "hash-wasm";
import { and, desc, eq, isNull, lt, ne, sql } from "drizzle-orm";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
import type { HubDb } from "../db/db.ts";
import { sessions, users } from "../db/schema.ts";
import { type Principal, type Role, ROLES } from "./tokens.ts";
import { entry, entryIfChanged } from "./audit.ts";
import { LoginThrottle } from "./throttle.ts";
import { atomically } from "../db/atomic.ts";
import { isUniqueViolation } from "../db/errors.ts";

export const SESSION_COOKIE = "conduit_session";
/** A session ends this long after its login, however much it is used. */
const SESSION_TTL_MS = 12 * 3600 * 1000;
/** A session unused this long ends (`console.sessionIdleMinutes`, default 30 minutes). */
export const DEFAULT_IDLE_MS = 30 * 60 * 1000;
/** The header in which the console says how long ago its user last did something (ms): {@link Users.session}. */
export const LAST_INPUT_HEADER = "x-conduit-last-input";
/** Set to `expired` on a 401 for a session that ended by age or disuse, so the console can say so. */
export const SESSION_STATE_HEADER = "x-conduit-session";

export class UserError extends Error {
  override name = "UserError";
}

/** A user of that name exists already (CONFLICT on the API). */
export class UserExistsError extends UserError {
  override name = "UserExistsError";
  constructor(user: string) {
    super(`user ${user} exists already: choose another name, or change that user (role, password)`);
  }
}

/** No user has the name given (NOT_FOUND on the API). */
export class UnknownUserError extends UserError {
  override name = "UnknownUserError";
}

/**
 * A failed login: `shownName` is how logs and the audit log name who was tried (./users.ts
 * {@link shownLoginName}), never the typed text of a name nobody has.
 */
export class LoginFailed extends UserError {
  override name = "LoginFailed";
  constructor(message: string, readonly shownName: string) {
    super(message);
  }
}

/** A login refused by the throttle, without looking at the password. */
export class LoginRefused extends LoginFailed {
  override name = "LoginRefused";
  constructor(message: string, readonly until: number, shownName: string) {
    super(message, shownName);
  }
}

/** The key of {@link unknownUserMarker}, new in each process. */
const MARKER_KEY = randomBytes(32);

/**
 * How a name that no user has is logged and audited: `unknown user #` and 8 hex digits of an HMAC of it
 * under a key of this process, so that attempts with one typed name can be told apart and correlated (in
 * one run of the hub) while the text, perhaps a password typed into the name field, is never written and
 * cannot be guessed back from the log by trying candidates.
 */
export function unknownUserMarker(typed: string): string {
  return `unknown user #${createHmac("sha256", MARKER_KEY).update(typed).digest("hex").slice(0, 8)}`;
}

/** The advisory lock that serializes taking an admin away on PostgreSQL ("users" in ASCII). */
const USERS_LOCK = 0x7573657273;

function lastAdmin(name: string, what: "disable" | "demote"): UserError {
  return new UserError(`${name} is the last enabled admin: make another user admin before you ${what} them`);
}

const hashId = (id: string) => createHash("sha256").update(id).digest("hex");

async function hashPassword(password: string): Promise<string> {
  return await argon2id({
    password,
    salt: randomBytes(16),
    parallelism: 1,
    iterations: 2,
    memorySize: 19456,
    hashLength: 32,
    outputType: "encoded",
  });
}

let unknownUser: Promise<string> | undefined;

/** The hash checked for a user name nobody has: of a random password, made once per process. */
function unknownUserHash(): Promise<string> {
  return unknownUser ??= hashPassword(randomBytes(24).toString("base64url"));
}

export class Users {
  readonly #throttle = new LoginThrottle();
  /** Wrong current passwords in a password change, per (user, session). */
  readonly #changeThrottle = new LoginThrottle();

  /** How long a session may go unused; each use slides its end, written at most once per {@link #slideMs}. */
  readonly #idleMs: number;
  readonly #slideMs: number;

  constructor(private readonly db: HubDb, options: { idleMs?: number } = {}) {
    this.#idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
    // At most one write a minute per session (less for an idle time under 4 minutes, as a test sets).
    this.#slideMs = Math.min(60_000, this.#idleMs / 4);
  }

  async add(name: string, role: string, password: string, actor = "cli"): Promise<void> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name)) {
      throw new UserError("user names: letters, digits, . _ @ -");
    }
    if (!ROLES.includes(role as Role)) throw new UserError(`role must be one of ${ROLES.join(", ")}`);
    if (password.length < 10) throw new UserError("use a password of at least 10 characters");
    const existing = await this.db.query.users.findFirst({ where: eq(users.name, name) });
    if (existing) throw new UserExistsError(name);
    const passwordHash = await hashPassword(password);
    try {
      await atomically(this.db, (tx) => [
        tx.insert(users).values({ name, role, passwordHash, createdAt: Date.now() }),
        entry(tx, actor, "user.add", name, { role }),
      ]);
    } catch (err) {
      // Another add of the same name got in between the look-up and the insert.
      if (isUniqueViolation(err)) throw new UserExistsError(name);
      throw err;
    }
  }

  /**
   * Disables a user (their sessions end at once and they cannot log in) or enables them again. An
   * admin cannot disable themselves, nor anyone the last enabled admin: someone must be left to undo it.
   */
  async setDisabled(name: string, disabled: boolean, actor = "cli"): Promise<void> {
    const user = await this.#user(name);
    if (disabled && actor === `user:${name}`) throw new UserError("you cannot disable yourself");
    // Already so (a second click, two admins at once): nothing changes, nothing is audited.
    if ((user.disabledAt !== null) === disabled) return;
    const action = disabled ? "user.disable" : "user.enable";
    if (disabled && user.role === "admin") {
      const done = await this.#takeAdminAway(name, { disabledAt: Date.now() }, { actor, action }, true);
      if (!done) throw lastAdmin(name, "disable");
      return;
    }
    await atomically(this.db, (tx) => [
      tx.update(users).set({ disabledAt: disabled ? Date.now() : null }).where(eq(users.name, name)),
      ...(disabled ? [tx.delete(sessions).where(eq(sessions.user, name))] : []),
      entry(tx, actor, action, name),
    ]);
  }

  /**
   * Gives a user another role, at once (a session reads its user's role on every call). The last
   * enabled admin keeps theirs: someone must be left to manage users.
   */
  async setRole(name: string, role: string, actor = "cli"): Promise<{ from: Role; to: Role }> {
    if (!ROLES.includes(role as Role)) throw new UserError(`role must be one of ${ROLES.join(", ")}`);
    const user = await this.#user(name);
    const from = user.role as Role;
    if (from === role) return { from, to: from };
    const detail = { from, to: role };
    if (from === "admin" && !user.disabledAt) {
      const done = await this.#takeAdminAway(name, { role }, { actor, action: "user.role", detail }, false);
      if (!done) throw lastAdmin(name, "demote");
      return { from, to: role as Role };
    }
    await atomically(this.db, (tx) => [
      tx.update(users).set({ role }).where(eq(users.name, name)),
      entry(tx, actor, "user.role", name, detail),
    ]);
    return { from, to: role as Role };
  }

  /**
   * Sets a new password for a user and ends every session they have (a password reset after a leak
   * must lock out whoever holds one); the audit entry names who reset it, never the password.
   */
  async resetPassword(name: string, password: string, actor = "cli"): Promise<{ sessionsEnded: number }> {
    await this.#user(name);
    if (password.length < 10) throw new UserError("use a password of at least 10 characters");
    const passwordHash = await hashPassword(password);
    const [, ended] = await atomically(this.db, (tx) => [
      tx.update(users).set({ passwordHash }).where(eq(users.name, name)),
      tx.delete(sessions).where(eq(sessions.user, name)).returning({ id: sessions.idHash }),
      entry(tx, actor, "user.password", name),
    ]);
    return { sessionsEnded: (ended as unknown[]).length };
  }

  async #user(name: string) {
    const user = await this.db.query.users.findFirst({ where: eq(users.name, name) });
    if (!user) throw new UnknownUserError(`no user ${name}`);
    return user;
  }

  /**
   * Demotes or disables the enabled admin `name` (with its audit entry, and ending their sessions when
   * `endSessions`) only if another enabled admin is left; false, with nothing written, when none is.
   * The condition is part of the statement that changes the row, never a read before it: two admins
   * taking each other's role at once (two consoles, a console and the CLI) cannot both succeed and leave
   * no one to manage users. SQLite: one batch, whose later statements run only if the change did
   * (`changes()`), serialized by the database. PostgreSQL: a transaction that first takes an advisory
   * lock (under READ COMMITTED each of two transactions would still see the other as an admin).
   */
  async #takeAdminAway(
    name: string,
    set: { role?: string; disabledAt?: number },
    log: { actor: string; action: string; detail?: Record<string, unknown> },
    endSessions: boolean,
  ): Promise<boolean> {
    const others = sql`select 1 from ${users} as other where other.name <> ${name}`;
    const another = sql`exists (${others} and other.role = 'admin' and other.disabled_at is null)`;
    const guarded = and(eq(users.name, name), eq(users.role, "admin"), isNull(users.disabledAt), another);
    if (this.db.engine === "sqlite") {
      const [changed] = await (this.db as unknown as LibSQLDatabase).batch([
        this.db.update(users).set(set).where(guarded),
        entryIfChanged(this.db, log.actor, log.action, name, log.detail),
        ...(endSessions
          ? [
            this.db.delete(sessions).where(and(
              eq(sessions.user, name),
              sql`exists (select 1 from ${users} as u where u.name = ${name} and u.disabled_at is not null)`,
            )),
          ]
          : []),
      ]);
      return (changed as { rowsAffected: number }).rowsAffected > 0;
    }
    // deno-lint-ignore no-explicit-any
    return await (this.db as any).transaction(async (tx: HubDb) => {
      // deno-lint-ignore no-explicit-any
      await (tx as any).execute(sql`select pg_advisory_xact_lock(${USERS_LOCK})`);
      const changed = await tx.update(users).set(set).where(guarded).returning({ name: users.name });
      if (changed.length === 0) return false;
      if (endSessions) await tx.delete(sessions).where(eq(sessions.user, name));
      await entry(tx, log.actor, log.action, name, log.detail);
      return true;
    });
  }

  /** Every user, the newest first (ties by name). */
  async list() {
    return (await this.db.select().from(users).orderBy(desc(users.createdAt), desc(users.name))).map((u) => ({
      name: u.name,
      role: u.role,
      createdAt: new Date(u.createdAt).toISOString(),
      disabled: u.disabledAt !== null,
    }));
  }

  /** Checks a password and opens a session; throws UserError with a message fit for the login form. */
  async login(name: string, password: string, address: string, now = Date.now()) {
    // The attempt counts from here, before the password is checked: attempts sent at once, each waiting on the
    // database meanwhile, cannot all pass the throttle before the first failure is counted.
    const until = this.#throttle.begin(name, address, now);
    if (until !== undefined) {
      const known = await this.db.query.users.findFirst({ where: eq(users.name, name) });
      // Whose lock: this user's from this address (the others log in from it), or the address's (until
      // 2026-12-08 both read "from this address").
      const whose = this.#throttle.lockOf(name, address, now)?.kind === "pair"
        ? "for this user from this address"
        : "from this address";
      throw new LoginRefused(
        `too many failed logins ${whose}; try again in ${Math.ceil((until - now) / 1000)} s`,
        until,
        known ? known.name : unknownUserMarker(name),
      );
    }
    let user: typeof users.$inferSelect | undefined;
    let matches = false;
    try {
      user = await this.db.query.users.findFirst({ where: eq(users.name, name) });
      // A password is checked whoever the user is (a made-up hash for a name nobody has), so that a refusal
      // takes as long for an unknown or disabled user as for a wrong password: its time names no user.
      matches = await argon2Verify({ password, hash: user?.passwordHash ?? await unknownUserHash() });
    } finally {
      // Its place given back just before its outcome is counted (fail or succeed, at once below).
      this.#throttle.end(name, address);
    }
    const found = matches && user && !user.disabledAt ? user : undefined;
    if (!found) {
      const locked = this.#throttle.fail(name, address, now);
      // The typed name only when it is a user's: otherwise it may be a password typed in the wrong field.
      const shown = user ? user.name : unknownUserMarker(name);
      await atomically(this.db, (tx) => [
        entry(tx, "anonymous", "login.failed", shown, { address }),
        ...(locked
          ? [entry(tx, "anonymous", "login.locked", shown, {
            address,
            scope: locked === "pair" ? "this user from this address" : "every user from this address",
            until: new Date(this.#throttle.lockedUntil(name, address, now)!).toISOString(),
          })]
          : []),
      ]);
      throw new LoginFailed("wrong user name or password", shown);
    }
    this.#throttle.succeed(name, address);
    const id = randomBytes(32).toString("base64url");
    const csrf = randomBytes(24).toString("base64url");
    await this.db.delete(sessions).where(lt(sessions.expiresAt, now));
    await atomically(this.db, (tx) => [
      tx.insert(sessions).values({
        idHash: hashId(id),
        user: found.name,
        csrf,
        createdAt: now,
        expiresAt: now + Math.min(this.#idleMs, SESSION_TTL_MS),
      }),
      entry(tx, `user:${found.name}`, "login", undefined, { address }),
    ]);
    return {
      id,
      csrf,
      user: found.name,
      role: found.role as Role,
      maxAgeSeconds: SESSION_TTL_MS / 1000,
      idleMinutes: this.#idleMs / 60_000,
    };
  }

  /** The principal and CSRF token of a live session. */
  async session(
    id: string,
    now = Date.now(),
    lastInputMsAgo?: number,
  ): Promise<{ principal: Principal; csrf: string } | undefined> {
    const s = await this.sessionState(id, now, lastInputMsAgo);
    return "ended" in s ? undefined : s;
  }

  /**
   * A session's principal and CSRF token, or why there is none: `expired` for one that went unused for the
   * idle time or is 12 hours old, `none` for an id that names no session (logged out, replaced, never was)
   * or a user disabled or gone. A use slides the session's end to the idle time after it (never past 12
   * hours from the login), written only when that moves it by a minute or more, so a busy console costs a
   * write a minute, not one a request. The use is `lastInputMsAgo` before `now` when the console says so
   * (its screens refresh by themselves: a tab left open must not keep its session for ever), else now.
   */
  async sessionState(
    id: string,
    now = Date.now(),
    lastInputMsAgo?: number,
  ): Promise<{ principal: Principal; csrf: string } | { ended: "expired" | "none" }> {
    const s = await this.db.query.sessions.findFirst({ where: eq(sessions.idHash, hashId(id)) });
    if (!s) return { ended: "none" };
    if (s.expiresAt < now) return { ended: "expired" };
    const user = await this.db.query.users.findFirst({ where: eq(users.name, s.user) });
    if (!user || user.disabledAt) return { ended: "none" };
    const usedAt = now - Math.max(0, lastInputMsAgo ?? 0);
    const slid = Math.min(s.createdAt + SESSION_TTL_MS, usedAt + this.#idleMs);
    if (slid - s.expiresAt >= this.#slideMs) {
      await this.db.update(sessions).set({ expiresAt: slid }).where(eq(sessions.idHash, s.idHash));
    }
    return {
      principal: { kind: "user", id: user.name, name: user.name, role: user.role as Role, session: s.idHash },
      csrf: s.csrf,
    };
  }

  /**
   * A user's own password change, from a console session: the current password, then a new one under the
   * same rule as everywhere (at least 10 characters, and not the current one). It ends the user's other
   * sessions (one opened with a leaked password must not outlive the change) and keeps `session`, the one
   * it came from; audited as `user.password.change` (how many sessions ended, never a password). A wrong
   * current password is audited as `user.password.change.failed`, and 5 of them within a minute lock the
   * change for that session for a minute (a session left open must not become a way to guess the password).
   */
  async changePassword(
    name: string,
    session: string,
    current: string,
    password: string,
    now = Date.now(),
  ): Promise<{ sessionsEnded: number }> {
    const until = this.#changeThrottle.begin(name, session, now);
    if (until !== undefined) {
      throw new UserError(
        `too many wrong current passwords; try again in ${Math.ceil((until - now) / 1000)} s`,
      );
    }
    let matches = false;
    let user: typeof users.$inferSelect;
    try {
      user = await this.#user(name);
      matches = await argon2Verify({ password: current, hash: user.passwordHash });
    } finally {
      this.#changeThrottle.end(name, session);
    }
    if (!matches) {
      this.#changeThrottle.fail(name, session, now);
      await entry(this.db, `user:${name}`, "user.password.change.failed", name);
      throw new UserError("the current password is wrong: nothing was changed");
    }
    this.#changeThrottle.succeed(name, session);
    if (password.length < 10) throw new UserError("use a password of at least 10 characters");
    if (password === current) throw new UserError("choose a new password other than the current one");
    const passwordHash = await hashPassword(password);
    const others = and(eq(sessions.user, name), ne(sessions.idHash, session));
    // Counted for the audit entry just before; a session opened in between is ended all the same.
    const sessionsEnded = (await this.db.select({ id: sessions.idHash }).from(sessions).where(others)).length;
    await atomically(this.db, (tx) => [
      tx.update(users).set({ passwordHash }).where(eq(users.name, name)),
      tx.delete(sessions).where(others),
      entry(tx, `user:${name}`, "user.password.change", name, { sessionsEnded }),
    ]);
    return { sessionsEnded };
  }

  /**
   * Ends a session, audited as its user's `logout` with the address (and `reason: "replaced"` for the
   * session a new login in the same browser replaces). An id that names no session does nothing.
   */
  async logout(id: string, address: string, reason?: "replaced"): Promise<void> {
    const s = await this.db.query.sessions.findFirst({ where: eq(sessions.idHash, hashId(id)) });
    if (!s) return;
    await atomically(this.db, (tx) => [
      tx.delete(sessions).where(eq(sessions.idHash, hashId(id))),
      entry(tx, `user:${s.user}`, "logout", undefined, { address, ...(reason ? { reason } : {}) }),
    ]);
  }
}

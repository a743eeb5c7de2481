/**
 * Credential rotation without re-enrollment. The hub that holds a site's session makes a new credential
 * (accepted from then on beside the current one), hands it to the agent over the tunnel (the `credential`
 * request, only to an agent whose hello names the `credential` feature), and the agent saves it durably
 * before it answers. On the answer the replaced credential stays accepted for a grace period, or until
 * the agent connects with the new one; without an answer (the session cut, the agent killed, a timeout)
 * both stay accepted until the agent connects with the new one, so that no crash between the two steps
 * locks the site out. An explicit refusal from the agent undoes the rotation.
 *
 * The admin CLI (no tunnel of its own) and a hub that does not hold the site ask by a row in
 * `credential_rotations`: the hub holding the site takes it, does the rotation and records the outcome,
 * which the asker reads back. Neither the credential nor its hash is ever logged, audited or recorded there.
 */
import { randomUUID } from "node:crypto";
import { and, eq, gt, gte, lt, ne, notInArray, or } from "drizzle-orm";
import { FEATURE_CREDENTIAL, Reason } from "@conduit/shared/tunnel";
import type { Logger } from "@conduit/shared/log";
import type { HubDb } from "../db/db.ts";
import { credentialRotations, hubs } from "../db/schema.ts";
import type { Sessions } from "../tunnel/sessions.ts";
import { UnknownSiteError } from "../tunnel/errors.ts";
import { SiteError, type SiteRegistry } from "./registry.ts";
import { dbFailureReason } from "../db/errors.ts";

/** How a rotation ended: the agent saved the new credential, its answer did not come, or nothing changed. */
export type RotationOutcome = "confirmed" | "unconfirmed" | "refused";

export interface RotationResult {
  site: string;
  outcome: RotationOutcome;
  message: string;
  /** When the agent confirmed (confirmed). */
  rotatedAt?: string;
  /** Until when the replaced credential is still accepted, at most (confirmed). */
  oldCredentialUntil?: string;
}

export interface RotationOptions {
  /** How long a replaced credential stays accepted once the agent confirmed the new one. */
  graceMs: number;
  /** How long the agent has to save and answer. */
  answerMs?: number;
  /** This hub, in the rows it takes. */
  hubId?: string;
  /**
   * Rotate on a schedule: each site this hub holds whose credential is older than this (since its last
   * rotation, else its enrollment), if its agent takes a credential over the tunnel. Undefined: never.
   */
  autoEveryMs?: number;
}

/** The actor of scheduled rotations in the audit log. */
export const SCHEDULE_ACTOR = "hub";
/** A scheduled rotation that did not succeed is tried again after this long (at most). */
const AUTO_RETRY_MS = 3600_000;

const DEFAULT_ANSWER_MS = 30_000;
/** A request no hub took within this long is withdrawn (by its asker, or by a hub if the asker went away). */
const PICKUP_MS = 15_000;
/** A request still `running` this long after it was asked: the hub doing it stopped on the way. */
const STALE_RUNNING_MS = DEFAULT_ANSWER_MS + 60_000;
/** A hub of a cluster whose heartbeat is this old is gone (its leases, 6 s, have run out). */
const HUB_GONE_MS = 15_000;
/** Finished requests are kept this long (they hold no secret: who asked, when, and how it ended). */
const KEEP_FINISHED_MS = 30 * 24 * 3600_000;

const iso = (ms: number) => new Date(ms).toISOString();

export class CredentialRotation {
  readonly #inFlight = new Set<string>();
  /** This hub in the requests it takes: its cluster id, or one of this process's (a hub on its own file). */
  readonly #hubId: string;
  #timer?: ReturnType<typeof setInterval>;
  #picking = false;

  constructor(
    private readonly db: HubDb,
    private readonly registry: SiteRegistry,
    private readonly sessions: Sessions,
    private readonly log: Logger,
    private readonly options: RotationOptions,
  ) {
    this.#hubId = options.hubId ?? `hub-${randomUUID()}`;
  }

  /** Rotates the credential of `site`, here if this hub holds its session, else through the hub that does. */
  async rotate(site: string, actor: string): Promise<RotationResult> {
    if (this.sessions.get(site)) return await this.run(site, actor);
    return await requestRotation(this.db, this.registry, site, actor);
  }

  /** Rotates the credential of a site whose session this hub holds. */
  async run(site: string, actor: string): Promise<RotationResult> {
    if (this.#inFlight.has(site)) {
      return refused(site, `a rotation of site ${site} is under way; nothing was changed`);
    }
    this.#inFlight.add(site);
    try {
      return await this.#run(site, actor);
    } finally {
      this.#inFlight.delete(site);
    }
  }

  async #run(site: string, actor: string): Promise<RotationResult> {
    const live = this.sessions.get(site);
    if (!live) return refused(site, `site ${site} is not connected to this hub; nothing was changed`);
    if (!this.sessions.supports(site, FEATURE_CREDENTIAL)) {
      return refused(
        site,
        `the agent of site ${site} (version ${live.agentVersion}) cannot take a new credential over the tunnel; ` +
          "upgrade it first, or revoke the site and enroll it again. Nothing was changed",
      );
    }
    let begun;
    try {
      begun = await this.registry.beginRotation(site);
    } catch (err) {
      if (err instanceof SiteError || err instanceof UnknownSiteError) return refused(site, err.message);
      throw err;
    }
    const log = this.log.child({ site });
    const answerMs = this.options.answerMs ?? DEFAULT_ANSWER_MS;
    let answer: { ok: true } | { ok: false; code: string; message: string } | undefined;
    try {
      const channel = await this.sessions.call(site, {
        op: "credential",
        credential: begun.credential,
        deadlineMs: answerMs,
      });
      const timer = setTimeout(() => channel.stream.reset("no answer in time"), answerMs + 1000);
      try {
        const reply = await channel.reply();
        answer = reply.type === "ok" ? { ok: true } : { ok: false, code: reply.code, message: reply.message };
      } finally {
        clearTimeout(timer);
        channel.stream.reset("done");
      }
    } catch (err) {
      log.warn("credential rotation: the agent's answer did not come", { reason: (err as Error).message });
    }
    if (answer?.ok) {
      const now = Date.now();
      const graceUntil = now + this.options.graceMs;
      await this.registry.confirmRotation(site, begun.hash, graceUntil, actor, now);
      log.info("site credential rotated", { actor, oldCredentialUntil: iso(graceUntil) });
      return {
        site,
        outcome: "confirmed",
        message: `site ${site} has a new credential; the old one is accepted until ${
          iso(graceUntil)
        } or until the agent connects with the new one`,
        rotatedAt: iso(now),
        oldCredentialUntil: iso(graceUntil),
      };
    }
    if (answer) {
      await this.registry.abandonRotation(site, begun.hash);
      log.warn("credential rotation refused by the agent", { code: answer.code, reason: answer.message });
      return refused(
        site,
        `the agent did not save the new credential (${answer.message}); nothing was changed`,
      );
    }
    // Saved or not, nobody knows: both credentials stay accepted, and a fresh connection settles it (the
    // newest one used ends the old one's acceptance).
    await this.registry.unconfirmedRotation(site, actor);
    this.sessions.drop(site, Reason.Normal, "credential rotation unconfirmed; connect again");
    return {
      site,
      outcome: "unconfirmed",
      message: `the agent of site ${site} did not confirm the new credential; the old and the new one are ` +
        "both accepted until it connects with the new one (rotate again if it keeps connecting with the old one)",
    };
  }

  /**
   * Takes, every `intervalMs`, the rotations asked through the database for sites this hub holds; with
   * `autoEveryMs`, looks for credentials due every minute (or sooner for a short period).
   */
  start(intervalMs = 1000): void {
    this.#timer ??= setInterval(() => void this.pickUp(), intervalMs);
    const every = this.options.autoEveryMs;
    if (every !== undefined) {
      this.#autoTimer ??= setInterval(
        () => void this.rotateDue(),
        Math.min(60_000, Math.max(500, every / 4)),
      );
    }
  }

  stop(): void {
    clearInterval(this.#timer);
    clearInterval(this.#autoTimer);
    this.#timer = this.#autoTimer = undefined;
  }

  #autoTimer?: ReturnType<typeof setInterval>;
  #autoRunning = false;
  /** When a scheduled rotation of a site last failed to confirm (refused or unconfirmed). */
  readonly #autoFailedAt = new Map<string, number>();

  /**
   * The scheduled rotations: each site held here whose credential is due, one at a time, skipping agents
   * without the feature, a rotation left unconfirmed (the agent's next connection settles it), and a site
   * whose last scheduled rotation failed within the hour.
   */
  async rotateDue(now = Date.now()): Promise<void> {
    const every = this.options.autoEveryMs;
    if (every === undefined || this.#autoRunning) return;
    this.#autoRunning = true;
    try {
      const held = this.sessions.list().map((s) => s.site)
        .filter((site) => this.sessions.supports(site, FEATURE_CREDENTIAL));
      if (held.length === 0) return;
      for (const info of await this.registry.list()) {
        if (!held.includes(info.site) || info.state !== "online" || info.rotationUnconfirmed) continue;
        const since = Date.parse(info.rotatedAt ?? info.enrolledAt ?? info.createdAt);
        if (now - since < every) continue;
        if (now - (this.#autoFailedAt.get(info.site) ?? -Infinity) < Math.min(AUTO_RETRY_MS, every)) continue;
        const result = await this.run(info.site, SCHEDULE_ACTOR);
        if (result.outcome === "confirmed") this.#autoFailedAt.delete(info.site);
        else {
          this.#autoFailedAt.set(info.site, Date.now());
          this.log.warn("scheduled credential rotation did not succeed", {
            site: info.site,
            outcome: result.outcome,
            reason: result.message,
          });
        }
      }
    } catch (err) {
      this.log.error("scheduled credential rotation failed", { err });
    } finally {
      this.#autoRunning = false;
    }
  }

  async pickUp(): Promise<void> {
    if (this.#picking) return;
    this.#picking = true;
    try {
      await this.#tidy(Date.now());
      const rows = await this.db.select().from(credentialRotations)
        .where(and(
          eq(credentialRotations.state, "requested"),
          gte(credentialRotations.requestedAt, Date.now() - PICKUP_MS),
        ));
      for (const row of rows) {
        if (!this.sessions.get(row.site) || this.#inFlight.has(row.site)) continue;
        const taken = await this.db.update(credentialRotations)
          .set({ state: "running", hubId: this.#hubId })
          .where(and(eq(credentialRotations.id, row.id), eq(credentialRotations.state, "requested")))
          .returning({ id: credentialRotations.id });
        if (taken.length === 0) continue;
        void this.#answer(row.id, row.site, row.actor);
      }
    } catch (err) {
      this.log.error("credential rotation requests could not be read", { reason: dbFailureReason(err) });
    } finally {
      this.#picking = false;
    }
  }

  /**
   * Requests nobody took in time are withdrawn (their asker went away: a rotation nobody waits for is not
   * done later by surprise); those a hub took and never finished (it stopped on the way) are marked
   * unconfirmed; finished ones go after a while.
   */
  async #tidy(now: number): Promise<void> {
    await this.db.update(credentialRotations)
      .set({ state: "expired", finishedAt: now, message: "no hub took the request" })
      .where(and(
        eq(credentialRotations.state, "requested"),
        lt(credentialRotations.requestedAt, now - PICKUP_MS),
      ));
    // Taken by a hub that is gone (this file's hub before a restart; a cluster's hub whose heartbeat stopped),
    // or running far longer than a rotation can: the hub stopped on the way. Whether the agent saved the new
    // credential nobody knows; both stay accepted (registry.beginRotation), as for a lost answer.
    const gone = this.db.engine === "sqlite" ? ne(credentialRotations.hubId, this.#hubId) : notInArray(
      credentialRotations.hubId,
      this.db.select({ id: hubs.id }).from(hubs).where(gt(hubs.heartbeatAt, now - HUB_GONE_MS)),
    );
    const stopped = await this.db.update(credentialRotations)
      .set({
        state: "unconfirmed",
        finishedAt: now,
        message: "the hub doing the rotation stopped on the way; see admin site list",
      })
      .where(and(
        eq(credentialRotations.state, "running"),
        or(gone, lt(credentialRotations.requestedAt, now - STALE_RUNNING_MS)),
      ))
      .returning({ site: credentialRotations.site, actor: credentialRotations.actor });
    for (const { site, actor } of stopped) {
      this.log.warn("credential rotation left unfinished by a stopped hub", { site });
      await this.registry.unconfirmedRotation(site, actor);
    }
    await this.db.delete(credentialRotations).where(
      lt(credentialRotations.finishedAt, now - KEEP_FINISHED_MS),
    );
  }

  async #answer(id: string, site: string, actor: string): Promise<void> {
    let result: RotationResult;
    try {
      result = await this.run(site, actor);
    } catch (err) {
      this.log.error("credential rotation failed", { site, err });
      result = {
        site,
        outcome: "unconfirmed",
        message: `the hub failed during the rotation: ${(err as Error).message}`,
      };
    }
    try {
      await this.db.update(credentialRotations).set({
        state: result.outcome === "confirmed" ? "done" : result.outcome,
        message: result.message,
        finishedAt: Date.now(),
        graceUntil: result.oldCredentialUntil ? Date.parse(result.oldCredentialUntil) : null,
      }).where(eq(credentialRotations.id, id));
    } catch (err) {
      this.log.error("credential rotation outcome could not be recorded", { site, err });
    }
  }
}

function refused(site: string, message: string): RotationResult {
  return { site, outcome: "refused", message };
}

/**
 * Asks the hub that holds `site` to rotate its credential (a row in `credential_rotations`) and waits for
 * the outcome. Refused at once when the site is not online; refused when no hub takes the request within
 * `pickupMs` (no hub running), the request then withdrawn so that none takes it later.
 */
export async function requestRotation(
  db: HubDb,
  registry: SiteRegistry,
  site: string,
  actor: string,
  opts: { pickupMs?: number; answerMs?: number; pollMs?: number } = {},
): Promise<RotationResult> {
  const row = await registry.get(site);
  if (!row || row.state === "revoked") throw new UnknownSiteError(`no site named ${site}`);
  if (row.state === "pending") {
    return refused(site, `site ${site} has not enrolled yet: it has no credential to rotate`);
  }
  if (row.state !== "online") {
    const since = row.lastSeenAt ? ` (last seen ${iso(row.lastSeenAt)})` : "";
    return refused(
      site,
      `site ${site} is offline${since}: a new credential is handed only to a connected agent; ` +
        "rotate when it is back online. Nothing was changed",
    );
  }
  const id = randomUUID();
  const requestedAt = Date.now();
  await db.insert(credentialRotations).values({ id, site, actor, state: "requested", requestedAt });
  const pickupMs = opts.pickupMs ?? PICKUP_MS;
  const answerMs = opts.answerMs ?? DEFAULT_ANSWER_MS + 15_000;
  const pollMs = opts.pollMs ?? 200;
  let takenAt: number | undefined;
  while (true) {
    await new Promise((r) => setTimeout(r, pollMs));
    const now = Date.now();
    const current = await db.query.credentialRotations.findFirst({ where: eq(credentialRotations.id, id) });
    if (!current) return refused(site, "the rotation request disappeared; nothing was changed");
    if (current.state === "requested") {
      if (now - requestedAt < pickupMs) continue;
      const withdrawn = await db.update(credentialRotations).set({
        state: "expired",
        finishedAt: now,
        message: "no hub took the request",
      }).where(and(eq(credentialRotations.id, id), eq(credentialRotations.state, "requested")))
        .returning({ id: credentialRotations.id });
      if (withdrawn.length) {
        return refused(
          site,
          `no running hub holding site ${site} took the request within ${
            Math.round(pickupMs / 1000)
          } s (is the hub running?); nothing was changed`,
        );
      }
      continue;
    }
    if (current.state === "running") {
      takenAt ??= now;
      if (now - takenAt < answerMs) continue;
      return {
        site,
        outcome: "unconfirmed",
        message: `the hub holding site ${site} has not finished the rotation yet; see admin site list`,
      };
    }
    const outcome: RotationOutcome = current.state === "done"
      ? "confirmed"
      : current.state === "unconfirmed"
      ? "unconfirmed"
      : "refused";
    const rotatedAt = outcome === "confirmed" ? (await registry.get(site))?.credentialRotatedAt : undefined;
    return {
      site,
      outcome,
      message: current.message ?? outcome,
      ...(rotatedAt ? { rotatedAt: iso(rotatedAt) } : {}),
      ...(current.graceUntil ? { oldCredentialUntil: iso(current.graceUntil) } : {}),
    };
  }
}

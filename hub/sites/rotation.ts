/**
 * Credential rotation without re-enrollment. The hub that holds a site's session makes a new credential
 * (accepted from then on beside the current one), hands it to the agent over the tunnel (the `credential`
 * request, only to an agent whose hello names the `credential` feature), and the agent saves it durably
 * before it answers. On the answer the replaced credential stays accepted for a grace period, or until
 * the agent connects with the new one; without an answer (the session cut, the agent killed, a timeout)
 * both stay accepted until the agent connects with the new one, so that no crash between the two steps
 * locks the site out. An explicit refusal from the agent undoes the rotation.
 *
 * This file is CredentialRotation, which the hub holds; a rotation asked through the database (the admin CLI,
 * another hub) reads on in rotation_requests.ts, and what a rotation answers is in rotation_outcome.ts.
 */
import { randomUUID } from "node:crypto";
import { FEATURE_CREDENTIAL, Reason, versionWithout } from "@conduit/shared/tunnel";
import type { Logger } from "@conduit/shared/log";
import type { HubDb } from "../db/db.ts";
import type { Sessions } from "../tunnel/sessions.ts";
import { UnknownSiteError } from "../tunnel/errors.ts";
import { SiteError, type SiteRegistry } from "./registry.ts";
import { dbFailureReason } from "../db/errors.ts";
import { DEFAULT_ANSWER_MS, iso, refused, type RotationResult } from "./rotation_outcome.ts";
import { requestRotation, takeRequests, type Taking } from "./rotation_requests.ts";

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

export class CredentialRotation {
  readonly #inFlight = new Set<string>();
  /** This hub in the requests it takes: its cluster id, or one of this process's (a hub on its own file). */
  readonly #hubId: string;
  #timer?: ReturnType<typeof setInterval>;
  #picking = false;
  /** What taking the requests reads of this (rotation_requests.ts). */
  readonly #taking: Taking;

  constructor(
    private readonly db: HubDb,
    private readonly registry: SiteRegistry,
    private readonly sessions: Sessions,
    private readonly log: Logger,
    private readonly options: RotationOptions,
  ) {
    this.#hubId = options.hubId ?? `hub-${randomUUID()}`;
    this.#taking = {
      db,
      registry,
      sessions,
      log,
      hubId: this.#hubId,
      inFlight: (site) => this.#inFlight.has(site),
      run: (site, actor) => this.run(site, actor),
    };
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
        `the agent of site ${site} (version ${
          versionWithout(live.agentVersion, FEATURE_CREDENTIAL)
        }) cannot take a new credential over the tunnel; ` +
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
      if (!await this.registry.confirmRotation(site, begun.hash, graceUntil, actor, now)) {
        log.warn(
          "credential rotation: the site changed meanwhile (revoked, or rotated again); not confirmed",
        );
        return refused(
          site,
          `site ${site} changed while its agent saved the new credential (it was revoked, or rotated again); ` +
            "this rotation was not confirmed",
        );
      }
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
      await takeRequests(this.#taking);
    } catch (err) {
      this.log.error("credential rotation requests could not be read", { reason: dbFailureReason(err) });
    } finally {
      this.#picking = false;
    }
  }
}

/**
 * The admin CLI (no tunnel of its own) and a hub that does not hold the site ask by a row in
 * `credential_rotations`: the hub holding the site takes it, does the rotation and records the outcome,
 * which the asker reads back. Neither the credential nor its hash is ever logged, audited or recorded there.
 *
 * The asker's side is requestRotation(); the holder's, takeRequests() (CredentialRotation.pickUp runs it).
 */
import { randomUUID } from "node:crypto";
import { and, eq, gt, gte, lt, ne, notInArray, or } from "drizzle-orm";
import type { Logger } from "@conduit/shared/log";
import type { HubDb } from "../db/db.ts";
import { credentialRotations, hubs } from "../db/schema.ts";
import type { Sessions } from "../tunnel/sessions.ts";
import { UnknownSiteError } from "../tunnel/errors.ts";
import type { SiteRegistry } from "./registry.ts";
import {
  DEFAULT_ANSWER_MS,
  iso,
  refused,
  type RotationOutcome,
  type RotationResult,
} from "./rotation_outcome.ts";

/** A request no hub took within this long is withdrawn (by its asker, or by a hub if the asker went away). */
const PICKUP_MS = 15_000;
/** A request still `running` this long after it was asked: the hub doing it stopped on the way. */
const STALE_RUNNING_MS = DEFAULT_ANSWER_MS + 60_000;
/** A hub of a cluster whose heartbeat is this old is gone (its leases, 6 s, have run out). */
const HUB_GONE_MS = 15_000;
/** Finished requests are kept this long (they hold no secret: who asked, when, and how it ended). */
const KEEP_FINISHED_MS = 30 * 24 * 3600_000;

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

/** What taking the requests reads of CredentialRotation. */
export interface Taking {
  readonly db: HubDb;
  readonly registry: SiteRegistry;
  readonly sessions: Sessions;
  readonly log: Logger;
  /** This hub in the requests it takes. */
  readonly hubId: string;
  /** Whether a rotation of `site` is under way here. */
  inFlight(site: string): boolean;
  /** Rotates the credential of a site whose session this hub holds. */
  run(site: string, actor: string): Promise<RotationResult>;
}

/** Takes the requests asked through the database for sites this hub holds, and does them. */
export async function takeRequests(t: Taking): Promise<void> {
  await tidy(t, Date.now());
  const rows = await t.db.select().from(credentialRotations)
    .where(and(
      eq(credentialRotations.state, "requested"),
      gte(credentialRotations.requestedAt, Date.now() - PICKUP_MS),
    ));
  for (const row of rows) {
    if (!t.sessions.get(row.site) || t.inFlight(row.site)) continue;
    const taken = await t.db.update(credentialRotations)
      .set({ state: "running", hubId: t.hubId })
      .where(and(eq(credentialRotations.id, row.id), eq(credentialRotations.state, "requested")))
      .returning({ id: credentialRotations.id });
    if (taken.length === 0) continue;
    void answer(t, row.id, row.site, row.actor);
  }
}

/**
 * Requests nobody took in time are withdrawn (their asker went away: a rotation nobody waits for is not
 * done later by surprise); those a hub took and never finished (it stopped on the way) are marked
 * unconfirmed; finished ones go after a while.
 */
async function tidy(t: Taking, now: number): Promise<void> {
  await t.db.update(credentialRotations)
    .set({ state: "expired", finishedAt: now, message: "no hub took the request" })
    .where(and(
      eq(credentialRotations.state, "requested"),
      lt(credentialRotations.requestedAt, now - PICKUP_MS),
    ));
  // Taken by a hub that is gone (this file's hub before a restart; a cluster's hub whose heartbeat stopped),
  // or running far longer than a rotation can: the hub stopped on the way. Whether the agent saved the new
  // credential nobody knows; both stay accepted (registry.beginRotation), as for a lost answer.
  const gone = t.db.engine === "sqlite" ? ne(credentialRotations.hubId, t.hubId) : notInArray(
    credentialRotations.hubId,
    t.db.select({ id: hubs.id }).from(hubs).where(gt(hubs.heartbeatAt, now - HUB_GONE_MS)),
  );
  const stopped = await t.db.update(credentialRotations)
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
    t.log.warn("credential rotation left unfinished by a stopped hub", { site });
    await t.registry.unconfirmedRotation(site, actor);
  }
  await t.db.delete(credentialRotations).where(
    lt(credentialRotations.finishedAt, now - KEEP_FINISHED_MS),
  );
}

async function answer(t: Taking, id: string, site: string, actor: string): Promise<void> {
  let result: RotationResult;
  try {
    result = await t.run(site, actor);
  } catch (err) {
    t.log.error("credential rotation failed", { site, err });
    result = {
      site,
      outcome: "unconfirmed",
      message: `the hub failed during the rotation: ${(err as Error).message}`,
    };
  }
  try {
    await t.db.update(credentialRotations).set({
      state: result.outcome === "confirmed" ? "done" : result.outcome,
      message: result.message,
      finishedAt: Date.now(),
      graceUntil: result.oldCredentialUntil ? Date.parse(result.oldCredentialUntil) : null,
    }).where(eq(credentialRotations.id, id));
  } catch (err) {
    t.log.error("credential rotation outcome could not be recorded", { site, err });
  }
}

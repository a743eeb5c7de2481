/**
 * The site registry in the hub's database: adding a site (with its one-time enrollment token),
 * enrollment, credential checks, revocation, and the live facts the tunnel reports (state, last
 * seen, agent version, address, queue depth, round trip, tunnel throughput).
 */
import { and, eq, inArray, ne, type SQL, sql } from "drizzle-orm";
import type { HubDb } from "../db/db.ts";
import { type SiteRow, sites } from "../db/schema.ts";
import { newSecret, parseToken, secretMatches } from "./tokens.ts";
import { changeAudited, entry } from "../auth/audit.ts";
import { SiteNotConnectedError, UnknownSiteError } from "../tunnel/errors.ts";
import { atomically } from "../db/atomic.ts";
import { isUniqueViolation } from "../db/errors.ts";
import { commandOf } from "@conduit/shared/cli";

/** What an agent's `site` key takes (agent/config/schema.ts): a name it cannot take could never enroll. */
const SITE_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
const ENROLLMENT_TTL_MS = 7 * 24 * 3600 * 1000;

export class SiteError extends Error {
  override name = "SiteError";
}

/** A site of that name exists and is enrolled (CONFLICT on the API). */
export class SiteExistsError extends SiteError {
  override name = "SiteExistsError";
  constructor(site: string, message = "exists already and is enrolled; revoke it first to enroll it again") {
    super(`site ${site} ${message}`);
  }
}

/** What a live session last told the hub about its site. */
export interface SeenFacts {
  site: string;
  lastSeenAt: number;
  rttMs?: number;
  queueDepth?: number;
  /** Of the queue depth, objects awaiting a node's Storage Commitment report (undefined: unknown). */
  committing?: number;
  /** Of the queue depth, rows a window holds until it opens (undefined: unknown). */
  held?: number;
  /** The tunnel's bytes per second, one sample per heartbeat, the latest last (undefined: unchanged). */
  throughput?: number[];
}

/**
 * Sites per statement when writing live facts. Each statement takes the facts as one JSON parameter that
 * the database unpacks itself: a statement with a placeholder per fact cost the hub more to build than
 * anything else it does while idle (drizzle's query builder, at 5,000 sites every sync).
 */
const SEEN_CHUNK = 2000;

export type SiteState = "pending" | "offline" | "online" | "revoked";

/** What `admin site list` and the API show of a site (never a hash). */
export interface SiteInfo {
  site: string;
  state: SiteState;
  createdAt: string;
  enrolledAt: string | null;
  lastSeenAt: string | null;
  agentVersion: string | null;
  remoteAddress: string | null;
  queueDepth: number | null;
  /**
   * Of the queue depth, objects stored at a node that commits and awaiting its Storage Commitment report
   * (null: not known, an agent older than the `commitment-state` tunnel feature).
   */
  committing: number | null;
  /**
   * Of the queue depth, rows a window holds until it opens (a route's forwarding hours, a transfer's window):
   * due later, not stuck (null: not known, an agent older than the `queue-held` tunnel feature).
   */
  held: number | null;
  rttMs: number | null;
  /**
   * The tunnel's bytes per second (in and out), one sample per heartbeat, the latest last (at most 24), as
   * the hub holding it last wrote them (every sync, 2 s): the same through every hub of a cluster; empty
   * while the site is not online.
   */
  throughput: number[];
  /** When the agent last confirmed a rotated credential (null: never rotated). */
  rotatedAt: string | null;
  /** Until when a credential a rotation replaced is still accepted (null: none is, or unconfirmed). */
  oldCredentialUntil: string | null;
  /**
   * A rotation handed a credential over but the agent's answer did not come: the old one and the new
   * one are both accepted until the agent connects with the new one.
   */
  rotationUnconfirmed: boolean;
  /** The cap on everything the hub relays from the site, Mbit/s (null: none). */
  uplinkMbps: number | null;
  /** The cap on everything the hub relays to the site, Mbit/s (null: none). */
  downlinkMbps: number | null;
}

/** A credential a rotation replaced, still accepted: until `until`, or (null) until the agent uses the newest. */
interface OlderCredential {
  hash: string;
  until: number | null;
}

/** How many replaced credentials may be accepted at once (each rotation whose answer was lost adds one). */
const MAX_OLDER_CREDENTIALS = 3;

function olderOf(row: SiteRow, now = Date.now()): OlderCredential[] {
  if (!row.olderCredentials) return [];
  try {
    const list = JSON.parse(row.olderCredentials) as OlderCredential[];
    return list.filter((c) => typeof c.hash === "string" && (c.until === null || c.until > now));
  } catch {
    return [];
  }
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The samples of a site's `tunnel_throughput` column: none when offline, or when not a list of numbers. */
function throughputOf(row: SiteRow): number[] {
  if (row.state !== "online" || !row.tunnelThroughput) return [];
  try {
    const list: unknown = JSON.parse(row.tunnelThroughput);
    return Array.isArray(list) && list.every((n) => typeof n === "number" && Number.isFinite(n)) ? list : [];
  } catch {
    return [];
  }
}

function siteInfo(row: SiteRow, now = Date.now()): SiteInfo {
  const older = olderOf(row, now);
  const untils = older.map((c) => c.until).filter((u): u is number => u !== null);
  return {
    site: row.name,
    state: row.state as SiteState,
    createdAt: new Date(row.createdAt).toISOString(),
    enrolledAt: iso(row.enrolledAt),
    lastSeenAt: iso(row.lastSeenAt),
    agentVersion: row.agentVersion,
    remoteAddress: row.remoteAddress,
    queueDepth: row.queueDepth,
    committing: row.queueCommitting,
    held: row.queueHeld,
    rttMs: row.rttMs === null ? null : Math.round(row.rttMs * 10) / 10,
    throughput: throughputOf(row),
    rotatedAt: iso(row.credentialRotatedAt),
    oldCredentialUntil: untils.length ? iso(Math.max(...untils)) : null,
    rotationUnconfirmed: older.some((c) => c.until === null),
    uplinkMbps: row.uplinkMbps ?? null,
    downlinkMbps: row.downlinkMbps ?? null,
  };
}

export class SiteRegistry {
  constructor(private readonly db: HubDb) {}

  /**
   * Adds a site and returns its one-time enrollment token. Adding a site that exists but never
   * enrolled (or was revoked) issues a fresh token; an enrolled, active site is refused.
   */
  async add(
    name: string,
    now = Date.now(),
    actor = "cli",
  ): Promise<{ site: string; enrollmentToken: string; expiresAt: string }> {
    if (!SITE_NAME.test(name)) {
      throw new SiteError(
        `site name ${
          JSON.stringify(name)
        }: use lower-case letters, digits and dashes, starting with a letter or digit (at most 64), as the agent's site key does`,
      );
    }
    const existing = await this.get(name);
    if (existing && existing.state !== "pending" && existing.state !== "revoked") {
      throw new SiteExistsError(name);
    }
    const { token, hash } = newSecret("cte", name);
    const values = {
      state: "pending",
      enrollmentHash: hash,
      enrollmentExpiresAt: now + ENROLLMENT_TTL_MS,
      credentialHash: null,
      olderCredentials: null,
      credentialRotatedAt: null,
      revokedAt: null,
    };
    if (existing) {
      if (!await this.#reissue(name, values, actor)) throw new SiteExistsError(name);
      return {
        site: name,
        enrollmentToken: token,
        expiresAt: new Date(now + ENROLLMENT_TTL_MS).toISOString(),
      };
    }
    try {
      await atomically(this.db, (tx) => [
        tx.insert(sites).values({ name, createdAt: now, ...values }),
        entry(tx, actor, "site.add", name),
      ]);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // Another add of the same new name got in between the look-up and the insert: its token stands.
      throw new SiteExistsError(
        name,
        "was added by another request at the same moment; add it again for a fresh token",
      );
    }
    return { site: name, enrollmentToken: token, expiresAt: new Date(now + ENROLLMENT_TTL_MS).toISOString() };
  }

  /**
   * A fresh enrollment token for a site still pending or revoked, with its audit entry, only while it still is:
   * the state is part of the write, not only of the read before it. Until 2026-12-06 an agent enrolling between
   * the two had its new credential wiped and the site set back to pending. False, with nothing written, when
   * the site enrolled meanwhile.
   */
  async #reissue(name: string, values: Partial<SiteRow>, actor: string): Promise<boolean> {
    return await changeAudited(
      this.db,
      (tx) =>
        tx.update(sites).set(values).where(
          and(eq(sites.name, name), inArray(sites.state, ["pending", "revoked"])),
        ),
      actor,
      "site.add",
      name,
    );
  }

  async get(name: string): Promise<SiteRow | undefined> {
    return await this.db.query.sites.findFirst({ where: eq(sites.name, name) });
  }

  /**
   * The row of a site that can be asked: UnknownSiteError for a site never added or revoked,
   * SiteNotConnectedError for one whose agent never enrolled. (Whether it is online now is the
   * tunnel's business.)
   */
  async require(name: string): Promise<SiteRow> {
    const row = await this.get(name);
    if (row?.state === "revoked") {
      throw new UnknownSiteError(
        `site ${name} was revoked: nothing is asked of it (${
          commandOf("hub")
        } admin site add ${name} enrolls it again)`,
      );
    }
    if (!row) throw new UnknownSiteError(`no site named ${name}`);
    if (row.state === "pending") throw new SiteNotConnectedError(name);
    return row;
  }

  async list(): Promise<SiteInfo[]> {
    const rows = await this.db.select().from(sites).orderBy(sites.name);
    return rows.map(siteInfo);
  }

  /** Swaps a valid, unused enrollment token for a site credential (returned once, stored hashed). */
  async enroll(token: string, now = Date.now()): Promise<{ site: string; credential: string }> {
    const parsed = parseToken("cte", token);
    const row = parsed && await this.get(parsed.site);
    if (!parsed || !row || !secretMatches(parsed.secret, row.enrollmentHash)) {
      throw new SiteError("the enrollment token is not valid (unknown, already used, or revoked)");
    }
    if ((row.enrollmentExpiresAt ?? 0) < now) throw new SiteError("the enrollment token has expired");
    const { token: credential, hash } = newSecret("cts", row.name);
    // Only while the row still holds this token: of two callers presenting it at once one gets the
    // credential, and a revoke (or a fresh token) that landed since the read is not undone.
    const taken = await this.db.update(sites).set({
      state: "offline",
      enrollmentHash: null,
      enrollmentExpiresAt: null,
      credentialHash: hash,
      olderCredentials: null,
      credentialRotatedAt: null,
      enrolledAt: now,
    }).where(and(eq(sites.name, row.name), eq(sites.enrollmentHash, row.enrollmentHash!)))
      .returning({ name: sites.name });
    if (taken.length === 0) {
      throw new SiteError("the enrollment token is not valid (unknown, already used, or revoked)");
    }
    return { site: row.name, credential };
  }

  /**
   * The site a credential belongs to, or undefined if it is not valid now: the site's newest credential,
   * or one a rotation replaced while it is still accepted. The newest one used ends the acceptance of
   * every older one (the agent holds the newest: whatever happened to the rotation's answer).
   */
  async authenticate(credential: string, now = Date.now()): Promise<string | undefined> {
    const parsed = parseToken("cts", credential);
    if (!parsed) return undefined;
    const row = await this.get(parsed.site);
    if (!row || row.state === "revoked" || !row.credentialHash) return undefined;
    if (secretMatches(parsed.secret, row.credentialHash)) {
      if (row.olderCredentials !== null) {
        // Only while the row still holds this credential: a rotation begun since is not undone.
        await this.db.update(sites).set({ olderCredentials: null })
          .where(and(eq(sites.name, row.name), eq(sites.credentialHash, row.credentialHash)));
      }
      return row.name;
    }
    return olderOf(row, now).some((c) => secretMatches(parsed.secret, c.hash)) ? row.name : undefined;
  }

  /**
   * Step 1 of a rotation: a new credential for `name`, accepted from now on beside the current one
   * (which stays accepted, with no end, until the rotation is confirmed or the agent connects with
   * the new one), so that the site can connect whichever of the two its agent holds after a crash.
   * The new credential is returned once, to hand to the agent; only its hash is stored.
   */
  async beginRotation(name: string, now = Date.now()): Promise<{ credential: string; hash: string }> {
    const row = await this.get(name);
    if (!row || row.state === "revoked") throw new UnknownSiteError(`no site named ${name}`);
    if (row.state === "pending" || !row.credentialHash) {
      throw new SiteError(`site ${name} has not enrolled yet: it has no credential to rotate`);
    }
    const older = olderOf(row, now);
    if (older.filter((c) => c.until === null).length >= MAX_OLDER_CREDENTIALS) {
      throw new SiteError(
        `the last ${MAX_OLDER_CREDENTIALS} rotations of site ${name} were not confirmed by its agent; ` +
          "look at the agent's log, or revoke the site and enroll it again",
      );
    }
    const { token: credential, hash } = newSecret("cts", name);
    const list: OlderCredential[] = [...older, { hash: row.credentialHash, until: null }];
    const taken = await this.db.update(sites).set({
      credentialHash: hash,
      olderCredentials: JSON.stringify(list.slice(-MAX_OLDER_CREDENTIALS)),
    }).where(and(eq(sites.name, name), eq(sites.credentialHash, row.credentialHash)))
      .returning({ name: sites.name });
    if (taken.length === 0) {
      throw new SiteError(`site ${name} changed meanwhile (another rotation or a revoke)`);
    }
    return { credential, hash };
  }

  /**
   * Step 2: the agent saved the new credential. Every older one stays accepted until `graceUntil` (or
   * until the agent connects with the new one, whichever comes first); audited. False, with nothing written,
   * when the site no longer holds that credential (revoked, or rotated again, since step 1): until 2026-12-07
   * the rotation was then reported and audited as confirmed although nothing had changed.
   */
  async confirmRotation(
    name: string,
    hash: string,
    graceUntil: number,
    actor: string,
    now = Date.now(),
  ): Promise<boolean> {
    const row = await this.get(name);
    const older = row ? olderOf(row, now).map((c) => ({ hash: c.hash, until: graceUntil })) : [];
    return await changeAudited(
      this.db,
      (tx) =>
        tx.update(sites).set({
          olderCredentials: older.length ? JSON.stringify(older) : null,
          credentialRotatedAt: now,
        }).where(and(eq(sites.name, name), eq(sites.credentialHash, hash))),
      actor,
      "site.rotate",
      name,
      { confirmed: true, oldCredentialUntil: new Date(graceUntil).toISOString() },
    );
  }

  /** The agent answered that it did not save the new credential: the one before is the site's again. */
  async abandonRotation(name: string, hash: string): Promise<void> {
    const row = await this.get(name);
    if (!row || row.credentialHash !== hash) return;
    const older = olderOf(row);
    const previous = older.pop();
    if (!previous) return;
    await this.db.update(sites).set({
      credentialHash: previous.hash,
      olderCredentials: older.length ? JSON.stringify(older) : null,
    }).where(and(eq(sites.name, name), eq(sites.credentialHash, hash)));
  }

  /** The agent's answer did not come: both credentials stay accepted (begun in step 1); audited. */
  async unconfirmedRotation(name: string, actor: string): Promise<void> {
    await atomically(this.db, (tx) => [entry(tx, actor, "site.rotate", name, { confirmed: false })]);
  }

  /** Sets (null: clears) the site's uplink cap, in megabits per second; audited (`site.uplink`). */
  setUplink(name: string, mbps: number | null, actor = "cli"): Promise<SiteInfo> {
    return this.#setCap(name, "uplinkMbps", mbps, actor);
  }

  /** Sets (null: clears) the site's downlink cap, in megabits per second; audited (`site.downlink`). */
  setDownlink(name: string, mbps: number | null, actor = "cli"): Promise<SiteInfo> {
    return this.#setCap(name, "downlinkMbps", mbps, actor);
  }

  async #setCap(
    name: string,
    column: "uplinkMbps" | "downlinkMbps",
    mbps: number | null,
    actor: string,
  ): Promise<SiteInfo> {
    const action = column === "uplinkMbps" ? "site.uplink" : "site.downlink";
    // Not on a revoked site, also one revoked while this runs (the condition is part of the write).
    const set = await changeAudited(
      this.db,
      (tx) =>
        tx.update(sites).set({ [column]: mbps }).where(and(eq(sites.name, name), ne(sites.state, "revoked"))),
      actor,
      action,
      name,
      { [column]: mbps },
    );
    if (!set) throw new UnknownSiteError(`no site named ${name}`);
    return siteInfo((await this.get(name))!);
  }

  /**
   * Revokes a site: its credential and any enrollment token stop working (a running hub closes its session at
   * the next sync); audited. `already`: it was revoked before, and nothing changed.
   */
  async revoke(name: string, now = Date.now(), actor = "cli"): Promise<{ already: boolean }> {
    const row = await this.get(name);
    if (!row) throw new UnknownSiteError(`no site named ${name}`);
    // Only a site not revoked yet: a second revoke keeps the first one's time and writes no second audit
    // entry (until 2026-12-07 each wrote both again).
    const revoked = await changeAudited(
      this.db,
      (tx) =>
        tx.update(sites).set({
          state: "revoked",
          credentialHash: null,
          olderCredentials: null,
          enrollmentHash: null,
          enrollmentExpiresAt: null,
          revokedAt: now,
        }).where(and(eq(sites.name, name), ne(sites.state, "revoked"))),
      actor,
      "site.revoke",
      name,
    );
    return { already: !revoked };
  }

  /** Sites revoked since the hub last looked (the tunnel closes their sessions). */
  async revokedNames(): Promise<Set<string>> {
    const rows = await this.db.select({ name: sites.name }).from(sites).where(eq(sites.state, "revoked"));
    return new Set(rows.map((r) => r.name));
  }

  async connected(name: string, facts: { agentVersion: string; remoteAddress: string }, now = Date.now()) {
    // Not known until the agent says (an older one never does); no samples yet in this session.
    await this.db.update(sites).set({
      state: "online",
      lastSeenAt: now,
      queueCommitting: null,
      queueHeld: null,
      tunnelThroughput: null,
      ...facts,
    })
      // A site revoked since its agent's credential was checked stays revoked (the next sync closes the session).
      .where(and(eq(sites.name, name), ne(sites.state, "revoked")));
  }

  /**
   * The live facts of connected sites, a statement per {@link SEEN_CHUNK} sites (not one per site: a hub
   * holding thousands of sites writes them every few seconds). A fact left undefined keeps its value.
   */
  async seen(rows: SeenFacts[]) {
    for (let i = 0; i < rows.length; i += SEEN_CHUNK) {
      const json = JSON.stringify(
        rows.slice(i, i + SEEN_CHUNK).map((
          r,
        ) => [
          r.site,
          r.lastSeenAt,
          r.rttMs ?? null,
          r.queueDepth ?? null,
          r.committing ?? null,
          r.throughput ? JSON.stringify(r.throughput) : null,
          r.held ?? null,
        ]),
      );
      if (this.db.engine === "postgres") {
        const facts = sql`SELECT e->>0 AS name, (e->>1)::bigint AS seen, (e->>2)::double precision AS rtt,
          (e->>3)::bigint AS depth, (e->>4)::bigint AS committing, e->>5 AS throughput, (e->>6)::bigint AS held
          FROM json_array_elements(CAST(${json} AS json)) AS e`;
        await (this.db as unknown as { execute(q: SQL): Promise<unknown> }).execute(this.#seenUpdate(facts));
      } else {
        const facts = sql`SELECT value->>0 AS name, value->>1 AS seen, value->>2 AS rtt, value->>3 AS depth,
          value->>4 AS committing, value->>5 AS throughput, value->>6 AS held FROM json_each(${json})`;
        await this.db.run(this.#seenUpdate(facts));
      }
    }
  }

  #seenUpdate(facts: SQL): SQL {
    return sql`UPDATE ${sites} SET last_seen_at = v.seen, rtt_ms = COALESCE(v.rtt, ${sites}.rtt_ms),
      queue_depth = COALESCE(v.depth, ${sites}.queue_depth),
      queue_committing = COALESCE(v.committing, ${sites}.queue_committing),
      queue_held = COALESCE(v.held, ${sites}.queue_held),
      tunnel_throughput = COALESCE(v.throughput, ${sites}.tunnel_throughput)
      FROM (${facts}) AS v WHERE ${sites}.name = v.name`;
  }

  /** The session ended; a revoked site stays revoked. */
  async disconnected(name: string, now = Date.now()) {
    // One statement: a row revoked (or set otherwise) between a read and the write keeps its state.
    await this.db.update(sites).set({ state: "offline", lastSeenAt: now, tunnelThroughput: null }).where(
      and(eq(sites.name, name), eq(sites.state, "online")),
    );
  }

  /** At start: no session survives a hub restart. */
  async markAllOffline() {
    await this.db.update(sites).set({ state: "offline" }).where(eq(sites.state, "online"));
  }
}

/**
 * The site registry in the hub's database: adding a site (with its one-time enrollment token),
 * enrollment, credential checks, revocation, and the live facts the tunnel reports (state, last
 * seen, agent version, address, queue depth, round trip).
 */
import { and, eq, type SQL, sql } from "drizzle-orm";
import type { HubDb } from "../db/db.ts";
import { type SiteRow, sites } from "../db/schema.ts";
import { newSecret, parseToken, secretMatches } from "./tokens.ts";
import { entry } from "../auth/audit.ts";
import { SiteNotConnectedError, UnknownSiteError } from "../tunnel/errors.ts";
import { atomically } from "../db/atomic.ts";

/** What an agent's `site` key takes (agent/config/schema.ts): a name it cannot take could never enroll. */
const SITE_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
const ENROLLMENT_TTL_MS = 7 * 24 * 3600 * 1000;

export class SiteError extends Error {
  override name = "SiteError";
}

/** What a live session last told the hub about its site. */
export interface SeenFacts {
  site: string;
  lastSeenAt: number;
  rttMs?: number;
  queueDepth?: number;
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
  rttMs: number | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function siteInfo(row: SiteRow): SiteInfo {
  return {
    site: row.name,
    state: row.state as SiteState,
    createdAt: new Date(row.createdAt).toISOString(),
    enrolledAt: iso(row.enrolledAt),
    lastSeenAt: iso(row.lastSeenAt),
    agentVersion: row.agentVersion,
    remoteAddress: row.remoteAddress,
    queueDepth: row.queueDepth,
    rttMs: row.rttMs === null ? null : Math.round(row.rttMs * 10) / 10,
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
      throw new SiteError(`site ${name} exists and is enrolled; revoke it first to enroll it again`);
    }
    const { token, hash } = newSecret("cte", name);
    const values = {
      state: "pending",
      enrollmentHash: hash,
      enrollmentExpiresAt: now + ENROLLMENT_TTL_MS,
      credentialHash: null,
      revokedAt: null,
    };
    await atomically(this.db, (tx) => [
      existing
        ? tx.update(sites).set(values).where(eq(sites.name, name))
        : tx.insert(sites).values({ name, createdAt: now, ...values }),
      entry(tx, actor, "site.add", name),
    ]);
    return { site: name, enrollmentToken: token, expiresAt: new Date(now + ENROLLMENT_TTL_MS).toISOString() };
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
    if (!row || row.state === "revoked") throw new UnknownSiteError(`no site named ${name}`);
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
      enrolledAt: now,
    }).where(and(eq(sites.name, row.name), eq(sites.enrollmentHash, row.enrollmentHash!)))
      .returning({ name: sites.name });
    if (taken.length === 0) {
      throw new SiteError("the enrollment token is not valid (unknown, already used, or revoked)");
    }
    return { site: row.name, credential };
  }

  /** The site a credential belongs to, or undefined if it is not valid now. */
  async authenticate(credential: string): Promise<string | undefined> {
    const parsed = parseToken("cts", credential);
    if (!parsed) return undefined;
    const row = await this.get(parsed.site);
    if (!row || row.state === "revoked" || !secretMatches(parsed.secret, row.credentialHash)) {
      return undefined;
    }
    return row.name;
  }

  async revoke(name: string, now = Date.now(), actor = "cli"): Promise<void> {
    const row = await this.get(name);
    if (!row) throw new UnknownSiteError(`no site named ${name}`);
    await atomically(this.db, (tx) => [
      tx.update(sites).set({
        state: "revoked",
        credentialHash: null,
        enrollmentHash: null,
        enrollmentExpiresAt: null,
        revokedAt: now,
      }).where(eq(sites.name, name)),
      entry(tx, actor, "site.revoke", name),
    ]);
  }

  /** Sites revoked since the hub last looked (the tunnel closes their sessions). */
  async revokedNames(): Promise<Set<string>> {
    const rows = await this.db.select({ name: sites.name }).from(sites).where(eq(sites.state, "revoked"));
    return new Set(rows.map((r) => r.name));
  }

  async connected(name: string, facts: { agentVersion: string; remoteAddress: string }, now = Date.now()) {
    await this.db.update(sites).set({ state: "online", lastSeenAt: now, ...facts }).where(
      eq(sites.name, name),
    );
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
        ) => [r.site, r.lastSeenAt, r.rttMs ?? null, r.queueDepth ?? null]),
      );
      if (this.db.engine === "postgres") {
        const facts = sql`SELECT e->>0 AS name, (e->>1)::bigint AS seen, (e->>2)::double precision AS rtt,
          (e->>3)::bigint AS depth FROM json_array_elements(CAST(${json} AS json)) AS e`;
        await (this.db as unknown as { execute(q: SQL): Promise<unknown> }).execute(this.#seenUpdate(facts));
      } else {
        const facts = sql`SELECT value->>0 AS name, value->>1 AS seen, value->>2 AS rtt, value->>3 AS depth
          FROM json_each(${json})`;
        await this.db.run(this.#seenUpdate(facts));
      }
    }
  }

  #seenUpdate(facts: SQL): SQL {
    return sql`UPDATE ${sites} SET last_seen_at = v.seen, rtt_ms = COALESCE(v.rtt, ${sites}.rtt_ms),
      queue_depth = COALESCE(v.depth, ${sites}.queue_depth) FROM (${facts}) AS v WHERE ${sites}.name = v.name`;
  }

  /** The session ended; a revoked site stays revoked. */
  async disconnected(name: string, now = Date.now()) {
    const row = await this.get(name);
    if (!row || row.state !== "online") return;
    await this.db.update(sites).set({ state: "offline", lastSeenAt: now }).where(eq(sites.name, name));
  }

  /** At start: no session survives a hub restart. */
  async markAllOffline() {
    await this.db.update(sites).set({ state: "offline" }).where(eq(sites.state, "online"));
  }
}

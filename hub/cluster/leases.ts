/**
 * A hub's membership of a cluster in the shared database: its row in `hubs` (cluster URL, heartbeat),
 * the leases on the sites whose tunnels it holds (renewed with each beat, so a dead hub's sites are
 * free again within `leaseMs`), a snapshot of which live hub holds every other site, and the site
 * registry's online/offline state kept true to the leases.
 */
import { and, count, eq, gt, inArray, lt, ne, notInArray } from "drizzle-orm";
import { randomBytes } from "node:crypto";
import type { HubDb } from "../db/db.ts";
import { clusterSettings, hubs, siteLeases, sites } from "../db/schema.ts";

export interface Holder {
  hubId: string;
  clusterUrl: string | null;
}

export interface LeaseOptions {
  /** How long a lease and a hub's heartbeat hold without renewal. */
  leaseMs?: number;
  /** How often this hub renews its leases and reads everyone else's. */
  beatMs?: number;
}

export class ClusterLeases {
  readonly hubId = `hub-${randomBytes(6).toString("hex")}`;
  readonly leaseMs: number;
  readonly beatMs: number;
  /** Sites this hub holds now. */
  readonly #mine = new Set<string>();
  /** Sites whose claim is on its way to the database (a beat does not claim them again). */
  readonly #claiming = new Set<string>();
  /** Sites claimed since the running beat began reading the leases (newer than what it read). */
  readonly #claimedSince = new Set<string>();
  /** Every site another live hub holds, and which hub. */
  #others = new Map<string, Holder>();
  #timer?: ReturnType<typeof setInterval>;
  #beating = false;
  /** Called with each site this hub holds whose lease another hub has taken since. */
  onLost?: (site: string, holder: Holder) => void;
  /** Called after each beat that reached the database (other checks that must reach every hub soon). */
  onBeat?: () => Promise<void>;
  /**
   * When a beat last reached the database: a monotonic instant (performance.now()), never stored, so that a
   * wall clock stepped forward does not call the hub unhealthy, nor one stepped back keep it healthy.
   */
  lastBeatAt = -Infinity;
  /** Other hubs whose heartbeat was within a lease at the last beat that reached the database. */
  livePeers = 0;

  constructor(
    private readonly db: HubDb,
    private readonly self: { clusterUrl?: string; version: string },
    options: LeaseOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? 6000;
    this.beatMs = options.beatMs ?? 1000;
  }

  /** Registers this hub and starts beating. */
  async start(): Promise<void> {
    const now = Date.now();
    await this.db.insert(hubs).values({
      id: this.hubId,
      clusterUrl: this.self.clusterUrl ?? null,
      version: this.self.version,
      startedAt: now,
      heartbeatAt: now,
    });
    await this.beat();
    this.#timer = setInterval(() => void this.beat(), this.beatMs);
  }

  /** The secret the hubs of this database authenticate to each other with (made by the first hub). */
  async secret(): Promise<string> {
    await this.db.insert(clusterSettings).values({
      key: "secret",
      value: randomBytes(32).toString("base64url"),
    })
      .onConflictDoNothing();
    const row = await this.db.query.clusterSettings.findFirst({ where: eq(clusterSettings.key, "secret") });
    return row!.value;
  }

  /** This hub holds `site` now (its agent connected here): the lease moves here, whoever had it. */
  async claim(site: string): Promise<void> {
    this.#mine.add(site);
    this.#others.delete(site);
    this.#claiming.add(site);
    this.#claimedSince.add(site);
    try {
      const expiresAt = Date.now() + this.leaseMs;
      await this.db.insert(siteLeases).values({ site, hubId: this.hubId, expiresAt })
        .onConflictDoUpdate({ target: siteLeases.site, set: { hubId: this.hubId, expiresAt } });
    } finally {
      this.#claiming.delete(site);
    }
  }

  /** This hub no longer holds `site` (its session ended); a lease another hub took is left alone. */
  async release(site: string): Promise<void> {
    this.#mine.delete(site);
    await this.db.delete(siteLeases).where(and(eq(siteLeases.site, site), eq(siteLeases.hubId, this.hubId)));
  }

  /** The live hub that holds `site`, if another one does (as of the last beat, or asked now). */
  async holder(site: string, fresh = false): Promise<Holder | undefined> {
    if (this.#mine.has(site)) return undefined;
    if (!fresh) return this.#others.get(site);
    const rows = await this.db.select({ hubId: siteLeases.hubId, clusterUrl: hubs.clusterUrl })
      .from(siteLeases).innerJoin(hubs, eq(hubs.id, siteLeases.hubId))
      .where(
        and(
          eq(siteLeases.site, site),
          gt(siteLeases.expiresAt, Date.now()),
          ne(siteLeases.hubId, this.hubId),
        ),
      );
    return rows[0];
  }

  /** Whether this hub reached the database within a lease (else it may hold leases it lost). */
  get healthy(): boolean {
    return performance.now() - this.lastBeatAt < this.leaseMs;
  }

  /** Whether another live hub held `site` at the last beat. */
  heldElsewhere(site: string): boolean {
    return this.#others.has(site);
  }

  /** Every site another live hub held at the last beat. */
  elsewhere(): ReadonlyMap<string, Holder> {
    return this.#others;
  }

  /**
   * One beat: renew this hub's row and leases, read everyone else's, hand back the sites another hub
   * took, and set the registry's state from the leases (a dead hub's sites go offline).
   */
  async beat(): Promise<void> {
    if (this.#beating) return;
    this.#beating = true;
    try {
      const now = Date.now();
      const beganAt = performance.now();
      await this.db.update(hubs).set({ heartbeatAt: now }).where(eq(hubs.id, this.hubId));
      await this.db.update(siteLeases).set({ expiresAt: now + this.leaseMs }).where(
        eq(siteLeases.hubId, this.hubId),
      );
      // Other hubs' live leases, without repeating each hub's URL on every row: at thousands of sites a
      // beat a second, what is read here is most of what an idle hub allocates.
      const holders = new Map<string, Holder>();
      let peers = 0;
      const rowsOfHubs = await this.db.select({
        hubId: hubs.id,
        clusterUrl: hubs.clusterUrl,
        heartbeatAt: hubs.heartbeatAt,
      }).from(hubs);
      for (const h of rowsOfHubs) {
        holders.set(h.hubId, { hubId: h.hubId, clusterUrl: h.clusterUrl });
        if (h.hubId !== this.hubId && h.heartbeatAt > now - this.leaseMs) peers++;
      }
      this.livePeers = peers;
      // A claim still being written, or begun while the leases are read, is newer than what is read: the
      // other hub's lease seen then (a dead hub's, not yet run out) is not the site having moved there.
      this.#claimedSince.clear();
      const pending = [...this.#claiming];
      const rows = await this.db.select({ site: siteLeases.site, hubId: siteLeases.hubId }).from(siteLeases)
        .where(and(gt(siteLeases.expiresAt, now), ne(siteLeases.hubId, this.hubId)));
      const others = new Map<string, Holder>();
      for (const r of rows) {
        const holder = holders.get(r.hubId);
        if (holder) others.set(r.site, holder);
      }
      for (const site of [...pending, ...this.#claimedSince]) others.delete(site);
      this.#others = others;
      for (const site of this.#mine) {
        const holder = others.get(site);
        if (holder) this.onLost?.(site, holder);
      }
      await this.#reclaim(now);
      await this.#states(now);
      // Rows of hubs long gone, and leases that ran out.
      await this.db.delete(siteLeases).where(lt(siteLeases.expiresAt, now - this.leaseMs));
      await this.db.delete(hubs).where(lt(hubs.heartbeatAt, now - 3600_000));
      this.lastBeatAt = beganAt;
      await this.onBeat?.();
    } catch {
      // The database is away: the next beat tries again; leases held meanwhile may run out.
    } finally {
      this.#beating = false;
    }
  }

  /**
   * Claims again the sites this hub holds whose lease ran out (the database was away longer than a
   * lease) and that no other hub took meanwhile. Counts first: the list is read only when one is missing.
   */
  async #reclaim(now: number): Promise<void> {
    if (this.#mine.size === 0) return;
    const live = and(eq(siteLeases.hubId, this.hubId), gt(siteLeases.expiresAt, now));
    const [{ n }] = await this.db.select({ n: count() }).from(siteLeases).where(live);
    if (n + this.#claiming.size >= this.#mine.size) return;
    const held = new Set((await this.db.select({ site: siteLeases.site }).from(siteLeases).where(live))
      .map((r) => r.site));
    for (const site of this.#mine) {
      if (!held.has(site) && !this.#others.has(site) && !this.#claiming.has(site)) await this.claim(site);
    }
  }

  /** Online exactly the sites some live hub holds. */
  async #states(now: number): Promise<void> {
    const live = () =>
      this.db.select({ site: siteLeases.site }).from(siteLeases).where(gt(siteLeases.expiresAt, now));
    await this.db.update(sites).set({ state: "offline" }).where(
      and(eq(sites.state, "online"), notInArray(sites.name, live())),
    );
    await this.db.update(sites).set({ state: "online" }).where(
      and(eq(sites.state, "offline"), inArray(sites.name, live())),
    );
  }

  /** Stops beating and gives up this hub's leases (other hubs may take its sites at once). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#mine.clear();
    try {
      await this.db.delete(siteLeases).where(eq(siteLeases.hubId, this.hubId));
      await this.db.delete(hubs).where(eq(hubs.id, this.hubId));
    } catch { /* the leases run out by themselves */ }
  }
}

import assert from "node:assert/strict";
import { inArray } from "drizzle-orm";
import { type HubDb, openHubDb } from "../db/db.ts";
import { audit, sites } from "../db/schema.ts";
import { SiteRegistry } from "./registry.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";

Deno.test("SiteRegistry.seen() writes many sites' live facts at once, keeping a fact left undefined", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-registry-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    const registry = new SiteRegistry(db);
    // More sites than one statement takes, so the writes come in several.
    const names = Array.from({ length: 1234 }, (_, i) => `s${i}`);
    await db.insert(sites).values(names.map((name) => ({ name, state: "online", createdAt: 1 })));
    // Objects awaiting a node's commitment: an agent older than the feature says nothing (every 5th here).
    const committing = (i: number) => i % 5 === 0 ? undefined : i % 3;
    // Rows a window holds: the same (an agent older than `queue-held` says nothing: every 4th here).
    const held = (i: number) => i % 4 === 0 ? undefined : i % 6;
    await registry.seen(
      names.map((site, i) => ({
        site,
        lastSeenAt: 1000 + i,
        rttMs: i + 0.5,
        queueDepth: i,
        committing: committing(i),
        held: held(i),
        throughput: i % 7 === 0 ? undefined : [i, 2 * i, 0],
      })),
    );
    const rows = await db.select().from(sites);
    assert.equal(rows.length, names.length);
    for (const r of rows) {
      const i = Number(r.name.slice(1));
      assert.deepEqual(
        [r.lastSeenAt, r.rttMs, r.queueDepth, r.queueCommitting, r.tunnelThroughput, r.queueHeld],
        [
          1000 + i,
          i + 0.5,
          i,
          committing(i) ?? null,
          i % 7 === 0 ? null : JSON.stringify([i, 2 * i, 0]),
          held(i) ?? null,
        ],
        r.name,
      );
    }
    const listed = async (site: string) => (await registry.list()).find((s) => s.site === site)!;
    assert.equal((await listed("s7")).committing, 1);
    assert.equal((await listed("s7")).held, 1);
    assert.deepEqual((await listed("s8")).throughput, [8, 16, 0]);
    assert.deepEqual((await listed("s7")).throughput, [], "none written");
    // Only the time: the round trip and queue depth stay; a site not named is left alone.
    await registry.seen([{ site: "s7", lastSeenAt: 5000 }, { site: "gone", lastSeenAt: 5000 }]);
    const after = await db.select().from(sites).where(inArray(sites.name, ["s7", "s8", "gone"]));
    assert.deepEqual(
      after.map((r) => [r.name, r.lastSeenAt, r.rttMs, r.queueDepth]).sort(),
      [["s7", 5000, 7.5, 7], ["s8", 1008, 8.5, 8]],
    );
    assert.equal(after.find((r) => r.name === "s7")!.queueCommitting, 1, "kept too");
    assert.equal(after.find((r) => r.name === "s7")!.queueHeld, 1, "kept too");
    await registry.seen([{ site: "s8", lastSeenAt: 5000, throughput: [8, 16, 0, 5] }]);
    await registry.seen([{ site: "s8", lastSeenAt: 6000 }]);
    assert.deepEqual((await listed("s8")).throughput, [8, 16, 0, 5], "the samples kept when unsaid");
    await registry.seen([]);
    // A new session: not known until its agent says (an older agent that replaced a newer one never does).
    await registry.connected("s7", { agentVersion: "0.1.0", remoteAddress: "127.0.0.1" });
    assert.equal((await listed("s7")).committing, null);
    assert.equal((await listed("s7")).held, null);
    // Samples of a session that ended are not shown (nor kept), and a new session starts with none.
    await registry.disconnected("s8");
    assert.deepEqual((await listed("s8")).throughput, []);
    await registry.connected("s9", { agentVersion: "0.1.0", remoteAddress: "127.0.0.1" });
    assert.deepEqual((await listed("s9")).throughput, []);
    assert.equal(
      (await db.select().from(sites).where(inArray(sites.name, ["s8", "s9"]))).filter((r) =>
        r.tunnelThroughput !== null
      ).length,
      0,
    );
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SiteRegistry.add() refuses a name no agent can take as its site (lower-case, digits, dashes)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-registry-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    const registry = new SiteRegistry(db);
    // Each of these was added, and its printed command (`agent --site North_1 ...`) then failed the agent's
    // configuration: `config: site: lower-case letters, digits and dashes`.
    for (const name of ["North", "north_1", "north.1", "-north", "a".repeat(65)]) {
      await assert.rejects(
        () => registry.add(name),
        (err: Error) => err.name === "SiteError" && /lower-case letters, digits and dashes/.test(err.message),
        name,
      );
    }
    assert.equal((await registry.add("north-1")).site, "north-1");
    assert.equal((await registry.add("a".repeat(64))).site, "a".repeat(64));
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * A registry whose next `get()` runs `race.between` once after its read: a write landing between a method's read
 * of a row and its own write.
 */
function racingRegistry(db: HubDb) {
  const race: { between?: () => Promise<unknown> } = {};
  class Racing extends SiteRegistry {
    override async get(name: string) {
      const row = await super.get(name);
      const run = race.between;
      race.between = undefined;
      await run?.();
      return row;
    }
  }
  return { registry: new Racing(db), race };
}

/**
 * A fresh token for a pending site (`site add` again) while its agent enrolls with the old one: until
 * 2026-12-06 add() read the row, then wrote `pending` whatever had happened meanwhile, so an agent that
 * enrolled in between had its credential wiped and the site was set back to pending.
 */
Deno.test("SiteRegistry.add() again never undoes an enrollment that landed after its read", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-registry-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    // The agent's enrollment lands between add()'s read of the row and its write.
    const { registry, race } = racingRegistry(db);
    const { enrollmentToken } = await registry.add("north");
    let credential = "";
    race.between = async () => credential = (await registry.enroll(enrollmentToken)).credential;
    await assert.rejects(() => registry.add("north"), (err: Error) => err.name === "SiteExistsError");
    assert.ok(credential, "the enrollment ran in between");
    assert.equal((await registry.get("north"))?.state, "offline", "north stays enrolled");
    assert.equal(await registry.authenticate(credential), "north", "its credential still works");
    const added = (await db.select().from(audit)).filter((e) => e.action === "site.add");
    assert.equal(added.length, 1, "no audit entry for the add that did not happen");

    // Still pending, or revoked: a fresh token, audited, the old one no longer valid.
    const again = await registry.add("south");
    const fresh = await registry.add("south");
    assert.notEqual(fresh.enrollmentToken, again.enrollmentToken);
    await assert.rejects(() => registry.enroll(again.enrollmentToken), /not valid/);
    await registry.enroll(fresh.enrollmentToken);
    await registry.revoke("south");
    const readded = await registry.add("south");
    assert.equal((await registry.get("south"))?.state, "pending");
    await registry.enroll(readded.enrollmentToken);
    const entries = (await db.select().from(audit)).filter((e) =>
      e.action === "site.add" && e.target === "south"
    );
    assert.equal(entries.length, 3);
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * An enrollment token works once, even when two agents present it at the same moment, and an enrollment
 * still in flight when the site is revoked does not enroll it again: until 2026-12-04 `enroll()` read the
 * row, then wrote the credential whatever had happened meanwhile, so both callers got a credential (the
 * first one dead at once) and a revoke between the read and the write was undone.
 */
Deno.test("SiteRegistry.enroll() takes a token once, however many present it at once, and never undoes a revoke", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-registry-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    const registry = new SiteRegistry(db);
    const { enrollmentToken } = await registry.add("north");
    const tries = await Promise.allSettled(Array.from({ length: 5 }, () => registry.enroll(enrollmentToken)));
    const won = tries.filter((t) => t.status === "fulfilled");
    assert.equal(won.length, 1, `${won.length} enrollments with one token`);
    for (const t of tries) {
      if (t.status === "rejected") assert.match(t.reason.message, /not valid/);
    }
    const credential = (won[0] as PromiseFulfilledResult<{ credential: string }>).value.credential;
    assert.equal(await registry.authenticate(credential), "north", "the one credential handed out works");

    // A revoke that lands while an enrollment is between its read and its write.
    const second = await registry.add("south");
    const revoking = registry.revoke("south");
    const enrolling = registry.enroll(second.enrollmentToken).catch((e: Error) => e);
    await revoking;
    const result = await enrolling;
    const row = await registry.get("south");
    assert.equal(row?.state, "revoked", `south is ${row?.state} after a revoke`);
    if (!(result instanceof Error)) {
      assert.equal(
        await registry.authenticate(result.credential),
        undefined,
        "a credential of a revoked site",
      );
    }
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SiteRegistry rotation: both credentials while unconfirmed, the old one until the grace, undone on a refusal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-registry-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    const registry = new SiteRegistry(db);
    const { credential: c0 } = await registry.enroll((await registry.add("north")).enrollmentToken);
    const info = async () => (await registry.list()).find((s) => s.site === "north")!;

    // Unconfirmed (the agent's answer lost): both accepted, with no end, until the new one is used.
    const r1 = await registry.beginRotation("north");
    assert.equal(await registry.authenticate(c0, Date.now() + 365 * 86400_000), "north");
    assert.equal((await info()).rotationUnconfirmed, true);
    assert.equal(await registry.authenticate(c0), "north");
    assert.equal(await registry.authenticate(r1.credential), "north");
    assert.equal(await registry.authenticate(c0), undefined, "the new one used: the old one is refused");
    assert.equal((await info()).rotationUnconfirmed, false);

    // Confirmed: the old one until the grace period ends.
    const r2 = await registry.beginRotation("north");
    await registry.confirmRotation("north", r2.hash, 10_000, "cli", 5_000);
    assert.equal(await registry.authenticate(r1.credential, 9_999), "north");
    assert.equal(await registry.authenticate(r1.credential, 10_001), undefined);
    const listed = await info();
    assert.equal(listed.rotatedAt, new Date(5_000).toISOString());

    // No grace (after a leak): the old one is refused as soon as the agent confirms.
    const r2b = await registry.beginRotation("north");
    await registry.confirmRotation("north", r2b.hash, 20_000, "cli", 20_000);
    assert.equal(await registry.authenticate(r2.credential, 20_000), undefined);
    assert.equal(await registry.authenticate(r2b.credential, 20_000), "north");
    const r2c = await registry.beginRotation("north");
    await registry.abandonRotation("north", r2c.hash);
    assert.equal(await registry.authenticate(r2b.credential), "north");

    // Refused by the agent: the current one is the site's again, the new one never works.
    const r3 = await registry.beginRotation("north");
    await registry.abandonRotation("north", r3.hash);
    assert.equal(await registry.authenticate(r3.credential), undefined);
    assert.equal(await registry.authenticate(r2b.credential), "north");

    // Lost answers pile up to three; a fourth rotation is refused until the agent uses the newest.
    const lost = [];
    for (let i = 0; i < 3; i++) lost.push(await registry.beginRotation("north"));
    await assert.rejects(
      registry.beginRotation("north"),
      /last 3 rotations of site north were not confirmed/,
    );
    // (The newest last: using it ends the others.)
    for (const c of [r2b.credential, ...lost.map((l) => l.credential)]) {
      assert.equal(await registry.authenticate(c), "north");
    }
    // A rotation whose agent answers after the site was revoked is not confirmed, and not audited as such.
    const last = await registry.beginRotation("north");
    const confirmed = async () =>
      (await db.select().from(audit)).filter((e) =>
        e.action === "site.rotate" && e.detail?.includes('"confirmed":true')
      )
        .length;
    const before = await confirmed();
    await registry.revoke("north");
    assert.equal(await registry.confirmRotation("north", last.hash, 30_000, "cli"), false);
    // Revoked again: nothing changes, the first revoke's time and its one audit entry stay.
    const firstRevoke = (await registry.get("north"))?.revokedAt;
    assert.deepEqual(await registry.revoke("north", Date.now() + 60_000), { already: true });
    assert.equal((await registry.get("north"))?.revokedAt, firstRevoke);
    assert.equal((await db.select().from(audit)).filter((e) => e.action === "site.revoke").length, 1);
    assert.equal(await confirmed(), before, "no entry of a confirmation that did not happen");
    assert.equal(await registry.authenticate(last.credential), undefined);
    assert.equal(await registry.authenticate(lost[2].credential), undefined);
    await assert.rejects(registry.beginRotation("north"), /no site named north/);
    // Asked of (an erasure, a conflict, a transfer): it says the site was revoked, not that none is named so.
    await assert.rejects(
      registry.require("north"),
      /^UnknownSiteError: site north was revoked: nothing is asked of it \(deno task hub admin site add north/,
    );
    await assert.rejects(registry.require("nowhere"), /^UnknownSiteError: no site named nowhere$/);
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * A cap and a revoke at once: a cap is never written on a site after it was revoked (until 2026-12-07 the cap
 * read the row, then wrote, and a revoke in between got a cap and its audit entry after it).
 */
Deno.test("SiteRegistry.setUplink() never writes a cap on a site after its revoke", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-registry-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    // The revoke lands at the cap's first read of the row, wherever that is.
    const { registry, race } = racingRegistry(db);
    await registry.enroll((await registry.add("north")).enrollmentToken);
    race.between = () => registry.revoke("north");
    const capped = await registry.setUplink("north", 5).then(() => true, (e) => {
      assert.match(String(e), /no site named north/);
      return false;
    });
    assert.equal(race.between, undefined, "the revoke ran");
    const order = (await db.select().from(audit)).sort((a, b) => a.id - b.id).map((e) => e.action)
      .filter((a) => a === "site.uplink" || a === "site.revoke");
    assert.deepEqual(order, capped ? ["site.uplink", "site.revoke"] : ["site.revoke"]);
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

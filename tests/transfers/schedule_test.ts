/**
 * A transfer's time window and bandwidth cap, end to end: north's archive to south's PACS through the
 * hub, with real agents and a real storescp.
 */
import assert from "node:assert/strict";
import { readPart10Header } from "@conduit/shared/dicom";
import { eventually, hubAdmin } from "../support/hub.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { recent } from "../../hub/auth/audit.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { atPacs, finished, pacsHolding, type Rig, rig, seed, skip, stopRig } from "./_rig.ts";

if (skip) console.warn(`schedule_test: skipped: ${skip}`);

/** North's route of its MR objects to south's archive: the caps' tests relay through it (CT goes nowhere). */
const MR_TO_SOUTH = { name: "mr-to-south", match: { modality: ["MR"] }, to: [{ site: "south" }] };

// One rig for the file's tests: each seeds studies of its own (fresh seeds, so fresh UIDs) and counts what its
// own studies did, and a test that sets a cap clears it before the next.
const shared = sharedRig<Rig>({ skip, setUp: () => rig({ northRoutes: [MR_TO_SOUTH] }), stop: stopRig });

function rigTest(name: string, fn: (r: Rig) => Promise<void>) {
  shared.test(name, async (r) => {
    // Each test starts as on a hub of its own: no site's caps remembered from the tests before (a hub
    // trusts what it read for 5 s, a change made with the admin CLI included).
    r.hub.transfers.forgetSite("north");
    r.hub.transfers.forgetSite("south");
    await fn(r);
  });
}

/** The SOP Instance UIDs of a seeded study. */
async function sopsOf(series: { paths: string[] }): Promise<Set<string>> {
  const uids = new Set<string>();
  for (const p of series.paths) uids.add(readPart10Header(await Deno.readFile(p)).sopInstanceUid!);
  return uids;
}

/** What the PACS holds of `uids` (SOP Instance UID -> how many times it received it). */
async function atPacsOf(r: Rig, uids: Set<string>): Promise<Map<string, number>> {
  return new Map([...await atPacs(r)].filter(([uid]) => uids.has(uid)));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pad = (n: number) => String(n).padStart(2, "0");

/** A UTC window that opens two hours from now and lasts an hour: closed for the whole test. */
function closedWindow() {
  const at = new Date(Date.now() + 2 * 3600_000);
  const later = new Date(at.getTime() + 3600_000);
  return {
    start: `${pad(at.getUTCHours())}:${pad(at.getUTCMinutes())}`,
    end: `${pad(later.getUTCHours())}:${pad(later.getUTCMinutes())}`,
    timeZone: "UTC",
  };
}

interface QueueRow {
  sopInstanceUid: string;
  route: string;
  state: string;
  attempts: number;
  nextAttemptAt: number;
  doneAt: number | null;
}

async function northRows(r: Rig, state: string, destination: string): Promise<QueueRow[]> {
  const q = new URLSearchParams({ state, destination, limit: "1000" });
  return await (await r.north.http(`/queue?${q}`)).json();
}

/** North's destination for south's PACS. */
const PACS = encodeURIComponent("@south/pacs");

rigTest(
  "outside its time window a transfer starts nothing and its source holds what it queued; clearing the window lets it go",
  async (r) => {
    const window = closedWindow();
    const first = await seed(r, "w-a", 6);
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [first.studyUid],
      window,
    });
    await sleep(2500); // more than two passes of the hub's scheduler
    const waiting = await r.client.transfers.get.query({ id });
    assert.equal(waiting.status, "pending");
    assert.equal(waiting.tasks[0].status, "pending");
    assert.deepEqual(waiting.window, window);
    const opens = Date.parse(waiting.waitingUntil!);
    assert.ok(
      opens > Date.now() + 3600_000 && opens <= Date.now() + 2 * 3600_000 + 60_000,
      waiting.waitingUntil,
    );
    assert.equal((await atPacs(r)).size, 0);
    const cleared = await r.client.transfers.schedule.mutate({ id, window: null });
    assert.equal(cleared.window, undefined);
    assert.equal((await finished(r, id)).status, "success");
    assert.equal((await pacsHolding(r, 6)).size, 6);

    // Objects already queued at the source when the window closes are held there, without using up
    // their attempts, and go when it opens.
    const second = await seed(r, "w-b", 5); // CT: the file's MR route would relay an MR study to south too
    assert.equal((await r.north.http(`/queue/pause/${PACS}`, { method: "POST" })).status, 200);
    const job = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [second.studyUid],
    });
    await eventually("queued at north", async () => {
      const t = await r.client.transfers.get.query({ id: job.id });
      return t.tasks[0].status === "queued" || undefined;
    });
    const held = await r.client.transfers.schedule.mutate({ id: job.id, window });
    const until = Date.parse(held.waitingUntil!);
    await eventually("held at north", async () => {
      const rows = (await northRows(r, "pending", "@south/pacs")).filter((row) =>
        row.route.startsWith("transfer:")
      );
      return rows.length === 5 && rows.every((row) => row.nextAttemptAt >= until - 60_000) || undefined;
    });
    assert.equal((await r.north.http(`/queue/resume/${PACS}`, { method: "POST" })).status, 200);
    await sleep(2500);
    const still = (await northRows(r, "pending", "@south/pacs")).filter((row) =>
      row.route.startsWith("transfer:")
    );
    assert.equal(still.length, 5, "nothing left north while the window was closed");
    assert.ok(still.every((row) => row.attempts === 0), "holding used no attempt");
    assert.equal((await atPacs(r)).size, 6);
    await r.client.transfers.schedule.mutate({ id: job.id, window: null });
    assert.equal((await finished(r, job.id)).status, "success");
    assert.equal((await pacsHolding(r, 11)).size, 11);

    // A bad window is refused with what is wrong.
    await assert.rejects(
      r.client.transfers.schedule.mutate({ id: job.id, window: { start: "25:00", end: "06:00" } }),
      /HH:MM/,
    );
    await assert.rejects(
      r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south" },
        studies: [second.studyUid],
        window: { start: "19:00", end: "06:00", timeZone: "Nowhere/Atlantis" },
      }),
      /IANA time zone/,
    );
  },
);

rigTest("a transfer's bandwidth cap holds its relayed bytes to the rate asked", async (r) => {
  const study = await seed(r, "bw", 12, "CT", 512); // 12 objects of about 0.5 MB
  const mbps = 16; // 2 MB/s
  const { id } = await r.client.transfers.create.mutate({
    source: { site: "north" },
    destination: { site: "south" },
    studies: [study.studyUid],
    bandwidthMbps: mbps,
  });
  const done = await finished(r, id);
  assert.equal(done.status, "success");
  assert.equal(done.bandwidthMbps, mbps);
  const rows = (await northRows(r, "done", "@south")).filter((row) => row.route.startsWith("transfer:"));
  assert.equal(rows.length, 12);
  // From the job's creation to the last acknowledgement (objects travel 8 at a time, sharing the cap,
  // so they finish together: the span between acknowledgements says little). About 6.3 MB at 2 MB/s,
  // less a quarter second's burst: about 3 s. Uncapped, the same objects cross loopback in well under
  // a second.
  const seconds = (Math.max(...rows.map((row) => row.doneAt!)) - Date.parse(done.createdAt)) / 1000;
  const megabytes = study.bytes / 1e6;
  assert.ok(seconds >= 0.8 * (megabytes - 0.5) / 2, `${seconds.toFixed(2)} s for ${megabytes.toFixed(1)} MB`);
  assert.ok(seconds < 30, `${seconds.toFixed(2)} s`);
});

const WEEK = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

/** A zone where it is now well inside the day (02:00 to 21:59), and today's day of the week there. */
function dayZone(): { timeZone: string; today: (typeof WEEK)[number] } {
  for (const timeZone of ["UTC", "Asia/Tokyo", "America/Los_Angeles"]) {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone,
      weekday: "short",
      hour: "2-digit",
      hourCycle: "h23",
    })
      .formatToParts(new Date());
    const hour = Number(parts.find((p) => p.type === "hour")!.value);
    const day = parts.find((p) => p.type === "weekday")!.value.toLowerCase().slice(0, 3);
    if (hour >= 2 && hour <= 21) return { timeZone, today: day as (typeof WEEK)[number] };
  }
  throw new Error("unreachable: one of three zones 8 and 9 hours apart is inside its day");
}

rigTest(
  "a weekday window holds a job on the days it does not name, and lets it go on one it names",
  async (r) => {
    const { timeZone, today } = dayZone();
    const others = WEEK.filter((d) => d !== today);
    // Whole days but today, and the nights that start on them: closed now, whatever the hour.
    const closed = [
      { start: "00:00", end: "00:00", timeZone, days: others.slice(0, 3) },
      { start: "20:00", end: "02:00", timeZone, days: others.slice(3) },
    ];
    const study = await seed(r, "wd-a", 4);
    const uids = await sopsOf(study);
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [study.studyUid],
      window: closed,
    });
    await sleep(2500); // more than two passes of the hub's scheduler
    const waiting = await r.client.transfers.get.query({ id });
    assert.equal(waiting.status, "pending");
    assert.equal(waiting.tasks[0].status, "pending");
    assert.deepEqual(waiting.window, closed);
    assert.ok(Date.parse(waiting.waitingUntil!) > Date.now() + 3600_000, waiting.waitingUntil);
    assert.equal((await atPacsOf(r, uids)).size, 0);
    // A window of today only (named in the job's zone): the job goes now.
    const opened = await r.client.transfers.schedule.mutate({
      id,
      window: { start: "00:00", end: "00:00", timeZone, days: [today] },
    });
    assert.deepEqual(opened.window, { start: "00:00", end: "00:00", timeZone, days: [today] });
    assert.equal(opened.waitingUntil, undefined);
    assert.equal((await finished(r, id)).status, "success");
    const held = await eventually("the study's 4 objects at the PACS", async () => {
      const pacs = await atPacsOf(r, uids);
      return pacs.size >= 4 ? pacs : undefined;
    });
    assert.equal(held.size, 4);
    // A day that is not one is refused with what is wrong.
    await assert.rejects(
      r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south" },
        studies: [study.studyUid],
        window: { start: "19:00", end: "07:00", days: ["monday" as "mon"] },
      }),
      /"monday" is not a day: use sun, mon/,
    );
  },
);

rigTest(
  "a site's uplink cap holds two jobs from it together to the rate asked, and is audited",
  async (r) => {
    const admin = createConduitClient({
      url: r.url,
      token: (await r.hub.tokens.create("boss", "admin")).token,
    });
    const mbps = 16; // 2 MB/s for everything north relays
    const set = await admin.site.setUplink.mutate({ site: "north", uplinkMbps: mbps });
    assert.equal(set.uplinkMbps, mbps);
    assert.equal((await r.client.sites.list.query()).find((s) => s.site === "north")!.uplinkMbps, mbps);
    // Only an admin sets it.
    await assert.rejects(
      r.client.site.setUplink.mutate({ site: "north", uplinkMbps: 1 }),
      /needs the admin role/,
    );
    const a = await seed(r, "cap-a", 8, "CT", 512); // 8 objects of about 0.5 MB each
    const b = await seed(r, "cap-b", 8, "CT", 512); // CT too: the file's MR route would relay an MR study
    const ours = new Set([...await sopsOf(a), ...await sopsOf(b)]);
    const started = Date.now();
    const jobs = await Promise.all([
      // Its own cap is above the site's: the site's, the lower, sets the pace.
      r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south" },
        studies: [a.studyUid],
        bandwidthMbps: 80,
      }),
      r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south" },
        studies: [b.studyUid],
      }),
    ]);
    for (const job of jobs) assert.equal((await finished(r, job.id)).status, "success");
    const rows = (await northRows(r, "done", "@south")).filter((row) =>
      row.route.startsWith("transfer:") && ours.has(row.sopInstanceUid)
    );
    assert.equal(rows.length, 16);
    // About 8.4 MB at 2 MB/s, less a quarter second's burst: about 4 s for both jobs together (each alone
    // would be uncapped by itself; uncapped, they cross loopback in well under a second).
    const seconds = (Math.max(...rows.map((row) => row.doneAt!)) - started) / 1000;
    const megabytes = (a.bytes + b.bytes) / 1e6;
    assert.ok(
      seconds >= 0.8 * (megabytes - 0.5) / 2,
      `${seconds.toFixed(2)} s for ${megabytes.toFixed(1)} MB`,
    );
    assert.ok(seconds < 60, `${seconds.toFixed(2)} s`);

    // Cleared, it is no longer shown nor applied (the next object relayed goes uncapped).
    const cleared = await admin.site.setUplink.mutate({ site: "north", uplinkMbps: null });
    assert.equal(cleared.uplinkMbps, null);
    assert.equal((await r.client.sites.list.query()).find((s) => s.site === "north")!.uplinkMbps, null);

    const audit = (await admin.audit.list.query({ limit: 50 })).filter((e) => e.action === "site.uplink");
    assert.deepEqual(
      audit.map((e) => [e.target, e.detail]),
      [["north", { uplinkMbps: null }], ["north", { uplinkMbps: mbps }]],
    );
    await assert.rejects(
      admin.site.setUplink.mutate({ site: "north", uplinkMbps: 0 }),
      /0\.1|too_small|greater/i,
    );
    await assert.rejects(
      admin.site.setUplink.mutate({ site: "nowhere", uplinkMbps: 5 }),
      /no site named nowhere/,
    );
  },
);

rigTest(
  "a site's uplink cap, set with the admin CLI, holds its routes' relays to other sites too",
  async (r) => {
    try {
      await uplinkByCli(r);
    } finally {
      // The next test finds north uncapped (through the API, as an admin: the hub forgets the cap at once).
      const admin = createConduitClient({
        url: r.url,
        token: (await r.hub.tokens.create("boss", "admin")).token,
      });
      await admin.site.setUplink.mutate({ site: "north", uplinkMbps: null });
    }
  },
);

/** The uplink test's body: north's cap set with the admin CLI, then an MR study routed to south under it. */
async function uplinkByCli(r: Rig) {
  // Set with the admin CLI on the running hub's database: the hub reads it (within 5 s of a change).
  const set = await hubAdmin(r.hub.dataDir, ["site", "uplink", "north", "16", "--json"]); // 2 MB/s
  assert.equal(set.code, 0, set.stderr);
  assert.deepEqual(set.json, { site: "north", uplinkMbps: 16 });
  // The list and three refusals change nothing: they run side by side (each a deno process of its own), and
  // beside the routed study below (a refusal that changed the cap would be the newest entry audited).
  const asked = Promise.all([
    hubAdmin(r.hub.dataDir, ["site", "list"]),
    hubAdmin(r.hub.dataDir, ["site", "uplink", "north", "0"]),
    hubAdmin(r.hub.dataDir, ["site", "uplink", "north"]),
    hubAdmin(r.hub.dataDir, ["site", "uplink", "nowhere", "none"]),
  ]);
  asked.catch(() => {}); // awaited below
  const started = Date.now();
  const routed = await seed(r, "cap-route", 8, "MR", 512); // stored at north, routed to south
  const ours = await sopsOf(routed);
  const rows = await eventually("routed to south", async () => {
    const done = (await northRows(r, "done", "@south")).filter((row) =>
      row.route === "mr-to-south" && ours.has(row.sopInstanceUid)
    );
    return done.length === 8 ? done : undefined;
  }, 120_000);
  const seconds = (Math.max(...rows.map((row) => row.doneAt!)) - started) / 1000;
  const megabytes = routed.bytes / 1e6;
  assert.ok(
    seconds >= 0.8 * (megabytes - 0.5) / 2,
    `${seconds.toFixed(2)} s for ${megabytes.toFixed(1)} MB`,
  );
  const [list, zero, none, unknown] = await asked;
  assert.match(list.stdout, /\tUPLINK Mbit\/s\tDOWNLINK Mbit\/s\n(.*\n)*north\t.*\t16\t-\n/);
  assert.equal(zero.code, 2);
  assert.equal(none.code, 2);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no site named nowhere/);
  const entry = (await recent(r.hub.db)).find((e) => e.action === "site.uplink");
  assert.deepEqual([entry?.actor, entry?.target, entry?.detail], ["cli", "north", { uplinkMbps: 16 }]);
}

rigTest(
  "a site's downlink cap, set with the admin CLI, holds a transfer and a route into it together to the rate asked",
  async (r) => {
    // Set on the running hub's database before anything is relayed: the hub reads it (within 5 s of a change).
    const set = await hubAdmin(r.hub.dataDir, ["site", "downlink", "south", "16", "--json"]); // 2 MB/s
    assert.equal(set.code, 0, set.stderr);
    assert.deepEqual(set.json, { site: "south", downlinkMbps: 16 });
    // The list and three refusals change nothing: they run side by side (each a deno process of its own), and
    // beside the relays below (a refusal that changed the cap would be the newest entry audited).
    const asked = Promise.all([
      hubAdmin(r.hub.dataDir, ["site", "list"]),
      hubAdmin(r.hub.dataDir, ["site", "downlink", "south", "0"]),
      hubAdmin(r.hub.dataDir, ["site", "downlink", "south"]),
      hubAdmin(r.hub.dataDir, ["site", "downlink", "nowhere", "none"]),
    ]);
    asked.catch(() => {}); // awaited below
    assert.equal((await r.client.sites.list.query()).find((s) => s.site === "south")!.downlinkMbps, 16);
    // Nothing caps north's uplink: what slows these relays is south's downlink alone.
    assert.equal((await r.client.sites.list.query()).find((s) => s.site === "north")!.uplinkMbps, null);

    const job = await seed(r, "down-job", 8, "CT", 512); // 8 objects of about 0.5 MB each, not routed
    const started = Date.now();
    const [{ id }, routed] = await Promise.all([
      r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south" },
        studies: [job.studyUid],
      }),
      seed(r, "down-route", 8, "MR", 512), // stored at north, routed to south
    ]);
    assert.equal((await finished(r, id)).status, "success");
    const [jobUids, routedUids] = [await sopsOf(job), await sopsOf(routed)];
    const rows = await eventually("all relayed to south", async () => {
      const done = (await northRows(r, "done", "@south")).filter((row) =>
        jobUids.has(row.sopInstanceUid) || routedUids.has(row.sopInstanceUid)
      );
      const of = (p: (route: string) => boolean) => done.filter((row) => p(row.route));
      const [transfer, route] = [of((x) => x.startsWith("transfer:")), of((x) => x === "mr-to-south")];
      return transfer.length === 8 && route.length === 8 ? [...transfer, ...route] : undefined;
    }, 120_000);
    // About 8.4 MB at 2 MB/s, less a quarter second's burst: about 4 s for both together (uncapped, they
    // cross loopback in well under a second). A lower bound only: a busy machine is slower still.
    const seconds = (Math.max(...rows.map((row) => row.doneAt!)) - started) / 1000;
    const megabytes = (job.bytes + routed.bytes) / 1e6;
    assert.ok(
      seconds >= 0.8 * (megabytes - 0.5) / 2,
      `${seconds.toFixed(2)} s for ${megabytes.toFixed(1)} MB`,
    );
    const [list, zero, none, unknown] = await asked;
    assert.match(list.stdout, /\tUPLINK Mbit\/s\tDOWNLINK Mbit\/s\n(.*\n)*south\t.*\t-\t16\n/);
    assert.equal(zero.code, 2);
    assert.equal(none.code, 2);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no site named nowhere/);
    const entry = (await recent(r.hub.db)).find((e) => e.action === "site.downlink");
    assert.deepEqual([entry?.actor, entry?.target, entry?.detail], ["cli", "south", { downlinkMbps: 16 }]);

    // Through the API: admins only; cleared, it is no longer shown; audited with who did it.
    await assert.rejects(
      r.client.site.setDownlink.mutate({ site: "south", downlinkMbps: 1 }),
      /needs the admin role/,
    );
    const admin = createConduitClient({
      url: r.url,
      token: (await r.hub.tokens.create("boss", "admin")).token,
    });
    const cleared = await admin.site.setDownlink.mutate({ site: "south", downlinkMbps: null });
    assert.deepEqual([cleared.downlinkMbps, cleared.uplinkMbps], [null, null]);
    assert.equal((await r.client.sites.list.query()).find((s) => s.site === "south")!.downlinkMbps, null);
    await assert.rejects(
      admin.site.setDownlink.mutate({ site: "south", downlinkMbps: 0 }),
      /0\.1|too_small|greater/i,
    );
    await assert.rejects(
      admin.site.setDownlink.mutate({ site: "nowhere", downlinkMbps: 5 }),
      /no site named nowhere/,
    );
    const audit = (await admin.audit.list.query({ limit: 50 })).filter((e) => e.action === "site.downlink");
    assert.deepEqual(
      audit.map((e) => [e.actor, e.target, e.detail]),
      [["token:boss", "south", { downlinkMbps: null }], ["cli", "south", { downlinkMbps: 16 }]],
    );
  },
);

shared.tearDown("schedule_test: the rig stopped");

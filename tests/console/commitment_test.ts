/**
 * Storage Commitment seen from the hub and the console (docs/console.md, docs/operations.md): a transfer
 * from north to south's node `pacs`, a real Orthanc that south asks to commit what it stores. Orthanc cannot
 * report at first (its modality for south names a port nothing listens on), so the objects are stored at
 * the node and wait for its commitment: the task stays in progress and says so, the study's objects read
 * "Waiting for commitment" (tRPC `committing`), and the Sites screen (and `admin site list`) counts them in
 * south's queue apart. Once Orthanc can report, the task is done, its note gone, and nothing waits any more.
 * A south older than the `commitment-state` feature is asked nothing it would refuse, and works as before.
 */
import assert from "node:assert/strict";
import { hasChromium, logIn, waitForOnPage } from "../support/browser.ts";
import { storescu } from "../support/send.ts";
import { eventually, siteRow } from "../support/hub.ts";
import { type ConsoleRig, startConsole } from "../support/console_rig.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { freePort, orthancModality, type OrthancPeer, skipReason, startOrthanc } from "../support/peers.ts";
import { FEATURE_COMMITMENT_STATE, FEATURE_DELIVERY_NOT_STORED } from "@conduit/shared/tunnel";

const skip = hasChromium() ? skipReason("storescu", "Orthanc") : "chromium not installed";
if (skip) console.warn(`commitment_test: skipped: ${skip}`);

/** What a test of this file works with: the hub, the browser, a transfer under way and Orthanc. */
interface Rig {
  hub: ConsoleRig["hub"];
  browser: ConsoleRig["browser"];
  client: ReturnType<typeof createConduitClient>;
  base: string;
  orthanc: OrthancPeer;
  southPort: number;
  /** The transfer from north to south's node pacs, and its study. */
  id: string;
  studyUid: string;
}

/** The file's rig: the console's, Orthanc, and a client of the hub (an operator's token). */
interface Shared {
  rig: ConsoleRig;
  stop(): Promise<unknown[]>;
  orthanc: OrthancPeer;
  southPort: number;
  client: ReturnType<typeof createConduitClient>;
}

/**
 * One rig for the file's tests (each names its own study and makes its own transfer): Orthanc as south's node
 * `pacs` (storageCommitment; its reports go nowhere until a test points its modality `south` at south), and a
 * console rig with south and north. Orthanc starts while the console rig does.
 */
const shared = sharedRig<Shared>({
  skip,
  async setUp() {
    const orthancStarting = Deno.makeTempDir({ prefix: "commit-console-orthanc-" }).then((storageDir) =>
      startOrthanc({
        storageDir,
        modalities: { south: { aet: "SOUTH", host: "127.0.0.1", port: freePort() } },
      })
    );
    orthancStarting.catch(() => {}); // its failure is the set-up's, when awaited below
    const southPort = freePort();
    // South (once Orthanc, its node, is up) and north start together, with the hub, while Chromium launches.
    const sites = {
      south: orthancStarting.then((orthanc) => ({
        aet: "SOUTH",
        port: southPort,
        config: {
          queue: { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 1000 },
          nodes: {
            pacs: {
              aet: orthanc.aet,
              host: "127.0.0.1",
              port: orthanc.port,
              storageCommitment: true,
              commitmentTimeoutSeconds: 1,
            },
          },
        },
      })),
      north: { aet: "NORTH" },
    };
    try {
      // Heartbeats every 0.5 s (the tests' hubs: 1 s): the hub asks each site its status every 6 beats, which
      // the tests wait for; the timeout that ends a silent session stays 3 s.
      const started = await startConsole({ hub: { heartbeatSeconds: 0.5 }, sites });
      try {
        const orthanc = await orthancStarting;
        const client = createConduitClient({
          url: started.rig.url,
          token: (await started.rig.hub.tokens.create("commitment", "operator")).token,
        });
        return { ...started, orthanc, southPort, client };
      } catch (e) {
        await started.stop();
        throw e;
      }
    } catch (e) {
      await (await orthancStarting.catch(() => undefined))?.stop();
      throw e;
    }
  },
  async stop({ stop, orthanc }) {
    // Side by side: Orthanc takes a second or so to end.
    const [failures] = await Promise.all([stop(), orthanc.stop()]);
    if (failures.length) throw failures[0];
  },
});

/**
 * A test of the shared rig: Orthanc holding nothing and unable to report (its modality `south` pointed at a
 * port nothing listens on), both sites online, and a transfer of a 3-object study (from `seed`) from north to
 * south's node under way; `before` runs once both sites are online, before the transfer starts.
 */
function commitmentTest(
  name: string,
  seed: string,
  fn: (r: Rig) => Promise<void>,
  before: (rig: ConsoleRig) => void = () => {},
): void {
  shared.test(name, async ({ rig, orthanc, southPort, client }) => {
    const { hub, browser, sites: { north } } = rig;
    await orthancModality(orthanc, "south", "SOUTH", freePort());
    for (const id of await orthanc.instances()) {
      const gone = await orthanc.rest(`/instances/${id}`, { method: "DELETE" });
      assert.equal(gone.status, 200, await gone.text());
    }
    const series = await writeGeneratedSeries(await Deno.makeTempDir(), {
      count: 3,
      rows: 32,
      columns: 32,
      modality: "CT",
      seed,
    });
    assert.equal((await storescu(series.paths, north)).code, 0);
    await eventually("both online", () => hub.sessions.get("north") && hub.sessions.get("south"));
    before(rig);
    const { id } = await client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [series.studyUid],
    });
    await fn({
      hub,
      browser,
      client,
      base: rig.url.slice(0, -1),
      orthanc,
      southPort,
      id,
      studyUid: series.studyUid,
    });
  });
}

commitmentTest(
  "objects stored at a node that has not committed them are waiting for commitment, not done nor sent",
  "commit-console",
  async ({ hub, browser, client, base, orthanc, southPort, id, studyUid }) => {
    // At the node, not committed: neither done nor failed, and the task says why it waits.
    // All three: on a loaded machine the task's note first counts those stored so far.
    const waiting = await eventually("the task waits for the node's commitment", async () => {
      const t = await client.transfers.get.query({ id });
      return /^3 of 3 objects stored at south's node pacs wait/.test(t.tasks[0].lastError ?? "")
        ? t
        : undefined;
    }, 60_000);
    assert.equal(waiting.status, "in_progress");
    assert.equal(waiting.tasks[0].status, "in_progress");
    assert.equal(waiting.tasks[0].done, 0, "nothing counts as done before the commitment");
    assert.equal(waiting.tasks[0].failed, 0);
    assert.match(waiting.tasks[0].lastError!, /^3 of 3 objects stored at south's node pacs wait/);
    assert.equal((await orthanc.instances()).length, 3, "stored at Orthanc");
    const objects = await client.transfers.objects.query({ id, study: studyUid });
    assert.deepEqual(objects.map((o) => o.state), ["committing", "committing", "committing"]);
    // The hub asks each site its status every 6 heartbeats, and so learns of them after the connect.
    await eventually("south's queue counts them, apart too", async () => {
      const s = (await client.sites.list.query()).find((s) => s.site === "south");
      return s?.committing === 3 && s.queueDepth === 3;
    });
    // Written to the hub's database with the other live facts: the admin CLI (and every hub) sees it.
    await eventually(
      "admin site list counts them",
      async () => (await siteRow(hub, "south"))?.committing === 3,
    );

    const page = await browser.newPage();
    await hub.users.add("ops", "operator", "operator password");
    await page.goto(`${base}/transfers/${id}`);
    await logIn(page, "ops", "operator password");
    const detail = page.locator('section[aria-label="Transfer detail"]');
    await detail.getByText("3 of 3 objects stored at south's node pacs wait for its storage commitment")
      .waitFor();
    await detail.getByRole("button", { name: "Objects" }).click();
    const rows = page.locator("table[aria-label=Objects] tbody tr");
    await rows.first().waitFor();
    assert.deepEqual(
      (await rows.allInnerTexts()).map((t) => t.includes("Waiting for commitment")),
      [true, true, true],
    );
    await page.goto(`${base}/sites`);
    await waitForOnPage(page, 'tr[data-site="south"]');
    await page.locator('tr[data-site="south"]').getByText("(3 objects waiting for commitment)").waitFor();

    // Orthanc can report now: committed, so the task is done and nothing waits.
    await orthancModality(orthanc, "south", "SOUTH", southPort);
    const done = await eventually("the transfer done once committed", async () => {
      const t = await client.transfers.get.query({ id });
      return t.status === "success" ? t : undefined;
    }, 90_000);
    assert.equal(done.tasks[0].done, 3);
    assert.equal(done.tasks[0].lastError, null, "the note is gone");
    assert.deepEqual(
      (await client.transfers.objects.query({ id, study: studyUid })).map((o) => o.state),
      ["done", "done", "done"],
    );
    await eventually("south's queue has nothing waiting", async () => {
      const s = (await client.sites.list.query()).find((s) => s.site === "south");
      return s?.committing === 0 || undefined;
    });
    await page.reload();
    await waitForOnPage(page, 'tr[data-site="south"]');
    assert.doesNotMatch(
      await page.locator('tr[data-site="south"]').innerText(),
      /waiting for commitment/,
    );
  },
);

// The file's last test: the south it makes older (on the hub: its features, the requests it answers) is
// stopped with the rig after it.
{
  /** Requests the hub sent south with a field an older agent's strict schema refuses. */
  const refused: string[] = [];
  /** Status requests the hub sent south (every 6 heartbeats). */
  let statuses = 0;
  commitmentTest(
    "an agent older than commitment-state is asked as before, and its objects at the node wait as before",
    "commit-console-old",
    async ({ client, orthanc, southPort, id, studyUid }) => {
      const waiting = await eventually("the task waits at south for its node", async () => {
        const t = await client.transfers.get.query({ id });
        return t.tasks[0].lastError?.includes("wait at south for its node pacs") ? t : undefined;
      }, 60_000);
      assert.equal(waiting.tasks[0].status, "in_progress");
      assert.equal(waiting.tasks[0].done, 0);
      // An older agent counts objects not yet sent with those sent and not committed: on a loaded machine the
      // note comes before the last store reaches Orthanc.
      await eventually(
        "stored at Orthanc",
        async () => (await orthanc.instances()).length === 3 || undefined,
      );
      // Without south's word on commitment, the objects are as north delivered them.
      await eventually("the objects as north delivered them", async () => {
        const objects = await client.transfers.objects.query({ id, study: studyUid });
        return objects.map((o) => o.state).join() === "done,done,done" || undefined;
      });
      await eventually("a status asked of south since", () => statuses > 0 || undefined);
      await orthancModality(orthanc, "south", "SOUTH", southPort);
      await eventually("the transfer done once committed", async () => {
        return (await client.transfers.get.query({ id })).status === "success" || undefined;
      }, 90_000);
      assert.deepEqual(refused, []);
    },
    ({ hub }) => {
      // South as the hub sees an agent from before the feature (and so before delivery-not-stored): its
      // hello names neither, and it refuses requests with `committing` or `listNotStored` (counted here, and
      // refused as such an agent would).
      const older = new Set([FEATURE_COMMITMENT_STATE, FEATURE_DELIVERY_NOT_STORED]);
      const entry = hub.sessions.get("south")! as { features: ReadonlySet<string> };
      entry.features = new Set([...entry.features].filter((f) => !older.has(f)));
      const sessions = hub.sessions as unknown as { call(site: string, request: object): Promise<unknown> };
      const call = sessions.call.bind(sessions);
      sessions.call = (site, request) => {
        if (site === "south" && (request as { op: string }).op === "status") statuses++;
        if (site === "south" && ("committing" in request || "listNotStored" in request)) {
          refused.push(JSON.stringify(request));
          return Promise.reject(new Error("the site answered: bad-request: unrecognized key: committing"));
        }
        return call(site, request);
      };
    },
  );
}

shared.tearDown("commitment: the rig of the tests above stops");

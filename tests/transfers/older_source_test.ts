/**
 * A transfer to a node of the destination from a source whose agent is older than paging (its hello names
 * no `objects-after`), of a study whose list of rows does not fit one tunnel record (some 3,200 objects):
 * the hub cannot check which objects reached the node, so it counts the destination's acknowledgement and
 * says so, instead of waiting for ever.
 */
import assert from "node:assert/strict";
import { FEATURE_OBJECTS_AFTER } from "@conduit/shared/tunnel";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { finished, pacsHolding, type Rig, rig, skip, stopRig } from "./_rig.ts";

if (skip) console.warn(`older_source_test: skipped: ${skip}`);

/** Objects: their rows at the source (some 320 bytes each) take more than one record of 1 MiB. */
const COUNT = 3500;

/** The rig's test, with the study's files written (some seconds for 3,500 objects) while the rig starts. */
function rigTestWriting(
  name: string,
  fn: (r: Rig, written: ReturnType<typeof writeGeneratedSeries>) => Promise<void>,
) {
  Deno.test({
    name,
    ignore: Boolean(skip),
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const written = Deno.makeTempDir({ prefix: "transfer-src-" }).then((dir) =>
        writeGeneratedSeries(dir, {
          count: COUNT,
          rows: 8,
          columns: 8,
          seed: "older-source-large",
          modality: "CT",
        })
      );
      written.catch(() => {}); // awaited in the test
      // Nothing fsynced at either site: 3,500 objects stored at north, relayed and stored at south, and each
      // queue row's changes, are not what this test is about (storing them took three times as long).
      const r = await rig({ noSync: true });
      try {
        await fn(r, written);
      } finally {
        await stopRig(r);
      }
    },
  });
}

rigTestWriting(
  "a large study from a source older than paging to a node is counted at the acknowledgement, and says so",
  async (r, written) => {
    // North as the hub sees an agent from before objects-after: its hello does not name the feature, so the
    // hub asks it for the rows without `after` (as such an agent's strict schema would require).
    const entry = r.hub.sessions.get("north")! as { features: ReadonlySet<string> };
    entry.features = new Set([...entry.features].filter((f) => f !== FEATURE_OBJECTS_AFTER));
    const lists: string[] = [];
    const sessions = r.hub.sessions as unknown as { call(site: string, request: object): Promise<unknown> };
    const call = sessions.call.bind(sessions);
    sessions.call = (site, request) => {
      if (site === "north" && (request as { op: string }).op === "objects") {
        assert.ok(!("after" in request), "an older source is never asked for rows after an id");
        lists.push(JSON.stringify(request));
      }
      return call(site, request);
    };

    // Stored to north as seed (./_rig.ts) stores a study.
    const study = await written;
    const sent = await storescu(study.paths, r.north, [], 120_000);
    assert.equal(sent.code, 0, sent.stderr);
    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south", node: "pacs" },
      studies: [study.studyUid],
    });
    // Until 2026-12-06 the task waited for ever: `waiting to hear how many reached its node pacs: record of
    // ... bytes (limit 1048576)`.
    const done = await finished(r, id, 150_000).catch(async (err) => {
      const t = await r.client.transfers.get.query({ id });
      throw new Error(`${err.message}: ${t.tasks[0].status}, ${t.tasks[0].lastError}`);
    });
    assert.equal(done.status, "success", JSON.stringify(done.tasks[0]));
    assert.equal(done.totals.done, COUNT);
    assert.match(
      done.tasks[0].lastError ?? "",
      new RegExp(
        `^counted at south's acknowledgement, not at its node pacs: north's agent \\(0\\.1\\.0.*\\) cannot ` +
          `list the ${COUNT} objects a page at a time; upgrade it for the check$`,
      ),
    );
    // Asked once: the hub remembers that the list does not fit, and does not ask for it at every check.
    assert.equal(lists.length, 1, lists.join("\n"));
    // The objects do reach the PACS, from south's queue.
    assert.equal((await pacsHolding(r, COUNT)).size, COUNT);
  },
);

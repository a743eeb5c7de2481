/**
 * `query.studies` without a site, with a `limit`: at most that many studies in all, sites in order (as
 * QIDO-RS over every site answers), not that many from each site. Two real agents: north holds two studies,
 * south one.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { PYDICOM_TEST_FILES_DIR } from "../support/test_files.ts";
import { skipReason } from "../support/peer_tools.ts";
import { storescu } from "../support/send.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

const file = (name: string) => path.join(PYDICOM_TEST_FILES_DIR, name);

Deno.test({
  name: "query.studies over every site gives at most limit studies in all, sites in order",
  ignore: Boolean(skipReason("storescu")),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const hub = await startTestHub();
    const north = await startAgentProcess({ aet: "NORTH", args: await siteArgs(hub, "north") });
    const south = await startAgentProcess({ aet: "SOUTH", args: await siteArgs(hub, "south") });
    try {
      for (
        const [files, agent] of [[["CT_small.dcm", "MR_small.dcm"], north], [
          ["JPEG2000.dcm"],
          south,
        ]] as const
      ) {
        const sent = await storescu(files.map(file), agent);
        assert.equal(sent.code, 0, sent.stderr);
      }
      await eventually("both sites online", () => hub.sessions.get("north") && hub.sessions.get("south"));
      const client = createConduitClient({
        url: `http://127.0.0.1:${hub.port}`,
        token: (await hub.tokens.create("limit", "viewer")).token,
      });
      const sites = async (limit?: number) =>
        (await client.query.studies.query(limit === undefined ? {} : { limit })).studies.map((s) => s.site);
      // Every study indexed at its site (sites are asked in name order, as `leftOut` lists them).
      await eventually("the three studies listed", async () => (await sites()).length === 3);
      assert.deepEqual(await sites(), ["north", "north", "south"]);
      assert.deepEqual(await sites(2), ["north", "north"]);
      assert.deepEqual(await sites(1), ["north"]);
      assert.deepEqual(await sites(3), ["north", "north", "south"]);
      // One site: its own limit, as before.
      const one = await client.query.studies.query({ site: "north", limit: 1 });
      assert.equal(one.studies.length, 1);
    } finally {
      await north.stop();
      await south.stop();
      await hub.stop();
    }
  },
});

/**
 * A federated search (`query.studies` without a site, QIDO-RS at `/dicomweb/studies`) asks the sites at once,
 * each within `dicomweb.federatedSiteSeconds`: with north's agent paused (SIGSTOP, its session still open),
 * south is asked while north's search is still outstanding, south's study comes back, and north is named as
 * not having answered within its time. Two real agents, each holding one study.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { startTogether } from "../support/processes.ts";
import { PYDICOM_TEST_FILES_DIR } from "../support/test_files.ts";
import { skipReason } from "../support/peer_tools.ts";
import { storescu } from "../support/send.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

const SITE_SECONDS = 8;

Deno.test({
  name:
    "a federated search asks the sites at once: a paused site is left out after its own time, the others answer",
  ignore: Boolean(skipReason("storescu")),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // A paused agent answers no heartbeat: the hub must not drop its session before the search's time runs out.
    const hub = await startTestHub({ federatedSiteSeconds: SITE_SECONDS, heartbeatTimeoutSeconds: 120 });
    // North and south start together, and take their study together.
    const [north, south] = await startTogether([
      siteArgs(hub, "north").then((args) => startAgentProcess({ aet: "NORTH", args })),
      siteArgs(hub, "south").then((args) => startAgentProcess({ aet: "SOUTH", args })),
    ]).catch(async (e) => {
      await hub.stop();
      throw e;
    });
    let paused = false;
    try {
      await Promise.all(
        ([["CT_small.dcm", north], ["MR_small.dcm", south]] as const).map(async ([file, agent]) => {
          const sent = await storescu([path.join(PYDICOM_TEST_FILES_DIR, file)], agent);
          assert.equal(sent.code, 0, sent.stderr);
        }),
      );
      await eventually("both sites online", () => hub.sessions.get("north") && hub.sessions.get("south"));
      const token = (await hub.tokens.create("stall", "viewer")).token;
      const client = createConduitClient({ url: `http://127.0.0.1:${hub.port}`, token });
      const sitesFound = async () => (await client.query.studies.query({})).studies.map((s) => s.site);
      await eventually("both studies listed", async () => (await sitesFound()).length === 2);

      // Each site's find as the hub asks it, and whether another site's find was outstanding then.
      const outstanding = new Set<string>();
      const asked: { site: string; while: string[] }[] = [];
      const replies = hub.sessions.replies.bind(hub.sessions);
      // deno-lint-ignore no-explicit-any
      hub.sessions.replies = (async function* (site: string, request: any, signal?: AbortSignal) {
        if (request.op !== "find") return yield* replies(site, request, signal);
        asked.push({ site, while: [...outstanding] });
        outstanding.add(site);
        try {
          yield* replies(site, request, signal);
        } finally {
          outstanding.delete(site);
        }
      }) as unknown as typeof hub.sessions.replies;

      Deno.kill(north.pid, "SIGSTOP");
      paused = true;
      const answering = client.query.studies.query({});
      // QIDO-RS over every site (below) is asked once this search has asked both sites, so that the two wait
      // out north's time together rather than one after the other.
      await eventually("the search has asked both sites", () => asked.length >= 2 || undefined);
      const answeringQido = fetch(`http://127.0.0.1:${hub.port}/dicomweb/studies`, {
        headers: { authorization: `Bearer ${token}` },
      });
      answering.catch(() => {}), answeringQido.catch(() => {}); // their failures are the test's, awaited below
      const answer = await answering;
      assert.deepEqual(answer.studies.map((s) => s.site), ["south"]);
      assert.deepEqual(answer.leftOut, [{
        site: "north",
        reason: `did not answer within ${SITE_SECONDS} s`,
      }]);

      // QIDO-RS over every site: the same, north named in a Warning.
      const res = await answeringQido;
      assert.equal(res.status, 200);
      assert.equal((await res.json()).length, 1);
      assert.match(
        res.headers.get("warning") ?? "",
        new RegExp(`site north did not answer within ${SITE_SECONDS} s`),
      );
      // Each search asked each site once. North comes first in name order: south was asked while north's
      // search was still waiting.
      assert.deepEqual(asked.map((a) => a.site), ["north", "south", "north", "south"]);
      assert.deepEqual(asked[1].while, ["north"]);

      // Resumed, north answers again.
      Deno.kill(north.pid, "SIGCONT");
      paused = false;
      await eventually("north answers again", async () => (await sitesFound()).length === 2);
    } finally {
      if (paused) Deno.kill(north.pid, "SIGCONT");
      await north.stop();
      await south.stop();
      await hub.stop();
    }
  },
});

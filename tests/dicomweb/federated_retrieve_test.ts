/**
 * A federated retrieval by UID (`/dicomweb/studies/{study}/...` without a site) finds its study's site by
 * asking every site at once, each within `dicomweb.federatedSiteSeconds`: with north's agent paused
 * (SIGSTOP, its session still open), south's study is retrieved while north's question is still outstanding,
 * and a study no site holds is 404 naming north as not having answered within its time. Until 2026-12-06 the
 * sites were asked one after the other, without a time: a paused or slow site ahead in name order held every
 * federated retrieval until its session died (15 s by default; here, with a longer heartbeat, for good).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { PYDICOM_TEST_FILES_DIR } from "../support/test_files.ts";
import { skipReason } from "../support/peer_tools.ts";
import { storescu } from "../support/send.ts";

const SITE_SECONDS = 8;
const MR = path.join(PYDICOM_TEST_FILES_DIR, "MR_small.dcm");

Deno.test({
  name: "a federated retrieval is answered by the site holding the study while another site hangs",
  ignore: Boolean(skipReason("storescu")),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // A paused agent answers no heartbeat: the hub must not drop its session while the test runs.
    const hub = await startTestHub({ federatedSiteSeconds: SITE_SECONDS, heartbeatTimeoutSeconds: 120 });
    const [north, south] = await Promise.all([
      siteArgs(hub, "north").then((args) => startAgentProcess({ aet: "NORTH", args })),
      siteArgs(hub, "south").then((args) => startAgentProcess({ aet: "SOUTH", args })),
    ]);
    let paused = false;
    try {
      const sent = await storescu([MR], south);
      assert.equal(sent.code, 0, sent.stderr);
      await eventually("both sites online", () => hub.sessions.get("north") && hub.sessions.get("south"));
      const token = (await hub.tokens.create("federated", "viewer")).token;
      const get = (p: string) =>
        fetch(`http://127.0.0.1:${hub.port}/dicomweb${p}`, {
          headers: { authorization: `Bearer ${token}` },
          // Past north's time (8 s) but far short of its session's end (120 s): a guard, not a measure.
          signal: AbortSignal.timeout(40_000),
        });

      const listed = await (await get("/sites/south/studies")).json();
      const study: string = listed[0]["0020000D"].Value[0];

      Deno.kill(north.pid, "SIGSTOP");
      paused = true;
      // North comes first in name order; south holds the study and answers.
      const metadata = await get(`/studies/${study}/metadata`);
      assert.equal(metadata.status, 200, await metadata.clone().text());
      const instances = await metadata.json();
      assert.equal(instances.length, 1);
      assert.equal(instances[0]["0020000D"].Value[0], study);

      // No site holds it: 404, north named as not having answered within its time.
      const missing = await get(`/studies/1.2.3.4.5.6.7.8.9/metadata`);
      assert.equal(missing.status, 404);
      const detail = (await missing.json()).detail;
      assert.match(detail, new RegExp(`site north did not answer within ${SITE_SECONDS} s`));
      assert.match(missing.headers.get("warning") ?? "", /site north did not answer/);
    } finally {
      if (paused) Deno.kill(north.pid, "SIGCONT");
      await north.stop();
      await south.stop();
      await hub.stop();
    }
  },
});

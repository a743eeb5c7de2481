/**
 * An erasure whose answer is lost: a real hub, a real agent connected through a TCP proxy that stops what
 * the agent sends (its answer) and then cuts the link. The site erases; the hub's audit log holds the
 * request (hashed UIDs, `requested`) from before it was sent, and once the link is cut an outcome entry
 * naming it whose outcome is `unknown`: never an erasure that happened with nothing audited.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { hashUid } from "@conduit/shared/log";
import { generateStudies } from "@conduit/shared/testing";
import { recent } from "../../hub/auth/audit.ts";
import { skipReason } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { startProxy } from "../support/tcp_proxy.ts";
import { storescu } from "../support/send.ts";
import { writeInstances } from "../tools/generate.ts";

const skip = skipReason("storescu");

Deno.test({
  name: "erasure: the request is audited before it leaves the hub, and a lost answer is audited as unknown",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A long heartbeat timeout: the agent's answers are held back on purpose below.
    const hub = await startTestHub({ heartbeatTimeoutSeconds: 120 });
    const proxy = startProxy(hub.port);
    const work = await Deno.makeTempDir({ prefix: "erase-lost-" });
    const args = await siteArgs(
      { registry: hub.registry, tunnelUrl: `ws://127.0.0.1:${proxy.port}/tunnel` },
      "north",
    );
    const north = await startAgentProcess({
      aet: "NORTH",
      config: { hub: { reconnectBaseSeconds: 60, reconnectCapSeconds: 60 } },
      args,
    });
    try {
      const specs = [...generateStudies({
        seed: "erase-lost",
        patients: 1,
        studiesPerPatient: 1,
        series: [{ modality: "CT", instances: 2 }],
        rows: 16,
        columns: 16,
      })];
      const written = await writeInstances(work, specs);
      assert.equal((await storescu(written.paths, north)).code, 0);
      await eventually("north online", () => hub.sessions.get("north"));
      const study = specs[0].studyInstanceUid;
      const archived = () =>
        (fs.readdirSync(path.join(north.dataDir, "archive"), { recursive: true }) as string[])
          .filter((f) => f.endsWith(".dcm")).length;
      assert.equal(archived(), 2);
      const admin = (await hub.tokens.create("erase-admin", "admin")).token;

      // The agent's bytes stop reaching the hub: it gets the request, erases, and its answer is held back.
      proxy.freezeToUpstream();
      const answer = fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies/${study}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${admin}` },
      });
      await eventually("the site erased the study", () => archived() === 0);
      const asked = await recent(hub.db, 10, 0, { action: "study.erase" });
      assert.equal(asked.length, 1, "the request only: its answer has not come");
      assert.equal(asked[0].actor, "token:erase-admin");
      assert.equal(asked[0].target, "north");
      assert.deepEqual(asked[0].detail, { study: hashUid(study), requested: true });

      // The link drops with the answer still on its way: the outcome is unknown, and says so.
      proxy.cutAll();
      const res = await answer;
      assert.ok(res.status >= 500, `status ${res.status}`);
      await res.body?.cancel();
      const [outcome] = await eventually("the outcome audited", async () => {
        const entries = await recent(hub.db, 10, 0, { action: "study.erase" });
        return entries.length === 2 ? entries : undefined;
      });
      assert.equal(outcome.detail.request, asked[0].id);
      assert.equal(typeof outcome.detail.unknown, "string", JSON.stringify(outcome.detail));
      assert.equal(outcome.detail.removed, undefined);
      assert.ok(!JSON.stringify([outcome, asked]).includes(study), "no UID in the clear");
    } finally {
      proxy.close();
      await north.stop();
      await hub.stop();
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});

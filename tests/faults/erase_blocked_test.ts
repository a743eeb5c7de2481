/**
 * An erasure asked while the agent cannot commit what it received (a file where a study's archive folder
 * goes: every commit of that study's object fails and is retried) is refused once the commits have failed
 * for the group commit's limit (`dimse.commitWaitSeconds`, 10 s by default, 3 s here), through the hub (DICOMweb DELETE: 503; `site.erase`:
 * SERVICE_UNAVAILABLE) and the agent's CLI, with what to do, instead of waiting until the failure clears.
 * Nothing is erased meanwhile; once the failure clears the object is committed and the erasure runs.
 * Real hub, real agent, DCMTK's storescu.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { TRPCClientError } from "@trpc/client";
import { generateStudies } from "@conduit/shared/testing";
import { createConduitClient } from "../../hub/client/mod.ts";
import { skipReason } from "../support/peers.ts";
import { agentCli, startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { storescu } from "../support/send.ts";
import { writeInstances } from "../tools/generate.ts";

const skip = skipReason("storescu");

Deno.test({
  name: "erasure: refused with 503 while the agent's commits keep failing, done once they clear",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    const work = await Deno.makeTempDir({ prefix: "erase-blocked-" });
    // The limit shortened and the failing commit retried at least every second: the test waits for both.
    const north = await startAgentProcess({
      aet: "NORTH",
      args: await siteArgs(hub, "north"),
      config: { dimse: { commitWaitSeconds: 3, commitRetryCapSeconds: 1 } },
    });
    try {
      const [kept, blocked] = [...generateStudies({
        seed: "erase-blocked",
        patients: 2,
        studiesPerPatient: 1,
        series: [{ modality: "CT", instances: 1 }],
        rows: 8,
        columns: 8,
      })];
      const first = await writeInstances(path.join(work, "kept"), [kept]);
      assert.equal((await storescu(first.paths, north)).code, 0);
      await eventually("north online", () => hub.sessions.get("north"));

      // The second study's folder cannot be made: its object is answered Success, then never committed.
      const blocker = path.join(north.dataDir, "archive", blocked.studyInstanceUid);
      fs.writeFileSync(blocker, "not a folder");
      const second = await writeInstances(path.join(work, "blocked"), [blocked]);
      assert.equal((await storescu(second.paths, north)).code, 0);

      const admin = (await hub.tokens.create("erase-admin", "admin")).token;
      const deleteKept = () =>
        fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies/${kept.studyInstanceUid}`, {
          method: "DELETE",
          headers: { authorization: `Bearer ${admin}` },
        });
      const refused = await deleteKept();
      assert.equal(refused.status, 503);
      assert.match((await refused.json()).detail, /cannot be committed.*try again once it is cleared/);
      const client = createConduitClient({ url: `http://127.0.0.1:${hub.port}`, token: admin });
      await assert.rejects(
        client.site.erase.mutate({ site: "north", studyInstanceUid: kept.studyInstanceUid }),
        (e: unknown) => e instanceof TRPCClientError && e.data?.code === "SERVICE_UNAVAILABLE",
      );
      const cli = await agentCli([
        "erase",
        "--study",
        kept.studyInstanceUid,
        "--yes",
        "--http-port",
        String(north.httpPort),
      ]);
      assert.equal(cli.code, 1, cli.stderr);
      assert.match(cli.stderr, /cannot be committed/);
      const archived = fs.readdirSync(path.join(north.dataDir, "archive"));
      assert.ok(archived.includes(kept.studyInstanceUid), "nothing erased meanwhile");

      // Cleared: the waiting object is committed, and the erasure goes through.
      fs.rmSync(blocker);
      const done = await eventually("erased once the commits go through", async () => {
        const res = await deleteKept();
        const body = await res.text();
        return res.status === 200 ? body : undefined;
      }, 30_000);
      assert.ok(done.length > 0);
      assert.ok(!fs.readdirSync(path.join(north.dataDir, "archive")).includes(kept.studyInstanceUid));
      assert.ok(fs.statSync(blocker).isDirectory(), "the waiting object was committed into its folder");
    } finally {
      await north.stop();
      await hub.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
});

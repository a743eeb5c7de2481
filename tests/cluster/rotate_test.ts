/**
 * Credential rotation in a cluster: two hubs in this process on a real PostgreSQL, a real agent connected
 * to the first. The API of the second hub, and the admin CLI, ask for the rotation; the hub holding the
 * site's session does it, and the outcome comes back to the asker.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import {
  credentialAccepted,
  eventually,
  hubAdmin,
  siteArgs,
  startTestHub,
  type TestHub,
} from "../support/hub.ts";
import { postgresMissing, startPostgres } from "../support/postgres.ts";
import { freePort } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { recent } from "../../hub/auth/audit.ts";

Deno.test({
  name: "a rotation asked on another hub of the cluster, or by the CLI, is done by the hub holding the site",
  ignore: Boolean(postgresMissing()),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pg = await startPostgres();
    const hubs: TestHub[] = [];
    let agent: AgentProcess | undefined;
    try {
      const db = await pg.createDatabase("rotate");
      for (let i = 0; i < 2; i++) {
        const port = freePort();
        hubs.push(await startTestHub({ db, port, clusterUrl: `http://127.0.0.1:${port}` }));
      }
      const [a, b] = hubs;
      agent = await startAgentProcess({ args: await siteArgs(a, "north") });
      await eventually("north on hub a", () => a.sessions.get("north"));
      await eventually("hub b sees north on hub a", () => b.cluster!.leases.heldElsewhere("north"));
      const file = path.join(agent.dataDir, "hub-credential.json");
      const read = async () => JSON.parse(await Deno.readTextFile(file)).credential as string;
      const c0 = await read();

      // Through hub b's API: b does not hold north, a does the rotation.
      const { token } = await b.tokens.create("secops", "admin");
      const res = await fetch(`http://127.0.0.1:${b.port}/trpc/site.rotate`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ site: "north" }),
      });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.result.data.outcome, "confirmed", body.result.data.message);
      const c1 = await read();
      assert.notEqual(c1, c0);
      assert.ok(!b.sessions.get("north"), "hub b never held north");
      // Both hubs (one database) take the old credential during the grace, and the new one.
      assert.ok(await credentialAccepted(b, c0));
      assert.ok(await credentialAccepted(a, c0));

      // The admin CLI, pointed at the shared database.
      const cli = await hubAdmin(b.dataDir, ["site", "rotate", "north", "--json"]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(cli.json!.outcome, "confirmed");
      const c2 = await read();
      assert.notEqual(c2, c1);
      const actors = (await recent(a.db)).filter((e) => e.action === "site.rotate").map((e) => e.actor);
      assert.deepEqual(actors.toSorted(), ["cli", "token:secops"]);

      // The agent connects with the newest one; the others are refused on every hub from then on.
      a.sessions.drop("north", 0, "test: reconnect");
      await eventually(
        "the older credentials refused",
        async () => !(await credentialAccepted(b, c0)) && !(await credentialAccepted(a, c1)),
      );
      await eventually("north back", () => a.sessions.get("north") ?? b.sessions.get("north"));
      assert.ok(await credentialAccepted(b, c2));
    } finally {
      await agent?.stop();
      for (const h of hubs.reverse()) await h.stop();
      await pg.stop();
    }
  },
});

/**
 * Listing an agent's conflicts (objects received again with other bytes), with a real hub, real agents and
 * DCMTK's storescu: `deno task agent conflicts` (a table, or JSON, read from the index while the agent runs),
 * the agent's `GET /conflicts` (paged, newest first), and `site.conflicts` through the hub's typed client
 * (an operator's, not a viewer's; an older agent is never sent the request and its console is told why; an
 * offline site is SERVICE_UNAVAILABLE). What is listed is UIDs, hashes, the policy, the calling AE title and
 * the kept copy's path: nothing of the patient.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { TRPCClientError } from "@trpc/client";
import { skipReason } from "../support/peers.ts";
import { agentCli, type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { storescu } from "../support/send.ts";
import { conflictingCopies, datasetSha256, sopOf } from "../support/conflicts.ts";
import { olderAgent } from "../support/older_agent.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

const skip = skipReason("storescu", "dcmodify");

const KEYS = [
  "callingAet",
  "id",
  "keptPath",
  "policy",
  "receivedAt",
  "receivedSha256",
  "resolution",
  "resolvedAt",
  "sopInstanceUid",
  "storedSha256",
];

/**
 * Stores the first objects in one association, then each conflicting copy in one of its own, in order (so
 * that their conflicts are recorded in that order).
 */
async function storeConflicts(agent: AgentProcess, copies: { firsts: string[]; seconds: string[] }) {
  for (const files of [copies.firsts, ...copies.seconds.map((f) => [f])]) {
    const r = await storescu(files, agent);
    assert.equal(r.code, 0, r.stderr);
  }
}

Deno.test({
  name:
    "conflicts: listed by the agent's CLI and HTTP API, and by the hub for an operator; never asked of an " +
    "older agent",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    const agents: AgentProcess[] = [];
    let older: ReturnType<typeof olderAgent> | undefined;
    try {
      const north = await startAgentProcess({
        config: { archive: { duplicates: "keepBoth" } },
        args: await siteArgs(hub, "north"),
      });
      agents.push(north);
      const south = await startAgentProcess({
        config: { archive: { duplicates: "keepLast" } },
        args: await siteArgs(hub, "south"),
      });
      agents.push(south);

      // An agent that never received an object again has none; the CLI reads its index while it runs.
      const none = await agentCli(["conflicts", "--data", north.dataDir]);
      assert.equal(none.code, 0, none.stderr);
      assert.equal(none.stdout.trim(), "no conflicts recorded");

      const northCopies = await conflictingCopies(2, "conflicts-north");
      await storeConflicts(north, northCopies);
      const southCopies = await conflictingCopies(1, "conflicts-south");
      await storeConflicts(south, southCopies);

      // The CLI, --json: both of north's, newest first (the second object's conflict was recorded last).
      const json = await agentCli(["conflicts", "--data", north.dataDir, "--json"]);
      assert.equal(json.code, 0, json.stderr);
      const listed = JSON.parse(json.stdout);
      assert.equal(listed.total, 2);
      assert.equal(listed.conflicts.length, 2);
      const uids = await Promise.all(northCopies.firsts.map(sopOf));
      assert.deepEqual(listed.conflicts.map((c: { sopInstanceUid: string }) => c.sopInstanceUid), [
        uids[1],
        uids[0],
      ]);
      for (const [i, c] of listed.conflicts.toReversed().entries()) {
        assert.deepEqual(Object.keys(c).sort(), KEYS, "UIDs, hashes, policy, AE, path and time: no PHI");
        assert.equal(c.policy, "keepBoth");
        assert.equal(c.callingAet, "STORESCU");
        assert.equal(c.storedSha256, await datasetSha256(northCopies.firsts[i]));
        assert.equal(c.receivedSha256, await datasetSha256(northCopies.seconds[i]));
        assert.ok(!Number.isNaN(Date.parse(c.receivedAt)) && c.receivedAt.endsWith("Z"), c.receivedAt);
        assert.equal(c.resolution, null, "not resolved");
        assert.equal(c.resolvedAt, null);
        // The kept copy: under the archive, named by its SOP Instance UID and its hash.
        assert.ok(c.keptPath.endsWith(`${c.sopInstanceUid}.conflict-${c.receivedSha256.slice(0, 16)}.dcm`));
        assert.match(c.keptPath, /^archive\//, "relative to the data directory, as the index's paths");
        assert.equal(await datasetSha256(path.join(north.dataDir, c.keptPath)), c.receivedSha256);
      }

      // The table: a header, a row each (hashes shortened), and the count.
      const table = await agentCli(["conflicts", "--data", north.dataDir]);
      assert.equal(table.code, 0, table.stderr);
      const lines = table.stdout.trimEnd().split("\n");
      assert.match(
        lines[0],
        /^RECEIVED \(UTC\)\s+POLICY\s+CALLING AE\s+SOP INSTANCE UID\s+STORED\s+RECEIVED\s+KEPT AS\s+RESOLVED$/,
      );
      assert.ok(lines[1].includes(uids[1]) && lines[2].includes(uids[0]), table.stdout);
      assert.match(lines[1], /keepBoth\s+STORESCU/);
      assert.ok(lines[1].includes(listed.conflicts[0].storedSha256.slice(0, 16)));
      assert.ok(!lines[1].includes(listed.conflicts[0].storedSha256), "a terminal gets the short hash");
      assert.equal(lines[3], "2 conflicts, newest first (--json for both hashes in full)");

      // --limit, --since, --config; mistakes are exit 2, a data directory without an index exit 1.
      const one = await agentCli(["conflicts", "--data", north.dataDir, "--limit", "1"]);
      assert.equal(one.code, 0);
      assert.ok(one.stdout.includes(uids[1]) && !one.stdout.includes(uids[0]), one.stdout);
      assert.match(one.stdout, /1 of 2 conflicts, newest first \(--limit for more/);
      const later = await agentCli(["conflicts", "--data", north.dataDir, "--since", "2999-01-01"]);
      assert.equal(later.code, 0);
      assert.equal(later.stdout.trim(), "no conflicts recorded since 2999-01-01");
      const since = new Date(Date.parse(listed.conflicts[1].receivedAt) - 60_000).toISOString();
      const recent = await agentCli(["conflicts", "--data", north.dataDir, "--since", since, "--json"]);
      assert.equal(JSON.parse(recent.stdout).total, 2);
      const config = path.join(await Deno.makeTempDir(), "agent.yaml");
      await Deno.writeTextFile(config, `data: ${south.dataDir}\n`);
      const bySouthConfig = JSON.parse((await agentCli(["conflicts", "--config", config, "--json"])).stdout);
      assert.equal(bySouthConfig.total, 1);
      const [replaced] = bySouthConfig.conflicts;
      assert.equal(replaced.policy, "keepLast");
      assert.equal(replaced.keptPath, null);
      assert.equal(replaced.sopInstanceUid, await sopOf(southCopies.firsts[0]));
      assert.equal(replaced.storedSha256, await datasetSha256(southCopies.firsts[0]));
      assert.equal(replaced.receivedSha256, await datasetSha256(southCopies.seconds[0]));
      for (
        const bad of [["--limit", "0"], ["--limit", "1001"], ["--since", "yesterday"], ["extra"], ["--nope"]]
      ) {
        const r = await agentCli(["conflicts", "--data", north.dataDir, ...bad]);
        assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
        assert.match(r.stderr, /agent conflicts: [\s\S]*usage: deno task agent conflicts/, bad.join(" "));
      }
      const empty = await Deno.makeTempDir();
      const missing = await agentCli(["conflicts", "--data", empty]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /there is no agent\.db in /);
      const help = await agentCli(["conflicts", "--help"]);
      assert.equal(help.code, 0);
      for (const flag of ["--config", "--data", "--since", "--unresolved", "--limit", "--json", "--keep"]) {
        assert.match(help.stdout, new RegExp(`^  ${flag}\\b`, "m"), flag);
      }

      // The HTTP API: a page, newest first, with the total; bad parameters are 400 with a sentence.
      const page = async (q: string) => {
        const res = await north.http(`/conflicts${q}`);
        return { status: res.status, body: await res.json() };
      };
      const first = await page("?limit=1");
      assert.equal(first.status, 200);
      assert.equal(first.body.total, 2);
      assert.deepEqual(first.body.conflicts, [listed.conflicts[0]]);
      assert.deepEqual((await page("?limit=1&offset=1")).body.conflicts, [listed.conflicts[1]]);
      assert.deepEqual((await page("")).body.conflicts, listed.conflicts);
      assert.equal((await page("?since=2999-01-01")).body.total, 0);
      for (const q of ["?limit=0", "?limit=x", "?offset=-1", "?since=soon"]) {
        const r = await page(q);
        assert.equal(r.status, 400, q);
        assert.equal(typeof r.body.error, "string", q);
      }

      // The hub: an operator reads a site's conflicts through the tunnel; a viewer may not.
      await eventually(
        "north and south online",
        () => hub.sessions.get("north") && hub.sessions.get("south"),
      );
      const url = `http://127.0.0.1:${hub.port}`;
      const operator = createConduitClient({
        url,
        token: (await hub.tokens.create("ops", "operator")).token,
      });
      const viewer = createConduitClient({ url, token: (await hub.tokens.create("eyes", "viewer")).token });
      const viaHub = await operator.site.conflicts.query({ site: "north" });
      assert.deepEqual(viaHub, { limit: 50, offset: 0, total: 2, conflicts: listed.conflicts });
      const second = await operator.site.conflicts.query({ site: "north", limit: 1, offset: 1 });
      assert.deepEqual(second.conflicts, [listed.conflicts[1]]);
      assert.equal(second.total, 2);
      assert.deepEqual((await operator.site.conflicts.query({ site: "south" })).conflicts, [replaced]);
      const code = (c: string) => (e: unknown) => e instanceof TRPCClientError && e.data?.code === c;
      await assert.rejects(viewer.site.conflicts.query({ site: "north" }), code("FORBIDDEN"));
      await assert.rejects(operator.site.conflicts.query({ site: "nowhere" }), code("NOT_FOUND"));
      await assert.rejects(
        operator.site.conflicts.query({ site: "north", limit: 1001 }),
        code("BAD_REQUEST"),
      );

      // An agent of an earlier version is not sent the request (it would reset the stream): told why.
      const { credential } = await hub.registry.enroll((await hub.registry.add("east")).enrollmentToken);
      await assert.rejects(operator.site.conflicts.query({ site: "east" }), code("SERVICE_UNAVAILABLE"));
      older = olderAgent(hub, "east", credential);
      await older.ready;
      await eventually("east connected", () => hub.sessions.get("east"));
      await assert.rejects(operator.site.conflicts.query({ site: "east" }), (e: unknown) => {
        assert.ok(code("PRECONDITION_FAILED")(e), String(e));
        assert.match(
          (e as Error).message,
          /^this agent version \(0\.0\.9, older than 2026-12-05 06:41 UTC\) cannot list conflicts: upgrade the agent of east$/,
        );
        return true;
      });
      assert.ok(!older.asked.includes("conflicts"), `asked: ${older.asked}`);
    } finally {
      older?.close();
      for (const agent of agents.toReversed()) await agent.stop();
      await hub.stop();
    }
  },
});

/**
 * Resolving conflicts (docs/operations.md, "Resolving a conflict") with a real hub, a real agent under
 * `archive.duplicates: keepBoth` routing to DCMTK's storescp, and objects received twice with other bytes
 * by DCMTK's storescu: `deno task agent conflicts resolve ID --keep received|stored` (through the running
 * agent) and `site.resolveConflict` through the hub's typed client (an operator's, audited). Checked: the
 * file bytes on disk, the index row, DCMTK findscu and WADO-RS through the hub answering the kept object,
 * the forward queue row back to pending (and the received bytes delivered once the destination resumes),
 * a second resolution refused, and an older agent told it cannot.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { TRPCClientError } from "@trpc/client";
import { readPart10Header } from "@conduit/shared/dicom";
import { runDcmtk, skipReason, startStorescp } from "../support/peers.ts";
import {
  agentCli,
  type AgentProcess,
  datasetBytes,
  filesBySopInstance,
  indexRows,
  startAgentProcess,
} from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { storescu } from "../support/send.ts";
import { conflictingPair, datasetSha256, sopOf } from "../support/conflicts.ts";
import { responseParts } from "../support/multipart.ts";
import { olderAgent } from "../support/older_agent.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { FEATURE_CONFLICTS, FEATURE_DELIVERY, FEATURE_INSTANCE_PATH } from "@conduit/shared/tunnel";

const skip = skipReason("storescu", "storescp", "dcmodify", "findscu");

interface Pair {
  first: string;
  second: string;
  sop: string;
  study: string;
  series: string;
}

/** A generated object and its copy with other bytes (Series Description CHANGED), in a series of its own. */
async function pair(seed: string) {
  const { first, second } = await conflictingPair(seed);
  return { first, second, sop: await sopOf(first) };
}

/** A pair with its Study and Series Instance UIDs, as the agent indexed them. */
function indexed(agent: AgentProcess, p: { first: string; second: string; sop: string }): Pair {
  const [row] = indexRows(
    agent.dataDir,
    "SELECT study_instance_uid AS study, series_instance_uid AS series FROM instances WHERE sop_instance_uid = ?",
    p.sop,
  );
  return { ...p, study: String(row.study), series: String(row.series) };
}

/** The archived object's index row, and its file's data set as the row locates it. */
function archivedObject(agent: AgentProcess, sop: string) {
  const [row] = indexRows(
    agent.dataDir,
    `SELECT path, sha256, dataset_offset AS o, dataset_size AS n FROM instances WHERE sop_instance_uid = ?`,
    sop,
  ) as { path: string; sha256: string; o: number; n: number }[];
  const bytes = fs.readFileSync(path.join(agent.dataDir, row.path));
  return { row, dataset: new Uint8Array(bytes.subarray(row.o, row.o + row.n)) };
}

/** The Series Description findscu gets from the agent for a series. */
async function seriesDescription(agent: AgentProcess, p: Pair): Promise<string> {
  const f = await runDcmtk("findscu", [
    "-S",
    "-aec",
    agent.aet,
    "-k",
    "QueryRetrieveLevel=SERIES",
    "-k",
    `StudyInstanceUID=${p.study}`,
    "-k",
    `SeriesInstanceUID=${p.series}`,
    "-k",
    "SeriesDescription",
    "-v",
    "127.0.0.1",
    String(agent.port),
  ]);
  assert.equal(f.code, 0, `findscu failed: ${f.stdout}${f.stderr}`);
  const found = /\(0008,103e\) LO \[([^\]]*)\]/i.exec(`${f.stdout}${f.stderr}`);
  assert.ok(found, `no Series Description in ${f.stdout}${f.stderr}`);
  return found[1].trim();
}

/** The forward queue row of an object to the destination `archive`. */
function queueState(agent: AgentProcess, sop: string): string {
  const [row] = indexRows(
    agent.dataDir,
    "SELECT state FROM queue WHERE sop_instance_uid = ? AND destination = 'archive'",
    sop,
  );
  return String(row?.state);
}

Deno.test({
  name: "conflicts resolved: keep received or stored, by the agent's CLI and through the hub",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    const scpDir = await Deno.makeTempDir({ prefix: "resolve-scp-" });
    const scp = await startStorescp({ dir: scpDir, bitPreserving: true });
    let agent: AgentProcess | undefined;
    let older: ReturnType<typeof olderAgent> | undefined;
    let lister: ReturnType<typeof olderAgent> | undefined;
    try {
      agent = await startAgentProcess({
        config: {
          archive: { duplicates: "keepBoth" },
          nodes: { archive: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
          routes: [{ name: "everything", to: [{ node: "archive" }] }],
          queue: { backoffBaseSeconds: 0.2, backoffCapSeconds: 1 },
        },
        args: await siteArgs(hub, "north"),
      });
      const north = agent;
      // Four objects, each in a series of its own: kept received and stored by the CLI, then by the hub.
      const made = await Promise.all(["cli-received", "cli-stored", "hub-received", "hub-stored"].map(pair));
      const r = await storescu(made.map((p) => p.first), north);
      assert.equal(r.code, 0, r.stderr);
      const pairs = made.map((p) => indexed(north, p));
      assert.equal(new Set(pairs.map((p) => p.series)).size, 4, "a series each");
      await eventually(
        "the first objects delivered",
        () => pairs.every((p) => queueState(north, p.sop) === "done"),
      );
      // The destination paused: a row sent again stays pending for the test to see.
      const paused = await north.http("/queue/pause/archive", { method: "POST" });
      assert.equal(paused.status, 200, await paused.text());
      for (const p of pairs) {
        const again = await storescu([p.second], north);
        assert.equal(again.code, 0, again.stderr);
      }
      const listed = await (await north.http("/conflicts?unresolved=true")).json();
      assert.equal(listed.total, 4);
      const idOf = (p: Pair) =>
        listed.conflicts.find((c: { sopInstanceUid: string }) => c.sopInstanceUid === p.sop);
      for (const p of pairs) {
        assert.equal(queueState(north, p.sop), "done", "a kept-aside copy is not routed");
      }

      /** Kept received: the received bytes at the object key, the index row theirs, routed again. */
      const assertReceived = async (p: Pair, conflict: { keptPath: string }) => {
        assert.ok(!fs.existsSync(path.join(north.dataDir, conflict.keptPath)), "the kept copy moved");
        const { row, dataset } = archivedObject(north, p.sop);
        assert.ok(!row.path.includes(".conflict-"), row.path);
        assert.deepEqual(dataset, await datasetBytes(p.second));
        assert.equal(row.sha256, await datasetSha256(p.second));
        assert.equal(await seriesDescription(north, p), "CHANGED");
        assert.equal(queueState(north, p.sop), "pending", "routed again");
      };
      /** Kept stored: the kept copy deleted, the archived object and its row as they were. */
      const assertStored = async (p: Pair, conflict: { keptPath: string }) => {
        assert.ok(!fs.existsSync(path.join(north.dataDir, conflict.keptPath)), "the kept copy deleted");
        assert.deepEqual(archivedObject(north, p.sop).dataset, await datasetBytes(p.first));
        assert.notEqual(await seriesDescription(north, p), "CHANGED");
        assert.equal(queueState(north, p.sop), "done", "not sent again");
      };

      // The CLI, through the running agent.
      const httpPort = ["--http-port", String(north.httpPort)];
      const cliReceived = idOf(pairs[0]);
      const byCli = await agentCli([
        "conflicts",
        "resolve",
        String(cliReceived.id),
        "--keep",
        "received",
        ...httpPort,
        "--json",
      ]);
      assert.equal(byCli.code, 0, byCli.stderr);
      const resolved = JSON.parse(byCli.stdout);
      assert.equal(resolved.id, cliReceived.id);
      assert.equal(resolved.resolution, "received");
      assert.ok(!Number.isNaN(Date.parse(resolved.resolvedAt)));
      await assertReceived(pairs[0], cliReceived);
      const cliStored = idOf(pairs[1]);
      const kept = await agentCli([
        "conflicts",
        "resolve",
        String(cliStored.id),
        "--keep",
        "stored",
        ...httpPort,
      ]);
      assert.equal(kept.code, 0, kept.stderr);
      assert.match(kept.stdout, new RegExp(`^conflict ${cliStored.id} resolved: the stored object kept`));
      await assertStored(pairs[1], cliStored);
      // Not twice; mistakes are usage errors; without a running agent it says what to do.
      const twice = await agentCli([
        "conflicts",
        "resolve",
        String(cliStored.id),
        "--keep",
        "received",
        ...httpPort,
      ]);
      assert.equal(twice.code, 1);
      assert.match(
        twice.stderr,
        new RegExp(`conflict ${cliStored.id} was resolved already \\(keep stored, at `),
      );
      assert.equal(archivedObject(north, pairs[1].sop).row.path.includes(".conflict-"), false);
      for (
        const bad of [["resolve"], ["resolve", "x", "--keep", "stored"], ["resolve", "1"], [
          "resolve",
          "1",
          "--keep",
          "both",
        ]]
      ) {
        const r = await agentCli(["conflicts", ...bad, ...httpPort]);
        assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
        assert.match(r.stderr, /usage: deno task agent conflicts/);
      }
      const unknown = await agentCli(["conflicts", "resolve", "999", "--keep", "stored", ...httpPort]);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /there is no conflict 999/);
      const nobody = await agentCli(["conflicts", "resolve", "1", "--keep", "stored", "--http-port", "9"]);
      assert.equal(nobody.code, 1);
      assert.match(
        nobody.stderr,
        /cannot reach the agent at .* to resolve \(a conflict is resolved by the running agent/,
      );

      // The HTTP API: a body or query it cannot take is 400 with a sentence, a resolved conflict 409.
      for (
        const [p, body, status] of [
          [`/conflicts/${cliStored.id}/resolve`, { keep: "both" }, 400],
          [`/conflicts/x/resolve`, { keep: "stored" }, 400],
          [`/conflicts/${cliStored.id}/resolve`, { keep: "stored" }, 409],
          [`/conflicts/999/resolve`, { keep: "stored" }, 404],
        ] as const
      ) {
        const res = await north.http(p, { method: "POST", body: JSON.stringify(body) });
        assert.equal(res.status, status, p);
        assert.equal(typeof (await res.json()).error, "string");
      }
      const firstPage = await (await north.http("/conflicts?limit=2")).json();
      const nextPage = await (await north.http(`/conflicts?before=${firstPage.conflicts[1].id}`)).json();
      assert.equal(nextPage.before, firstPage.conflicts[1].id);
      assert.deepEqual(
        [...firstPage.conflicts, ...nextPage.conflicts].map((c: { id: number }) => c.id),
        listed.conflicts.map((c: { id: number }) => c.id),
        "the cursor's pages make the whole list",
      );
      for (const q of ["?before=x", "?before=0", "?unresolved=maybe"]) {
        const res = await north.http(`/conflicts${q}`);
        assert.equal(res.status, 400, q);
        await res.body?.cancel();
      }

      // The CLI's listing shows them resolved; --unresolved leaves them out.
      const table = await agentCli(["conflicts", "--data", north.dataDir]);
      assert.match(table.stdout, new RegExp(`${pairs[0].sop}\\s.*keep received`));
      assert.match(table.stdout, new RegExp(`${pairs[1].sop}\\s.*keep stored`));
      const open = JSON.parse(
        (await agentCli(["conflicts", "--data", north.dataDir, "--unresolved", "--json"])).stdout,
      );
      assert.deepEqual(
        open.conflicts.map((c: { sopInstanceUid: string }) => c.sopInstanceUid).sort(),
        [pairs[2].sop, pairs[3].sop].sort(),
      );

      // Through the hub: an operator's typed client; a viewer may not; audited.
      await eventually("north online", () => hub.sessions.get("north"));
      const url = `http://127.0.0.1:${hub.port}`;
      const operatorToken = (await hub.tokens.create("ops", "operator")).token;
      const operator = createConduitClient({ url, token: operatorToken });
      const viewer = createConduitClient({ url, token: (await hub.tokens.create("eyes", "viewer")).token });
      const admin = createConduitClient({ url, token: (await hub.tokens.create("adm", "admin")).token });
      const code = (c: string) => (e: unknown) => e instanceof TRPCClientError && e.data?.code === c;
      const hubReceived = idOf(pairs[2]);
      await assert.rejects(
        viewer.site.resolveConflict.mutate({ site: "north", id: hubReceived.id, keep: "received" }),
        code("FORBIDDEN"),
      );
      const viaHub = await operator.site.resolveConflict.mutate({
        site: "north",
        id: hubReceived.id,
        keep: "received",
      });
      assert.equal(viaHub.resolution, "received");
      await assertReceived(pairs[2], hubReceived);
      const hubStored = idOf(pairs[3]);
      assert.equal(
        (await operator.site.resolveConflict.mutate({ site: "north", id: hubStored.id, keep: "stored" }))
          .resolution,
        "stored",
      );
      await assertStored(pairs[3], hubStored);
      await assert.rejects(
        operator.site.resolveConflict.mutate({ site: "north", id: hubStored.id, keep: "stored" }),
        (e: unknown) => {
          assert.ok(code("BAD_REQUEST")(e), String(e));
          assert.match((e as Error).message, new RegExp(`conflict ${hubStored.id} was resolved already`));
          return true;
        },
      );
      await assert.rejects(
        operator.site.resolveConflict.mutate({ site: "north", id: 999, keep: "stored" }),
        code("NOT_FOUND"),
      );
      // Each request audited before it was sent, then its outcome naming it (refusals of the agent too).
      const audited = (await admin.audit.list.query({ action: "site.conflict.resolve" })).reverse();
      const asked = (conflict: number, keep: string) => ({ conflict, keep, requested: true });
      const answered = (n: number, outcome: Record<string, unknown>) => ({
        ...audited[n - 1].detail,
        requested: undefined,
        request: audited[n - 1].id,
        ...outcome,
      });
      const failed = (n: number) => ({ failed: audited[n].detail.failed });
      assert.deepEqual(
        audited.map((e) => [e.actor, e.target, e.detail]),
        [
          asked(hubReceived.id, "received"),
          answered(1, { resolved: true }),
          asked(hubStored.id, "stored"),
          answered(3, { resolved: true }),
          asked(hubStored.id, "stored"),
          answered(5, failed(5)),
          asked(999, "stored"),
          answered(7, failed(7)),
        ].map((detail) => ["token:ops", "north", JSON.parse(JSON.stringify(detail))]),
      );
      assert.match(audited[5].detail.failed, new RegExp(`conflict ${hubStored.id} was resolved already`));
      assert.equal(typeof audited[7].detail.failed, "string");
      // The hub's listing: resolved ones shown, the unresolved filter, a stable cursor.
      const all = await operator.site.conflicts.query({ site: "north" });
      assert.equal(all.total, 4);
      assert.ok(all.conflicts.every((c) => c.resolution && c.resolvedAt), "all four resolved");
      assert.equal((await operator.site.conflicts.query({ site: "north", unresolved: true })).total, 0);
      const page = await operator.site.conflicts.query({ site: "north", limit: 2 });
      const rest = await operator.site.conflicts.query({ site: "north", before: page.conflicts[1].id });
      assert.deepEqual(
        [...page.conflicts, ...rest.conflicts].map((c) => c.id),
        all.conflicts.map((c) => c.id),
      );

      // WADO-RS through the hub answers the kept bytes.
      for (const [p, file] of [[pairs[0], pairs[0].second], [pairs[1], pairs[1].first]] as const) {
        const res = await fetch(
          `${url}/dicomweb/sites/north/studies/${p.study}/series/${p.series}/instances/${p.sop}`,
          {
            headers: {
              authorization: `Bearer ${operatorToken}`,
              accept: 'multipart/related; type="application/dicom"',
            },
          },
        );
        assert.equal(res.status, 200);
        const [part] = await responseParts(res);
        const h = readPart10Header(part.body);
        assert.deepEqual(part.body.subarray(h.datasetOffset), await datasetBytes(file));
      }

      // Resumed: the objects kept received are delivered again, with their new bytes.
      await north.http("/queue/resume/archive", { method: "POST" });
      await eventually(
        "the received objects delivered",
        () => [pairs[0], pairs[2]].every((p) => queueState(north, p.sop) === "done"),
      );
      const delivered = await filesBySopInstance(scpDir);
      for (const p of [pairs[0], pairs[2]]) {
        const wanted = await datasetBytes(p.second);
        const files = delivered.get(p.sop) ?? [];
        const got = await Promise.all(files.map(datasetBytes));
        assert.ok(got.some((b) => b.length === wanted.length && b.every((x, i) => x === wanted[i])), p.sop);
      }

      // An agent of an earlier version is not sent the request: told why.
      const { credential } = await hub.registry.enroll((await hub.registry.add("east")).enrollmentToken);
      older = olderAgent(hub, "east", credential);
      await older.ready;
      await eventually("east connected", () => hub.sessions.get("east"));
      await assert.rejects(
        operator.site.resolveConflict.mutate({ site: "east", id: 1, keep: "stored" }),
        (e: unknown) => {
          assert.ok(code("PRECONDITION_FAILED")(e), String(e));
          assert.match(
            (e as Error).message,
            /^this agent version \(0\.0\.9, older than 2026-12-05 08:53 UTC\) cannot resolve conflicts: upgrade the agent of east$/,
          );
          return true;
        },
      );
      await assert.rejects(
        operator.site.conflicts.query({ site: "east", unresolved: true }),
        code("PRECONDITION_FAILED"),
      );
      assert.ok(!older.asked.includes("resolveConflict"), `asked: ${older.asked}`);
      // One that lists conflicts but cannot resolve them: never sent the fields it would refuse.
      const west = await hub.registry.enroll((await hub.registry.add("west")).enrollmentToken);
      lister = olderAgent(hub, "west", west.credential, [
        FEATURE_INSTANCE_PATH,
        FEATURE_DELIVERY,
        FEATURE_CONFLICTS,
      ]);
      await lister.ready;
      await eventually("west connected", () => hub.sessions.get("west"));
      for (const input of [{ before: 5 }, { unresolved: true }]) {
        await assert.rejects(operator.site.conflicts.query({ site: "west", ...input }), (e: unknown) => {
          assert.ok(code("PRECONDITION_FAILED")(e), String(e));
          assert.match(
            (e as Error).message,
            /^this agent version \(0\.0\.9, older than 2026-12-05 08:53 UTC\) cannot list conflicts by before or unresolved: upgrade the agent of west$/,
          );
          return true;
        });
      }
      await assert.rejects(
        operator.site.resolveConflict.mutate({ site: "west", id: 1, keep: "received" }),
        /cannot resolve conflicts: upgrade the agent of west/,
      );
      for (const op of ["conflicts", "resolveConflict"]) {
        assert.ok(!lister.asked.includes(op), `asked: ${lister.asked}`);
      }
    } finally {
      older?.close();
      lister?.close();
      await agent?.stop();
      await scp.stop();
      await hub.stop();
    }
  },
});

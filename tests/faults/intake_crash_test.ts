/**
 * kill -9 between Success and the group commit (issue 16). The agent answers a C-STORE once the object
 * is durable in `<data>/incoming` and commits index and queue rows after, in groups. Here the group
 * commit is held (CONDUIT_TEST_COMMIT_HOLD_MS), every object is answered Success, the agent is killed
 * before any commit, and the restarted agent must index, queue and deliver every acknowledged object.
 *
 * A second test kills "between the place and the index commit": an object placed in the archive with
 * no index row and no clean stop (what a group commit killed half-way leaves) is indexed and routed at
 * the next start, not removed (it was answered Success).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { runDcmtk, skipReason, sleep, startStorescp } from "../support/peers.ts";
import { listFiles, startAgentProcess } from "../support/agent.ts";
import { acknowledgedFiles, readDbSnapshot, wholeObject } from "../support/crash.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("storescp", "storescu");
const COUNT = 12;

async function incoming(dataDir: string): Promise<string[]> {
  return (await listFiles(path.join(dataDir, "incoming")).catch(() => [] as string[])).filter((f) =>
    f.endsWith(".dcm")
  );
}

async function until(what: string, ok: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

Deno.test({
  name: "kill -9 between Success and the group commit: the restart commits, queues and delivers every object",
  ignore: Boolean(skip),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "conduit-intake-crash-" });
    const dataDir = path.join(root, "data");
    const series = await writeGeneratedSeries(path.join(root, "source"), {
      count: COUNT,
      rows: 64,
      columns: 64,
      seed: "intake-crash",
    });
    const sops = new Set<string>();
    for (const f of series.paths) sops.add(wholeObject(await Deno.readFile(f)).sop);
    const scp = await startStorescp({ dir: path.join(root, "destination"), bitPreserving: true });
    const config = {
      nodes: { dest: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
      routes: [{ name: "all", match: {}, to: [{ node: "dest" }] }],
      dimse: { groupCommit: true },
      queue: { backoffBaseSeconds: 0.1, backoffCapSeconds: 1 },
    };
    let agent = await startAgentProcess({
      dataDir,
      config,
      env: { CONDUIT_TEST_COMMIT_HOLD_MS: "600000" },
    });
    try {
      const sending = runDcmtk("storescu", [
        "-v",
        "-aet",
        "SENDER",
        "-aec",
        agent.aet,
        "127.0.0.1",
        String(agent.port),
        ...series.paths,
      ], { timeoutMs: 120_000 });
      // Every object is in the intake once it was answered; the release then waits for the held commit.
      await until("every object in the intake", async () => (await incoming(dataDir)).length === COUNT);
      await sleep(300);
      await agent.kill();
      const sent = await sending;
      assert.equal(
        acknowledgedFiles(sent.stderr, series.paths).length,
        COUNT,
        `every object was answered Success before the kill: ${sent.stderr.slice(-1500)}`,
      );
      const dead = readDbSnapshot(path.join(dataDir, "agent.db"));
      assert.equal(dead.instances.size, 0, "the held group commit wrote no index row before the kill");

      agent = await startAgentProcess({ dataDir, config });
      const after = readDbSnapshot(path.join(dataDir, "agent.db"));
      for (const sop of sops) {
        assert.ok(after.instances.has(sop), `acknowledged ${sop} is indexed after the restart`);
        assert.ok(after.rows.some((r) => r.sop === sop), `acknowledged ${sop} is queued after the restart`);
        assert.equal(after.sizes.get(sop), "64 x 64", `${sop} is indexed with its image size`);
      }
      assert.deepEqual(await incoming(dataDir), [], "the intake is empty after the restart");
      const archived = (await listFiles(path.join(dataDir, "archive"))).filter((f) => f.endsWith(".dcm"));
      assert.equal(archived.length, COUNT, "every object is in the archive");
      // storescp writes a file as it arrives: a listed file may still be growing.
      const delivered = new Set<string>();
      await until("every object delivered whole", async () => {
        delivered.clear();
        for (const f of await listFiles(scp.dir)) {
          try {
            delivered.add(wholeObject(await Deno.readFile(f)).sop);
          } catch {
            return false;
          }
        }
        return delivered.size === COUNT;
      });
      assert.deepEqual([...delivered].sort(), [...sops].sort(), "the destination has every object");
    } finally {
      await agent.stop();
      await scp.stop();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "an archive file left without its index row by a crash is indexed and queued at the next start",
  ignore: Boolean(skip),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "conduit-stray-" });
    const dataDir = path.join(root, "data");
    const series = await writeGeneratedSeries(path.join(root, "source"), {
      count: 2,
      rows: 32,
      columns: 32,
      seed: "stray",
    });
    const config = {
      nodes: { dest: { aet: "NOWHERE", host: "127.0.0.1", port: 9 } },
      routes: [{ name: "all", match: {}, to: [{ node: "dest" }] }],
      dimse: { groupCommit: true },
    };
    let agent = await startAgentProcess({ dataDir, config });
    try {
      const first = await runDcmtk("storescu", [
        "-aec",
        agent.aet,
        "127.0.0.1",
        String(agent.port),
        series.paths[0],
      ]);
      assert.equal(first.code, 0, first.stderr);
      // Its group commit placed it in the archive (it may still be in the intake at storescu's exit).
      const archived = async () =>
        (await listFiles(path.join(dataDir, "archive"))).filter((f) => f.endsWith(".dcm"));
      await until("the first object archived", async () => (await archived()).length === 1);
      await agent.kill(); // no clean stop: the next start reconciles
      // What a group commit killed after placing an object and before its rows leaves: the file at its key.
      const [stored] = await archived();
      const bytes = await Deno.readFile(series.paths[1]);
      const { sop } = wholeObject(bytes);
      const stray = path.join(path.dirname(stored), `${sop}.dcm`);
      // Same study and series folder as the first; a whole object with its own UIDs.
      fs.writeFileSync(stray, bytes);
      agent = await startAgentProcess({ dataDir, config });
      const snap = readDbSnapshot(path.join(dataDir, "agent.db"));
      assert.ok(fs.existsSync(stray), "the stray file was kept");
      assert.ok(snap.instances.has(sop), "the stray object is indexed");
      assert.ok(snap.rows.some((r) => r.sop === sop), "the stray object is queued by the routes");
      assert.equal(snap.sizes.get(sop), "32 x 32", "the stray object is indexed with its image size");
    } finally {
      await agent.stop();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

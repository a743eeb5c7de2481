/**
 * A kill -9 in the middle of an erasure (agent/erase/erase.ts): after its index transaction and before its
 * files were taken out. The next start finishes the erasure from its journal before the crash reconcile,
 * which would otherwise index the file again (the archive holds it, the index does not: what a group
 * commit killed half-way leaves too).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { runDcmtk, skipReason, sleep } from "../support/peers.ts";
import { listFiles, startAgentProcess } from "../support/agent.ts";
import { readDbSnapshot, wholeObject } from "../support/crash.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { Database } from "../../agent/index/db.ts";

const skip = skipReason("storescu");

Deno.test({
  name:
    "kill -9 after an erasure's index transaction: the next start removes its files, not indexes them again",
  ignore: Boolean(skip),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "conduit-erase-crash-" });
    const dataDir = path.join(root, "data");
    const series = await writeGeneratedSeries(path.join(root, "source"), {
      count: 2,
      rows: 32,
      columns: 32,
      seed: "erase-crash",
    });
    let agent = await startAgentProcess({ dataDir });
    try {
      const sent = await runDcmtk("storescu", [
        "-aec",
        agent.aet,
        "127.0.0.1",
        String(agent.port),
        ...series.paths,
      ]);
      assert.equal(sent.code, 0, sent.stderr);
      const archived = async () =>
        (await listFiles(path.join(dataDir, "archive"))).filter((f) => f.endsWith(".dcm"));
      for (let i = 0; (await archived()).length < 2; i++) {
        assert.ok(i < 600, "both objects archived");
        await sleep(100);
      }
      await agent.kill(); // no clean stop: the next start reconciles what changed lately
      const [kept, erased] = series.paths.map((p) => wholeObject(Deno.readFileSync(p)).sop);
      const file = (await archived()).find((f) => f.endsWith(`${erased}.dcm`))!;
      const key = path.relative(dataDir, file);
      // The erasure's journal, then its index transaction (the row gone); killed before the file moved out.
      fs.mkdirSync(path.join(dataDir, "erasing"));
      fs.writeFileSync(
        path.join(dataDir, "erasing", "j.json"),
        JSON.stringify({ entries: [{ key, moved: "erasing/j/0" }] }),
      );
      const db = await Database.open(path.join(dataDir, "agent.db"));
      db.write(() => db.statement("DELETE FROM instances WHERE sop_instance_uid = ?").run(erased));
      db.close();

      agent = await startAgentProcess({ dataDir });
      assert.ok(!fs.existsSync(file), "the erased object's file is gone");
      const snap = readDbSnapshot(path.join(dataDir, "agent.db"));
      assert.ok(!snap.instances.has(erased), "the erased object is not indexed again");
      assert.ok(snap.instances.has(kept), "the other object stays");
      assert.deepEqual(fs.readdirSync(path.join(dataDir, "erasing")), []);
    } finally {
      await agent.stop();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

/**
 * A transfer of an object the source archived before the structure checks existed (an older agent's archive:
 * here an archived CT whose Modality's VR is patched to XX, which DCMTK reads with a 32-bit length and cannot
 * read): the destination refuses it with 0xC000 and its reason, the source puts its row in the dead letter at
 * once (a status the queue classes as permanent, as a C-STORE's 0xC000), the transfer's task fails saying why,
 * and nothing of it reaches the destination's archive; the good object of the same study goes. Until
 * 2026-12-06 the destination's refusal carried no status: the source sent the object again with backoff until
 * `queue.maxAttempts`, and the transfer waited meanwhile.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { readPart10Header } from "@conduit/shared/dicom";
import { filesBySopInstance, startAgentProcess } from "../support/agent.ts";
import { eventually } from "../support/hub.ts";
import { runDcmtk } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { ctObject } from "../support/faults.ts";
import { withDefect } from "../support/structure_defects.ts";
import { finished, rigTest, skip } from "./_rig.ts";

if (skip) console.warn(`malformed_source_test: skipped: ${skip}`);

rigTest(
  "a malformed object in the source's archive fails its transfer task with 0xC000, sent once",
  async (r) => {
    const dir = await Deno.makeTempDir({ prefix: "malformed-source-" });
    const bad = ctObject("malformed-source-bad", { rows: 16, columns: 16 });
    const good = ctObject("malformed-source-good", { rows: 16, columns: 16 });
    // one study: the good object takes the bad one's study and series
    const goodFile = path.join(dir, "good.dcm");
    await Deno.writeFile(goodFile, good.bytes);
    const mod = await runDcmtk("dcmodify", [
      "-nb",
      "-m",
      `(0020,000D)=${bad.studyInstanceUid}`,
      "-m",
      `(0020,000E)=${bad.seriesInstanceUid}`,
      goodFile,
    ]);
    assert.equal(mod.code, 0, mod.stderr);
    const badFile = path.join(dir, "bad.dcm");
    await Deno.writeFile(badFile, bad.bytes);
    const sent = await storescu([badFile, goodFile], r.north);
    assert.equal(sent.code, 0, sent.stderr);

    // North as an older agent left it: the archived copy patched in place (the same size), its hash unknown.
    await eventually(
      "both indexed at north",
      () => sqlite(r.north.dataDir, "SELECT count(*) FROM instances").then((n) => n === "2" || undefined),
    );
    await r.north.stop();
    const archived =
      (await filesBySopInstance(path.join(r.north.dataDir, "archive"))).get(bad.sopInstanceUid)![0];
    const bytes = await Deno.readFile(archived);
    const at = readPart10Header(bytes).datasetOffset;
    bytes.set(withDefect(bytes.subarray(at), "unknown-vr"), at);
    await Deno.writeFile(archived, bytes);
    await sqlite(
      r.north.dataDir,
      `UPDATE instances SET sha256 = '' WHERE sop_instance_uid = '${bad.sopInstanceUid}'`,
    );
    r.north = await startAgentProcess(r.northArgs);
    await eventually("north online", () => r.hub.sessions.get("north"));

    const { id } = await r.client.transfers.create.mutate({
      source: { site: "north" },
      destination: { site: "south" },
      studies: [bad.studyInstanceUid],
    });
    const done = await finished(r, id, 60_000).catch(async (err) => {
      const t = await r.client.transfers.get.query({ id });
      throw new Error(`${err.message}: ${JSON.stringify(t.tasks[0])}`);
    });
    assert.equal(done.status, "failure", JSON.stringify(done.tasks[0]));
    assert.deepEqual(
      { done: done.totals.done, failed: done.totals.failed },
      { done: 1, failed: 1 },
      JSON.stringify(done.tasks[0]),
    );
    assert.match(done.tasks[0].lastError ?? "", /invalid VR XX \(no DICOM VR\) for \(0008,0060\)/);
    const atSouth = await filesBySopInstance(path.join(r.south.dataDir, "archive"));
    assert.deepEqual([...atSouth.keys()], [good.sopInstanceUid], "only the good object at south");
    // Sent once: the row is dead at north after its first attempt.
    assert.equal(
      await sqlite(
        r.north.dataDir,
        `SELECT state || ' ' || attempts FROM queue WHERE sop_instance_uid = '${bad.sopInstanceUid}'`,
      ),
      "dead 1",
    );
  },
);

/** One value from the agent's index (sqlite3 on its libsql file; WAL mode lets it read while the agent runs). */
async function sqlite(dataDir: string, query: string): Promise<string> {
  const out = await new Deno.Command("sqlite3", { args: [path.join(dataDir, "agent.db"), query] }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

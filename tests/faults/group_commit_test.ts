/**
 * Readers of what is archived see every object answered Success, although its index rows follow in a
 * group commit (dimse.groupCommit, issue 16). The commit is held (CONDUIT_TEST_COMMIT_HOLD_MS) or made to
 * fail for a while (a file where the study's archive folder goes), so that the window between Success and
 * the commit is wide open: a C-FIND and a C-GET on another association, and the sender's own release,
 * must wait for the commit of what was acknowledged before them rather than read the index without it.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { listFiles, startAgentProcess } from "../support/agent.ts";
import { runDcmtk, skipReason, sleep } from "../support/peers.ts";
import { retrieveWith } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("storescu", "findscu", "getscu");
const COUNT = 3;

/** Objects answered Success: waiting in the intake, or placed by a group commit since. */
async function acknowledged(dataDir: string): Promise<number> {
  let n = 0;
  for (const dir of ["incoming", "archive"]) {
    const files = await listFiles(path.join(dataDir, dir)).catch(() => [] as string[]);
    n += files.filter((f) => f.endsWith(".dcm")).length;
  }
  return n;
}

async function until(what: string, ok: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function send(agent: { aet: string; port: number }, files: string[]) {
  return runDcmtk("storescu", [
    "-aet",
    "SENDER",
    "-aec",
    agent.aet,
    "127.0.0.1",
    String(agent.port),
    ...files,
  ], {
    timeoutMs: 120_000,
  });
}

/** SOP Instance UIDs a C-FIND at IMAGE level finds in the study. */
async function found(agent: { aet: string; port: number }, studyUid: string): Promise<number> {
  const f = await runDcmtk("findscu", [
    "-v",
    "-S",
    "-aec",
    agent.aet,
    "-k",
    "QueryRetrieveLevel=IMAGE",
    "-k",
    `StudyInstanceUID=${studyUid}`,
    "-k",
    "SOPInstanceUID",
    "127.0.0.1",
    String(agent.port),
  ]);
  assert.equal(f.code, 0, f.stderr);
  return (f.stderr.match(/\(0008,0018\) UI \[/g) ?? []).length;
}

Deno.test({
  name: "a C-FIND and a C-GET after Success see the objects while their group commit is still held",
  ignore: Boolean(skip),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "conduit-group-commit-" });
    const series = await writeGeneratedSeries(path.join(root, "source"), {
      count: COUNT,
      rows: 32,
      columns: 32,
      seed: "group-commit-readers",
    });
    const agent = await startAgentProcess({
      config: { dimse: { groupCommit: true } },
      env: { CONDUIT_TEST_COMMIT_HOLD_MS: "2500" },
    });
    try {
      const sending = send(agent, series.paths);
      // Answered Success: every object is durable in the intake, none committed yet (the hold).
      await until("every object acknowledged", async () => (await acknowledged(agent.dataDir)) === COUNT);
      const started = Date.now();
      assert.equal(await found(agent, series.studyUid), COUNT, "a C-FIND after Success finds every object");
      const out = path.join(root, "got");
      await Deno.mkdir(out);
      const get = await retrieveWith(
        "getscu",
        agent,
        ["QueryRetrieveLevel=STUDY", `StudyInstanceUID=${series.studyUid}`],
        ["-od", out],
      );
      assert.equal(get.code, 0, get.stderr);
      assert.equal((await listFiles(out)).length, COUNT, "a C-GET after Success brings every object");
      assert.ok(Date.now() - started < 60_000);
      assert.equal((await sending).code, 0);
    } finally {
      await agent.stop();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "while the group commit fails, the sender's release waits for it instead of answering at once",
  ignore: Boolean(skip),
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "conduit-group-commit-" });
    const series = await writeGeneratedSeries(path.join(root, "source"), {
      count: COUNT,
      rows: 32,
      columns: 32,
      seed: "group-commit-blocked",
    });
    // The hold lets every object be answered before the first group (a failing group refuses new objects).
    const agent = await startAgentProcess({
      config: { dimse: { groupCommit: true } },
      env: { CONDUIT_TEST_COMMIT_HOLD_MS: "2000" },
    });
    // A file where the study's archive folder goes: placing the objects fails until it is gone.
    const blocker = path.join(agent.dataDir, "archive", series.studyUid);
    await Deno.mkdir(path.dirname(blocker), { recursive: true });
    await Deno.writeTextFile(blocker, "not a folder");
    try {
      let exited = false;
      const sending = send(agent, series.paths).finally(() => exited = true);
      await until("every object acknowledged", async () => (await acknowledged(agent.dataDir)) === COUNT);
      await until(
        "the group commit failing",
        async () => (await Deno.readTextFile(agent.logFile)).includes("answered Success failed; retrying"),
      );
      await sleep(1000);
      assert.equal(exited, false, "the release waits while the acknowledged objects cannot be committed");
      await Deno.remove(blocker);
      const sent = await sending;
      assert.equal(sent.code, 0, sent.stderr);
      assert.equal(await found(agent, series.studyUid), COUNT, "after the release every object is indexed");
    } finally {
      await agent.stop();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

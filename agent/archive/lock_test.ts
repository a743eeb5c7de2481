import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { lockDataDir } from "./lock.ts";

/** A live process whose command line holds `word` as one of its arguments (bash's $0). */
function processWith(word: string): Deno.ChildProcess {
  return new Deno.Command("bash", { args: ["-c", "sleep 30; true", word], stdout: "null", stderr: "null" })
    .spawn();
}

Deno.test("lockDataDir: a directory held by an agent restore says so; by another agent, its process only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lock-test-" });
  const restore = processWith("restore");
  const other = processWith("--config");
  try {
    fs.writeFileSync(path.join(dir, "agent.pid"), `${restore.pid}\n`);
    assert.throws(
      () => lockDataDir(dir),
      new RegExp(
        `in use by agent process ${restore.pid} \\(agent restore: start it again once that has ended\\)$`,
      ),
    );
    fs.writeFileSync(path.join(dir, "agent.pid"), `${other.pid}\n`);
    assert.throws(() => lockDataDir(dir), new RegExp(`in use by agent process ${other.pid}$`));
    // A pid file whose process is gone is taken over.
    other.kill();
    await other.status;
    const release = lockDataDir(dir);
    assert.equal(fs.readFileSync(path.join(dir, "agent.pid"), "utf8").trim(), String(Deno.pid));
    release();
  } finally {
    for (const p of [restore, other]) {
      try {
        p.kill();
      } catch { /* ended */ }
      await p.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});

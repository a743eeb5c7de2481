import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { lockDataDir } from "./lock.ts";

/** A live process whose command line holds `word` as one of its arguments (bash's $0). */
/**
 * A process whose command line holds `word`, once it does: read right after the spawn, /proc's command line
 * may still be the spawner's, or empty mid-exec (a CI run under load took an agent's for a stranger's).
 */
async function processWith(word: string): Promise<Deno.ChildProcess> {
  const child = new Deno.Command("bash", {
    args: ["-c", "sleep 30; true", word],
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
    const argv = await Deno.readTextFile(`/proc/${child.pid}/cmdline`).catch(() => "");
    if (argv.split("\0").includes(word)) return child;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`bash with ${word} did not start`);
}

Deno.test("lockDataDir: a directory held by an agent restore says so; by another agent, its process only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lock-test-" });
  const restore = await processWith("restore");
  const other = await processWith("--config");
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

Deno.test("lockDataDir: a pid file older than the process now holding its number is a crash's, unless that is an agent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lock-test-reused-" });
  const file = path.join(dir, "agent.pid");
  const other = await processWith("--output-directory"); // a storescp, say
  const agent = await processWith("agent");
  try {
    // Written an hour before either process started: its writer is gone, its number given to another.
    const anHourAgo = new Date(Date.now() - 3600_000);
    fs.writeFileSync(file, `${other.pid}\n`);
    fs.utimesSync(file, anHourAgo, anHourAgo);
    const release = lockDataDir(dir);
    assert.equal(fs.readFileSync(file, "utf8").trim(), String(Deno.pid));
    release();
    // The same for a process whose command line names an agent: kept (a clock stepped forward could make a
    // running agent look younger than its file).
    fs.writeFileSync(file, `${agent.pid}\n`);
    fs.utimesSync(file, anHourAgo, anHourAgo);
    assert.throws(() => lockDataDir(dir), new RegExp(`in use by agent process ${agent.pid}`));
  } finally {
    for (const p of [other, agent]) {
      try {
        p.kill();
      } catch { /* ended */ }
      await p.status;
    }
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Ctrl-C during `agent backup` and `agent restore` leaves nothing half done and says what was done. The
 * signal lands at a known moment: a file the command must open is held with a write lease
 * (tests/support/lease.ts), the signal is sent while the command waits on it, then the lease is let go.
 *
 * - backup: it left a half-made --out (agent.db.part, no manifest.json) and said nothing; now what it wrote
 *   is removed, it says so, exit code 130.
 * - restore: it could end after replacing agent.db, before the mark that makes the next start reconcile the
 *   archive; stopped before anything changes, it now says nothing was changed, exit code 130.
 * - hub admin backup and restore: they left FILE.part or hub.db.restore and said nothing; now removed, said,
 *   exit code 130, hub.db untouched.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { agentCli, startAgentProcess } from "../support/agent.ts";
import { eventually, hubCli } from "../support/hub.ts";
import { type Lease, leaseFile } from "../support/lease.ts";
import { DENO_RUN_FLAGS, scratchDir } from "../support/processes.ts";
import { withoutDenoNotices } from "../support/deno_notices.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** `agent ARGS` (or `hub ARGS`) started, SIGINT sent once `ready()`, the lease let go; its exit and output. */
async function interrupted(args: string[], ready: () => boolean, lease: Lease, main = "agent/main.ts") {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...DENO_RUN_FLAGS, path.join(ROOT, main), ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  await eventually("the command to wait on the held file", ready);
  child.kill("SIGINT");
  await lease.release();
  const o = await output;
  return {
    code: o.code,
    stdout: new TextDecoder().decode(o.stdout),
    stderr: withoutDenoNotices(new TextDecoder().decode(o.stderr)),
  };
}

/**
 * Whether a process waits to open `file` under its lease: the kernel lists the lease as breaking, on a line
 * naming the file's inode (other tests' leases, on other files, may be breaking meanwhile).
 */
function leaseBroken(file: string): () => boolean {
  const inode = fs.statSync(file).ino;
  return () =>
    Deno.readTextFileSync("/proc/locks").split("\n").some((line) =>
      /\bBREAK(ING|ER)\b/.test(line) && new RegExp(`:${inode} `).test(line)
    );
}

Deno.test({
  name: "agent backup and restore stopped by Ctrl-C leave nothing half done and say so (exit 130)",
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("backup-sigint-");
    const agent = await startAgentProcess({ dataDir: path.join(dir, "data") });
    await agent.stop();
    const data = agent.dataDir;
    // The credential is copied after the database: the backup waits there, with agent.db.part made.
    const credential = path.join(data, "hub-credential.json");
    await Deno.writeTextFile(credential, "{}\n");
    const out = path.join(dir, "backup");
    const held = await leaseFile(credential);
    let lease: Lease = held;
    try {
      const backup = await interrupted(
        ["backup", "--data", data, "--out", out, "--with-archive"],
        () => fs.existsSync(path.join(out, "agent.db")),
        held,
      );
      assert.equal(backup.code, 130, backup.stderr);
      assert.equal(backup.stdout, "");
      assert.match(backup.stderr, /^agent backup: SIGINT: stopping at the end of the current step/m);
      assert.match(backup.stderr, /^agent backup: stopped by SIGINT: what was written is removed$/m);
      assert.equal(fs.existsSync(out), false, "the half-made backup is gone");

      // A whole backup, then a restore held while it reads the backup's database.
      const made = await agentCli(["backup", "--data", data, "--out", out]);
      assert.equal(made.code, 0, made.stderr);
      const before = fs.readdirSync(data).sort();
      lease = await leaseFile(path.join(out, "agent.db"));
      const restore = await interrupted(
        ["restore", "--from", out, "--data", data],
        leaseBroken(path.join(out, "agent.db")),
        lease,
      );
      assert.equal(restore.code, 130, restore.stderr);
      assert.match(restore.stderr, /^agent restore: stopped by SIGINT: nothing was changed$/m);
      assert.deepEqual(fs.readdirSync(data).sort(), before, "no agent.db.replaced-*, no restored mark");
    } finally {
      await lease.release();
      await held.release();
    }
  },
});

Deno.test({
  name: "hub admin backup and restore stopped by Ctrl-C leave nothing behind and say so (exit 130)",
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("hub-backup-sigint-");
    const data = path.join(dir, "hub");
    assert.equal((await hubCli(["admin", "site", "add", "north", "--data", data])).code, 0);
    const db = path.join(data, "hub.db");
    const out = path.join(dir, "hub-backup.db");
    // The backup waits to open hub.db.
    let lease = await leaseFile(db);
    try {
      const backup = await interrupted(
        ["admin", "backup", "--data", data, "--out", out],
        leaseBroken(db),
        lease,
        "hub/main.ts",
      );
      assert.equal(backup.code, 130, backup.stderr);
      assert.equal(backup.stdout, "");
      assert.match(backup.stderr, /^hub admin backup: stopped by SIGINT: nothing written$/m);
      assert.deepEqual(fs.readdirSync(dir).sort(), ["hub"], "no hub-backup.db, no hub-backup.db.part");

      const made = await hubCli(["admin", "backup", "--data", data, "--out", out]);
      assert.equal(made.code, 0, made.stderr);
      const before = fs.readdirSync(data).sort();
      const bytes = fs.readFileSync(db);
      // The restore waits to copy the backup beside hub.db.
      lease = await leaseFile(out);
      const restore = await interrupted(
        ["admin", "restore", "--from", out, "--data", data],
        leaseBroken(out),
        lease,
        "hub/main.ts",
      );
      assert.equal(restore.code, 130, restore.stderr);
      assert.match(restore.stderr, /^hub admin restore: stopped by SIGINT: nothing was changed$/m);
      assert.deepEqual(fs.readdirSync(data).sort(), before, "no hub.db.restore, no hub.db.replaced-*");
      assert.deepEqual(fs.readFileSync(db), bytes);
    } finally {
      await lease.release();
    }
  },
});

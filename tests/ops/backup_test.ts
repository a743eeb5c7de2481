/**
 * Online backup and restore (docs/operations.md, "Backup and restore"): `agent backup` while DCMTK
 * `storescu` keeps sending to the agent, `agent restore` into a new data directory, an agent started on
 * it answering DCMTK `findscu`, `hub admin backup` of a running hub's file and `hub admin restore` of it
 * into a stopped hub's data directory. Real agent and hub processes.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import LibsqlDatabase from "libsql";
import { generateInstance, uidFromKey } from "@conduit/shared/testing";
import { agentCli, indexRows, listFiles, startAgentProcess } from "../support/agent.ts";
import { eventually, hubAdmin, hubCli, startHubProcess, startTestHub } from "../support/hub.ts";
import { freePort, runDcmtk, scratchDir, skipReason } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { restoreAgent } from "../../agent/backup/restore.ts";
import { restoreCommand } from "../../hub/admin/restore_command.ts";

const skip = skipReason("storescu", "findscu");
const STUDY = uidFromKey("backup/study");

/** Writes `count` generated CT objects of one study (from `first`) into `dir`; returns their files. */
async function objects(dir: string, first: number, count: number): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (let i = first; i < first + count; i++) {
    const file = path.join(dir, `ct${i}.dcm`);
    await Deno.writeFile(
      file,
      generateInstance({
        modality: "CT",
        patientName: "BACKUP^TEST",
        patientId: "BACKUP-1",
        studyInstanceUid: STUDY,
        seriesInstanceUid: uidFromKey(`backup/series/${i % 3}`),
        sopInstanceUid: uidFromKey(`backup/sop/${i}`),
        instanceNumber: i + 1,
        rows: 64,
        columns: 64,
      }),
    );
    files.push(file);
  }
  return files;
}

/**
 * The objects the agent says it has stored (its /metrics; none is removed or stored twice here). Not read
 * from agent.db: a libsql connection of this process stays open after close() while a statement object
 * lives, and holds SQLite's lock on the file, which the restore in place then finds in use.
 */
async function live(agent: { http(p: string): Promise<Response> }): Promise<number> {
  const text = await (await agent.http("/metrics")).text();
  return Number(/^conduit_agent_objects_stored_total (\d+)$/m.exec(text)?.[1] ?? NaN);
}

/** The SOP Instance UIDs of the study that `findscu` gets from an agent at IMAGE level. */
async function findInstances(agent: { aet: string; port: number }): Promise<Set<string>> {
  const f = await runDcmtk("findscu", [
    "-v",
    "-S",
    "-aec",
    agent.aet,
    "-k",
    "QueryRetrieveLevel=IMAGE",
    "-k",
    `StudyInstanceUID=${STUDY}`,
    "-k",
    "SOPInstanceUID",
    "127.0.0.1",
    String(agent.port),
  ]);
  assert.equal(f.code, 0, `findscu failed: ${f.stdout}${f.stderr}`);
  const uids = [...`${f.stdout}${f.stderr}`.matchAll(/\(0008,0018\) UI \[([0-9.]+)/g)].map((m) => m[1]);
  return new Set(uids);
}

function sha256(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function integrity(file: string): string {
  const db = new LibsqlDatabase(file, { readonly: true, fileMustExist: true }) as unknown as {
    prepare(sql: string): { all(): Record<string, unknown>[] };
    close(): void;
  };
  try {
    return db.prepare("PRAGMA integrity_check").all().map((r) => String(Object.values(r)[0])).join();
  } finally {
    db.close();
  }
}

const sopOf = (file: string) => path.basename(file, ".dcm");

Deno.test({
  name: "agent backup while storescu sends: a valid copy between the counts; restore answers C-FIND",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const work = await scratchDir("conduit-backup-");
    // Every object is queued for a node that does not answer (its rows wait, failed, for a minute).
    const config = {
      nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: freePort() } },
      routes: [{ name: "all", match: {}, to: [{ node: "pacs" }] }],
      queue: { backoffBaseSeconds: 60, backoffCapSeconds: 60 },
    };
    const agent = await startAgentProcess({ aet: "BACKUP", config });
    let restored: Awaited<ReturnType<typeof startAgentProcess>> | undefined;
    let fromArchive: Awaited<ReturnType<typeof startAgentProcess>> | undefined;
    try {
      // A credential as enrollment leaves one (the standalone agent does not read it).
      const credential = path.join(agent.dataDir, "hub-credential.json");
      fs.writeFileSync(
        credential,
        '{"site":"north","credential":"cts.north.x","hub":"ws://h","enrolledAt":"x"}\n',
        {
          mode: 0o600,
        },
      );
      const first = await objects(path.join(work, "in"), 0, 10);
      const sent = await storescu(first, agent);
      assert.equal(sent.code, 0, sent.stderr);
      await eventually("the first objects indexed", async () => await live(agent) === 10);

      // storescu keeps sending, one association per object, from before the backup starts until after it ends.
      const more = await objects(path.join(work, "in"), 10, 400);
      let backupDone = false;
      let sentMore = 0;
      const sender = (async () => {
        for (const file of more) {
          if (backupDone) break;
          const r = await storescu([file], agent);
          assert.equal(r.code, 0, r.stderr);
          sentMore++;
        }
      })();
      await eventually("storescu sending", async () => await live(agent) > 12);
      const before = await live(agent);
      const out = path.join(work, "backup");
      const backup = await agentCli(["backup", "--out", out, "--data", agent.dataDir, "--json"]);
      const after = await live(agent);
      backupDone = true;
      await sender;
      assert.equal(backup.code, 0, backup.stderr);
      const manifest = JSON.parse(backup.stdout);
      assert.ok(sentMore > 0 && after > before, `storescu sent while the backup ran (${before} -> ${after})`);
      assert.ok(
        manifest.counts.instances >= before && manifest.counts.instances <= after,
        `${manifest.counts.instances} instances in the copy, between ${before} and ${after}`,
      );
      assert.equal(integrity(path.join(out, "agent.db")), "ok");
      assert.equal(manifest.database.sha256, sha256(path.join(out, "agent.db")));
      assert.equal(manifest.version, "0.1.0");
      assert.match(manifest.schema.migration, /^\d{4}_/);
      assert.equal(manifest.archive.included, false);
      const copied = Number(
        indexRows(out, "SELECT count(*) AS n FROM instances WHERE removed_at IS NULL")[0].n,
      );
      assert.equal(copied, manifest.counts.instances);
      assert.equal(manifest.credential, true);
      assert.equal(fs.statSync(path.join(out, "hub-credential.json")).mode & 0o777, 0o600);
      assert.equal(
        fs.readFileSync(path.join(out, "hub-credential.json"), "utf8"),
        fs.readFileSync(credential, "utf8"),
      );
      const inBackup = new Set(
        indexRows(out, "SELECT sop_instance_uid AS s FROM instances WHERE removed_at IS NULL").map((r) =>
          String(r.s)
        ),
      );

      // What the agent received after its backup, and a file removed since (as retention would).
      await eventually("every object sent indexed", async () => await live(agent) === 10 + sentMore);
      const withArchive = path.join(work, "backup-archive");
      const full = await agentCli([
        "backup",
        "--out",
        withArchive,
        "--data",
        agent.dataDir,
        "--with-archive",
        "--json",
      ]);
      assert.equal(full.code, 0, full.stderr);
      assert.equal(JSON.parse(full.stdout).archive.files, 10 + sentMore);
      // Killed, as a crash leaves it: agent.db-wal holds commits made after the first backup.
      await agent.kill();

      const archived = (await listFiles(path.join(agent.dataDir, "archive"))).filter((f) =>
        f.endsWith(".dcm")
      );
      const gone = archived.find((f) => inBackup.has(sopOf(f)))!;
      // The two restores into new directories (of the first backup, and of the one with its archive) are
      // independent: they run side by side, each with an agent of its own (both ended before a failure is
      // thrown).
      const sideBySide = await Promise.allSettled([
        (async () => {
          // Restore: a new data directory, the database from the first backup, then the archive files copied
          // as an operator would after it (rsync), without one the backup's index names.
          const restoredDir = path.join(work, "restored");
          const r = await agentCli(["restore", "--from", out, "--data", restoredDir, "--json"]);
          assert.equal(r.code, 0, r.stderr);
          assert.equal(JSON.parse(r.stdout).credential, "restored");
          assert.equal(fs.statSync(path.join(restoredDir, "hub-credential.json")).mode & 0o777, 0o600);
          // The index holds patient names and IDs: not open to other users (0644 until 2026-12-08).
          assert.equal(fs.statSync(path.join(restoredDir, "agent.db")).mode & 0o007, 0);
          for (const file of archived) {
            if (file === gone) continue;
            const to = path.join(restoredDir, path.relative(agent.dataDir, file));
            fs.mkdirSync(path.dirname(to), { recursive: true });
            fs.copyFileSync(file, to);
          }
          restored = await startAgentProcess({ dataDir: restoredDir, aet: "BACKUP", config });
          const found = await findInstances(restored);
          const expected = new Set(archived.filter((f) => f !== gone).map(sopOf));
          assert.deepEqual(
            [...found].sort(),
            [...expected].sort(),
            `C-FIND: the backup's objects and those placed since${
              fs.readFileSync(restored.logFile, "utf8").slice(0, 4000)
            }`,
          );
          assert.ok(!found.has(sopOf(gone)), "a file missing after the restore is not served");
          assert.ok(
            [...inBackup].every((s) => s === sopOf(gone) || found.has(s)),
            "every object of the backup answers",
          );
          const row = indexRows(
            restoredDir,
            "SELECT removed_at, path FROM instances WHERE sop_instance_uid = ?",
            sopOf(gone),
          );
          assert.ok(row[0].removed_at !== null && row[0].path === "", "its row is a tombstone");
          assert.ok(
            !fs.existsSync(path.join(restoredDir, "restored")),
            "the restore marker is gone once reconciled",
          );
          // Its queue row is dead, saying why; every other object has its row to send (placed since: routed).
          const rows = indexRows(
            restoredDir,
            "SELECT sop_instance_uid AS s, state, last_error AS e FROM queue",
          );
          const dead = rows.filter((q) => q.state === "dead");
          assert.deepEqual(dead.map((q) => q.s), [sopOf(gone)]);
          assert.match(String(dead[0].e), /the file is missing \(the index was restored from a backup\)/);
          assert.deepEqual(
            rows.filter((q) => q.state !== "dead").map((q) => String(q.s)).sort(),
            [...expected].sort(),
          );
          assert.equal(manifest.counts.queue.total, inBackup.size);
          const log = fs.readFileSync(restored.logFile, "utf8");
          assert.match(log, /started on an index restored from a backup/);
          await restored.stop();
          restored = undefined;
        })(),
        (async () => {
          // The backup with its archive restores alone: every object it holds answers.
          const alone = path.join(work, "restored-archive");
          // --dry-run counts the files it would put back, and makes nothing (not even the data directory).
          const dry = await agentCli([
            "restore",
            "--from",
            withArchive,
            "--data",
            alone,
            "--dry-run",
            "--json",
          ]);
          assert.equal(dry.code, 0, dry.stderr);
          assert.equal(JSON.parse(dry.stdout).archive.files, 10 + sentMore);
          assert.equal(JSON.parse(dry.stdout).kept, null);
          assert.ok(!fs.existsSync(alone));
          const r2 = await agentCli(["restore", "--from", withArchive, "--data", alone]);
          assert.equal(r2.code, 0, r2.stderr);
          fromArchive = await startAgentProcess({ dataDir: alone, aet: "BACKUP", config });
          assert.equal((await findInstances(fromArchive)).size, 10 + sentMore);
          await fromArchive.stop();
          fromArchive = undefined;
        })(),
      ]);
      for (const r of sideBySide) if (r.status === "rejected") throw r.reason;

      // Restored in place over the crashed directory (its archive whole): the old log is not applied to the
      // copy, and the objects received after the backup are found in the archive.
      assert.ok(fs.existsSync(path.join(agent.dataDir, "agent.db-wal")), "the crash left the log");
      const r3 = await agentCli(["restore", "--from", out, "--data", agent.dataDir]);
      assert.equal(r3.code, 0, r3.stderr);
      assert.ok(!fs.existsSync(path.join(agent.dataDir, "agent.db-wal")));
      assert.equal(integrity(path.join(agent.dataDir, "agent.db")), "ok");
      restored = await startAgentProcess({ dataDir: agent.dataDir, aet: "BACKUP", config });
      assert.deepEqual([...await findInstances(restored)].sort(), archived.map(sopOf).sort());
    } finally {
      await restored?.stop();
      await fromArchive?.stop();
      await agent.stop();
    }
  },
});

Deno.test({
  name:
    "agent restore keeps the replaced agent.db (its log folded in) and holds the lock: an agent started meanwhile is refused",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const work = await scratchDir("conduit-restore-kept-");
    const agent = await startAgentProcess({ aet: "KEPT" });
    let restored: Awaited<ReturnType<typeof startAgentProcess>> | undefined;
    try {
      const files = await objects(path.join(work, "in"), 0, 5);
      assert.equal((await storescu(files.slice(0, 3), agent)).code, 0);
      await eventually("3 objects indexed", async () => await live(agent) === 3);
      const out = path.join(work, "backup");
      assert.equal((await agentCli(["backup", "--out", out, "--data", agent.dataDir])).code, 0);
      assert.equal((await storescu(files.slice(3), agent)).code, 0);
      await eventually("5 objects indexed", async () => await live(agent) === 5);
      // Killed: its last commits may be in agent.db-wal, which the kept copy must not lose.
      await agent.kill();
      const db = path.join(agent.dataDir, "agent.db");
      const inode = fs.statSync(db).ino;

      // --dry-run: the backup checked, what would be done said, nothing changed (the killed agent's files,
      // its agent.pid included, as they were).
      const state = () =>
        fs.readdirSync(agent.dataDir).sort().map((f) => {
          const p = path.join(agent.dataDir, f);
          return fs.statSync(p).isFile() ? `${f} ${sha256(p)}` : f;
        });
      const before = state();
      const dry = await agentCli(["restore", "--from", out, "--data", agent.dataDir, "--dry-run", "--json"]);
      assert.equal(dry.code, 0, dry.stderr);
      const plan = JSON.parse(dry.stdout);
      assert.equal(plan.dryRun, true);
      assert.match(path.basename(plan.kept), /^agent\.db\.replaced-\d{8}T\d{6}Z$/);
      assert.equal(plan.credential, "none");
      assert.equal(plan.archive, null);
      const dryText = await agentCli(["restore", "--from", out, "--data", agent.dataDir, "--dry-run"]);
      assert.equal(dryText.code, 0, dryText.stderr);
      assert.match(dryText.stdout, /^dry run: the backup of .* is whole and would be restored into /);
      assert.match(dryText.stdout, /agent\.db would be kept as .*agent\.db\.replaced-/);
      assert.match(dryText.stdout, /nothing was changed\n$/);
      assert.deepEqual(state(), before);

      // A backup that changes once checked (here while the restore holds the lock, before it copies it):
      // the copy is checked too, and the restore refused, nothing changed.
      const original = fs.readFileSync(path.join(out, "agent.db"));
      await assert.rejects(
        restoreAgent(out, agent.dataDir, {
          locked: () => Promise.resolve(fs.appendFileSync(path.join(out, "agent.db"), "x")),
        }),
        /agent\.db changed while it was restored .*nothing was changed/,
      );
      fs.writeFileSync(path.join(out, "agent.db"), original);
      // (The crashed agent's agent.pid was taken over by the restore's lock, and released.)
      const noPid = (files: string[]) => files.filter((f) => !f.startsWith("agent.pid "));
      assert.deepEqual(state(), noPid(before));

      // An agent started while the restore holds the data directory is refused, naming the restore's
      // process; the restore then goes on.
      let refusal = "";
      const r = await restoreAgent(out, agent.dataDir, {
        locked: async () => {
          await assert.rejects(startAgentProcess({ dataDir: agent.dataDir, aet: "KEPT" }), (err: Error) => {
            refusal = err.message;
            return true;
          });
        },
      });
      assert.match(refusal, /exited with code 1 before it was ready/);
      assert.match(refusal, new RegExp(`in use by agent process ${Deno.pid}`));
      assert.ok(!fs.existsSync(path.join(agent.dataDir, "agent.pid")), "the lock is released at the end");

      // The replaced database is kept whole beside the new one, under a dated name: the very file (a hard
      // link), with the commits made after the backup, and no log of its own.
      const kept = r.kept!;
      assert.equal(path.dirname(kept), agent.dataDir);
      assert.match(path.basename(kept), /^agent\.db\.replaced-\d{8}T\d{6}Z$/);
      assert.equal(fs.statSync(kept).ino, inode);
      assert.equal(integrity(kept), "ok");
      assert.deepEqual(names(kept, "SELECT count(*) FROM instances"), ["5"]);
      for (const suffix of ["-wal", "-shm", "-journal"]) assert.ok(!fs.existsSync(kept + suffix), suffix);
      assert.ok(!fs.existsSync(`${db}.restore`));
      assert.deepEqual(names(db, "SELECT count(*) FROM instances"), ["3"]);

      // An agent started on the restored directory answers C-FIND for every object, as before.
      restored = await startAgentProcess({ dataDir: agent.dataDir, aet: "KEPT" });
      assert.deepEqual(
        [...await findInstances(restored)].sort(),
        files.map((f) => uidFromKey(`backup/sop/${Number(path.basename(f, ".dcm").slice(2))}`)).sort(),
      );
      await restored.stop();
      restored = undefined;

      // Restored again (the command): the database replaced this time is kept too, under another name.
      const again = await agentCli(["restore", "--from", out, "--data", agent.dataDir, "--json"]);
      assert.equal(again.code, 0, again.stderr);
      const second = JSON.parse(again.stdout).kept;
      assert.match(path.basename(second), /^agent\.db\.replaced-\d{8}T\d{6}Z(-\d+)?$/);
      assert.notEqual(second, kept);
      assert.deepEqual(names(second, "SELECT count(*) FROM instances"), ["5"]);
      assert.deepEqual(names(kept, "SELECT count(*) FROM instances"), ["5"]);
      const text = await agentCli(["restore", "--from", out, "--data", path.join(work, "new")]);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /replaced {6}nothing \(there was no agent\.db\)/);
      const third = await agentCli(["restore", "--from", out, "--data", path.join(work, "new")]);
      assert.match(third.stdout, /replaced {6}agent\.db kept as .*new\/agent\.db\.replaced-/);

      // A database another process has open (here a Python sqlite3 connection, no agent.pid): refused,
      // naming it, nothing changed (renaming a log a process has open lets it delete the new one's later).
      const newDir = path.join(work, "new");
      const listing = fs.readdirSync(newDir).sort();
      const holder = new Deno.Command("/usr/bin/python3", {
        args: [
          "-c",
          "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA journal_mode = WAL');" +
          " c.execute('SELECT count(*) FROM instances').fetchall(); print('ready', flush=True); sys.stdin.read()",
          path.join(newDir, "agent.db"),
        ],
        stdin: "piped",
        stdout: "piped",
      }).spawn();
      try {
        const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
        assert.match((await reader.read()).value ?? "", /ready/);
        const listingHeld = fs.readdirSync(newDir).sort(); // with its -wal and -shm now
        const busy = await agentCli(["restore", "--from", out, "--data", newDir]);
        assert.equal(busy.code, 1, busy.stderr);
        assert.match(busy.stderr, new RegExp(`agent\\.db is in use by process ${holder.pid} \\(python3\\)`));
        assert.match(busy.stderr, /nothing was changed/);
        assert.deepEqual(fs.readdirSync(newDir).sort(), listingHeld);
        assert.ok(listingHeld.length >= listing.length);
        reader.releaseLock();
      } finally {
        await holder.stdin.close();
        await holder.stdout.cancel().catch(() => {});
        await holder.status;
      }
    } finally {
      await restored?.stop();
      await agent.stop();
    }
  },
});

Deno.test({
  name: "agent backup and restore refuse bad arguments and change nothing",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const work = await scratchDir("conduit-backup-args-");
    const agent = await startAgentProcess();
    try {
      // --out that exists and is not empty.
      // (Each refusal is a command of its own; those that change nothing run side by side.)
      const full = path.join(work, "full");
      fs.mkdirSync(full);
      fs.writeFileSync(path.join(full, "keep.txt"), "mine");
      // A data directory that is not one, or holds no agent.db: nothing created.
      const out = path.join(work, "out");
      const [notEmpty, nowhere, noDb, noOut] = await Promise.all([
        agentCli(["backup", "--out", full, "--data", agent.dataDir]),
        agentCli(["backup", "--out", out, "--data", path.join(work, "nowhere")]),
        agentCli(["backup", "--out", out, "--data", full]),
        agentCli(["backup", "--data", agent.dataDir]),
      ]);
      assert.equal(notEmpty.code, 1);
      assert.match(notEmpty.stderr, /--out .* is not empty/);
      assert.deepEqual(fs.readdirSync(full), ["keep.txt"]);
      assert.equal(nowhere.code, 1);
      assert.match(nowhere.stderr, /cannot read the data directory .*nowhere/);
      assert.equal(noDb.code, 1);
      assert.match(noDb.stderr, /there is no readable agent\.db in/);
      assert.ok(!fs.existsSync(out));
      assert.equal(noOut.code, 2);
      assert.match(noOut.stderr, /--out/);
      // Restore onto the data directory of a running agent: refused, its database untouched.
      const r = await agentCli(["backup", "--out", out, "--data", agent.dataDir]);
      assert.equal(r.code, 0, r.stderr);
      const db = path.join(agent.dataDir, "agent.db");
      const inode = fs.statSync(db).ino;

      // --dry-run says the same.
      const [inUse, inUseDry] = await Promise.all([
        agentCli(["restore", "--from", out, "--data", agent.dataDir]),
        agentCli(["restore", "--from", out, "--data", agent.dataDir, "--dry-run"]),
      ]);
      assert.equal(inUse.code, 1);
      assert.match(inUse.stderr, /in use by agent process \d+: stop the agent/);
      assert.equal(inUseDry.code, 1);
      assert.match(inUseDry.stderr, new RegExp(`in use by agent process ${agent.pid}: stop the agent`));
      assert.equal(fs.statSync(db).ino, inode);
      assert.ok(!fs.existsSync(path.join(agent.dataDir, "restored")));
      // A damaged backup or none: refused before anything is written.
      const target = path.join(work, "target");
      fs.appendFileSync(path.join(out, "agent.db"), "x");
      const [damaged, damagedDry, notBackup] = await Promise.all([
        ...[[], ["--dry-run"]].map((extra) =>
          agentCli(["restore", "--from", out, "--data", target, ...extra])
        ),
        agentCli(["restore", "--from", full, "--data", target]),
      ]);
      for (const d of [damaged, damagedDry]) {
        assert.equal(d.code, 1);
        assert.match(d.stderr, /is damaged/);
      }
      assert.equal(notBackup.code, 1);
      assert.match(notBackup.stderr, /is not an agent backup/);
      assert.ok(!fs.existsSync(target));
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name: "hub admin backup: a running hub's file copied whole; PostgreSQL refused with pg_dump; bad --out",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub({
      db: `file:${path.join(await scratchDir("conduit-hub-backup-"), "hub.db")}`,
    });
    const work = await scratchDir("conduit-hub-backup-out-");
    try {
      // Added by the running hub itself (its writes may still be in its log when the backup copies the file).
      for (const site of ["north", "south"]) await hub.registry.add(site);
      await hub.users.add("alice", "admin", "alice's password");
      const out = path.join(work, "hub-backup.db");
      const r = await hubAdmin(hub.dataDir, ["backup", "--out", out, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.json!.sha256, sha256(out));
      assert.match(String(r.json!.schema), /^\d{4}_/);
      assert.equal(fs.statSync(out).mode & 0o777, 0o600);
      assert.equal(integrity(out), "ok");
      assert.deepEqual((r.json!.tables as Record<string, number>).sites, 2);
      // Into folders that do not exist yet: made (until 2026-12-07 SQLITE_CANTOPEN), as agent backup does.
      const deep = path.join(work, "new", "folder", "hub-backup.db");
      const inNew = await hubAdmin(hub.dataDir, ["backup", "--out", deep]);
      assert.equal(inNew.code, 0, inNew.stderr);
      assert.equal(integrity(deep), "ok");
      // A hub data directory with the copy as its hub.db lists the sites and users; the refusals below (each
      // on a directory of its own, or refused before anything is written) are asked meanwhile, side by side.
      const restored = await scratchDir("conduit-hub-restored-");
      fs.copyFileSync(out, path.join(restored, "hub.db"));
      const none = path.join(work, "none.db");
      const [sites, users, again, missing, pg] = await Promise.all([
        hubAdmin(restored, ["site", "list", "--json", "--db", `file:${path.join(restored, "hub.db")}`]),
        hubAdmin(restored, ["user", "list", "--json", "--db", `file:${path.join(restored, "hub.db")}`]),
        // An --out that exists: refused, left as it was.
        hubAdmin(hub.dataDir, ["backup", "--out", out]),
        // No database there: nothing written.
        hubAdmin(path.join(work, "nowhere"), [
          "backup",
          "--out",
          none,
          "--db",
          `file:${path.join(work, "nowhere", "hub.db")}`,
        ]),
        // PostgreSQL: the pg_dump command, without the password; nothing written.
        hubAdmin(path.join(work, "pg"), [
          "backup",
          "--out",
          none,
          "--db",
          "postgres://conduit:s3cret@db:5432/conduit",
        ]),
      ]);
      assert.equal(sites.code, 0, sites.stderr);
      assert.deepEqual((sites.json!.sites as { site: string }[]).map((s) => s.site).sort(), [
        "north",
        "south",
      ]);
      assert.equal(users.code, 0, users.stderr);
      assert.ok(JSON.stringify(users.json).includes("alice"));
      // A hub starts on it.
      const second = await startTestHub({ dataDir: restored, db: `file:${path.join(restored, "hub.db")}` });
      try {
        const health = await fetch(`http://127.0.0.1:${second.port}/healthz`);
        assert.equal(health.status, 200, await health.text());
      } finally {
        await second.stop();
      }

      assert.equal(again.code, 1);
      assert.match(again.stderr, /exists and is not empty/);
      assert.equal(sha256(out), r.json!.sha256);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /no readable hub database/);
      assert.ok(!fs.existsSync(none) && !fs.existsSync(path.join(work, "nowhere")));
      assert.equal(pg.code, 1);
      assert.match(pg.stderr, /pg_dump -Fc -d 'postgres:\/\/conduit@db:5432\/conduit' -f /);
      assert.ok(!pg.stderr.includes("s3cret"));
      assert.ok(!fs.existsSync(none));
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name: "a stopped agent leaves its whole index in agent.db (a copy of it alone is the database)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const agent = await startAgentProcess();
    await agent.stop();
    const file = path.join(agent.dataDir, "agent.db");
    // libsql left everything in agent.db-wal, and agent.db at 4 KiB without a table.
    assert.equal(fs.statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0, 0);
    const alone = path.join(await scratchDir("conduit-agent-alone-"), "agent.db");
    fs.copyFileSync(file, alone);
    assert.equal(integrity(alone), "ok");
    assert.ok(Number(names(alone, "SELECT count(*) FROM __drizzle_migrations")[0]) > 0);
    assert.deepEqual(names(alone, "SELECT count(*) FROM instances"), ["0"]);
  },
});

/** The names of the rows of `table` in a libsql file (read only). */
function names(file: string, sql: string): string[] {
  const db = new LibsqlDatabase(file, { readonly: true, fileMustExist: true }) as unknown as {
    prepare(sql: string): { all(): Record<string, unknown>[] };
    close(): void;
  };
  try {
    return db.prepare(sql).all().map((r) => String(Object.values(r)[0])).sort();
  } finally {
    db.close();
  }
}

const siteNames = (file: string) => names(file, "SELECT name FROM sites");
const userNames = (file: string) => names(file, "SELECT name FROM users");

const restoreOfAStoppedHub: Deno.TestStepDefinition = {
  name:
    "hub admin restore: refused while the hub runs; stopped, the backup's sites and users; the old db kept",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await scratchDir("conduit-hub-restore-");
    const work = await scratchDir("conduit-hub-restore-out-");
    const file = path.join(dataDir, "hub.db");
    // The libsql file, also under CONDUIT_TEST_DB=postgres.
    let hub = await startHubProcess({ dataDir, db: "file:" });
    try {
      for (const site of ["north", "south"]) {
        assert.equal((await hubAdmin(dataDir, ["site", "add", site])).code, 0);
      }
      const alice = await hubAdmin(dataDir, ["user", "add", "alice", "--role", "admin", "--json"]);
      assert.equal(alice.code, 0, alice.stderr);
      assert.equal((await hubAdmin(dataDir, ["token", "create", "pacs", "--role", "viewer"])).code, 0);
      // A console session (alice's), which the backup holds.
      const login = await fetch(`http://127.0.0.1:${hub.port}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: "alice", password: alice.json!.password }),
      });
      assert.equal(login.status, 200);
      await login.body?.cancel();
      const session = login.headers.get("set-cookie")!.split(";")[0];
      const me = (port: number) =>
        fetch(`http://127.0.0.1:${port}/auth/me`, { headers: { cookie: session } }).then(async (r) => (
          await r.body?.cancel(), r.status
        ));
      assert.equal(await me(hub.port), 200);
      const backup = path.join(work, "hub-backup.db");
      const taken = await hubAdmin(dataDir, ["backup", "--out", backup, "--json"]);
      assert.equal(taken.code, 0, taken.stderr);
      // What happens after the backup, which the restore takes back.
      assert.equal((await hubAdmin(dataDir, ["site", "add", "east"])).code, 0);
      assert.equal((await hubAdmin(dataDir, ["user", "add", "bob", "--role", "viewer"])).code, 0);

      // While the hub runs: refused, naming its process; nothing changed.
      const refused = await hubAdmin(dataDir, ["restore", "--from", backup]);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, new RegExp(`in use by process ${hub.pid}\\b.*stop the hub`));
      assert.deepEqual(fs.readdirSync(dataDir).filter((f) => /^hub\.db\.(replaced|restore)/.test(f)), []);
      const listed = await hubAdmin(dataDir, ["site", "list", "--json"]);
      assert.deepEqual((listed.json!.sites as { site: string }[]).map((s) => s.site).sort(), [
        "east",
        "north",
        "south",
      ]);

      await hub.stop();
      // A hub stopped leaves its whole database in hub.db (libsql left it all in hub.db-wal, and hub.db at
      // 4 KiB: a copy of hub.db alone was an empty database).
      assert.equal(fs.statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0, 0);
      const alone = path.join(work, "alone.db");
      fs.copyFileSync(file, alone);
      assert.deepEqual(siteNames(alone), ["east", "north", "south"]);
      const restored = await hubAdmin(dataDir, ["restore", "--from", backup, "--json"]);
      assert.equal(restored.code, 0, restored.stderr);
      const r = restored.json!;
      assert.deepEqual(r.tables, taken.json!.tables);
      assert.equal((r.tables as Record<string, number>).sites, 2);
      assert.equal((r.tables as Record<string, number>).users, 1);
      assert.equal((r.tables as Record<string, number>).api_tokens, 1);
      assert.equal(r.sha256, taken.json!.sha256);
      assert.equal(r.schema, taken.json!.schema);
      assert.equal(r.to, file);
      assert.equal(r.sessionsEnded, 1);
      // The database in place is the backup's, whole, private, alone (no old log beside it).
      assert.equal(integrity(file), "ok");
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      for (const suffix of ["-wal", "-shm", "-journal", ".restore"]) assert.ok(!fs.existsSync(file + suffix));
      // The replaced one is kept whole beside it, with what it had after the backup.
      const kept = String(r.kept);
      assert.match(path.basename(kept), /^hub\.db\.replaced-\d{8}T\d{6}Z$/);
      assert.equal(path.dirname(kept), dataDir);
      assert.equal(integrity(kept), "ok");
      assert.deepEqual(siteNames(kept), ["east", "north", "south"]);
      assert.deepEqual(userNames(kept), ["alice", "bob"]);

      // The hub starts on it and has the backup's sites and users.
      hub = await startHubProcess({ dataDir, db: "file:" });
      // (Reads only: asked side by side.)
      const [sites, users, tokens, audit] = await Promise.all([
        hubAdmin(dataDir, ["site", "list", "--json"]),
        hubAdmin(dataDir, ["user", "list", "--json"]),
        hubAdmin(dataDir, ["token", "list", "--json"]),
        hubAdmin(dataDir, ["audit", "--action", "database.restore", "--json"]),
      ]);
      assert.deepEqual((sites.json!.sites as { site: string }[]).map((s) => s.site).sort(), [
        "north",
        "south",
      ]);
      assert.deepEqual((users.json!.users as { name: string }[]).map((u) => u.name), ["alice"]);
      assert.deepEqual((tokens.json!.tokens as { name: string }[]).map((t) => t.name), ["pacs"]);
      // The backup's console session is not valid again; the restore is in the audit log.
      assert.equal(await me(hub.port), 401);
      const entries = audit.json!.entries as { actor: string; detail: Record<string, unknown> }[];
      assert.equal(entries.length, 1);
      assert.equal(entries[0].actor, "cli");
      assert.equal(entries[0].detail.sha256, taken.json!.sha256);
      assert.equal(entries[0].detail.kept, path.basename(kept));
      assert.equal(entries[0].detail.sessionsEnded, 1);
    } finally {
      await hub.stop();
    }
  },
};

/**
 * The start of the refusals' and the lock's steps, made once by the admin CLI and copied for each: a stopped
 * hub's data directory with north (its hub.db as the CLI left it, its log and lock file beside it), a backup
 * taken then, and south added after it. Each step gets a copy of that directory in `dataDir` (its files
 * byte for byte) and of the backup at `backup`.
 */
let twoSites: Promise<{ dir: string; backup: string }> | undefined;
async function northBackedUpThenSouth(dataDir: string, backup: string): Promise<void> {
  twoSites ??= (async () => {
    const dir = await scratchDir("conduit-hub-restore-start-");
    const out = path.join(await scratchDir("conduit-hub-restore-start-backup-"), "hub-backup.db");
    assert.equal((await hubAdmin(dir, ["site", "add", "north", "--db", "file:"])).code, 0);
    const taken = await hubAdmin(dir, ["backup", "--out", out, "--db", "file:"]);
    assert.equal(taken.code, 0, taken.stderr);
    assert.equal((await hubAdmin(dir, ["site", "add", "south", "--db", "file:"])).code, 0);
    return { dir, backup: out };
  })();
  const made = await twoSites;
  for (const f of fs.readdirSync(made.dir)) fs.copyFileSync(path.join(made.dir, f), path.join(dataDir, f));
  fs.copyFileSync(made.backup, backup);
}

const restoreRefusals: Deno.TestStepDefinition = {
  name:
    "hub admin restore refuses a damaged file, a non-hub database, a newer schema, bad arguments, PostgreSQL",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await scratchDir("conduit-hub-restore-refused-");
    const work = await scratchDir("conduit-hub-restore-files-");
    const file = path.join(dataDir, "hub.db");
    const backup = path.join(work, "good.db");
    await northBackedUpThenSouth(dataDir, backup);
    const before = sha256(file);
    const listing = fs.readdirSync(dataDir).sort(); // hub.db, its -wal (empty) and -shm
    const restore = (...args: string[]) => hubAdmin(dataDir, ["restore", ...args, "--db", "file:"]);
    const unchanged = (what: string) => {
      assert.deepEqual(fs.readdirSync(dataDir).sort(), listing, what);
      assert.equal(sha256(file), before, what);
    };

    // Not a database at all; a database with a page overwritten.
    const junk = path.join(work, "junk.db");
    fs.writeFileSync(junk, "this is not a hub database\n".repeat(500));
    const damaged = path.join(work, "damaged.db");
    const bytes = fs.readFileSync(backup);
    bytes.fill(0x5a, 4096, 4096 * 3);
    fs.writeFileSync(damaged, bytes);
    for (const bad of [junk, damaged]) {
      for (const extra of [[], ["--dry-run"]]) {
        const r = await restore("--from", bad, ...extra);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /not a whole SQLite database|is damaged: its integrity check says/);
        unchanged(bad);
      }
    }
    // An agent's database: named as such.
    const agentDb = path.join(work, "agent.db");
    const other = new LibsqlDatabase(agentDb) as unknown as { exec(sql: string): void; close(): void };
    other.exec("CREATE TABLE instances (id integer); CREATE TABLE queue (id integer)");
    other.close();
    const notHub = await restore("--from", agentDb);
    assert.equal(notHub.code, 1);
    assert.match(notHub.stderr, /is not a hub's database: it has no sites, users, api_tokens.*agent restore/);
    unchanged("agent.db");
    // A newer version's: both schemas named.
    const newer = path.join(work, "newer.db");
    fs.copyFileSync(backup, newer);
    const future = new LibsqlDatabase(newer) as unknown as {
      prepare(sql: string): { run(...a: unknown[]): void };
      close(): void;
    };
    future.prepare('INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES (?, ?)').run(
      "future",
      Date.UTC(2099, 0, 1),
    );
    future.close();
    const tooNew = await restore("--from", newer);
    assert.equal(tooNew.code, 1);
    assert.equal((await restore("--from", newer, "--dry-run")).code, 1);
    assert.match(
      tooNew.stderr,
      /newer version of the hub: its schema is from 2099-01-01.*migrations end at \d{4}_\w+ \(20\d\d-/,
    );
    unchanged("newer");
    // A copy of a live database with its log beside it: its last commits are not in the file.
    const live = path.join(work, "live.db");
    fs.copyFileSync(backup, live);
    fs.writeFileSync(`${live}-wal`, "x".repeat(100));
    const withLog = await restore("--from", live);
    assert.equal(withLog.code, 1);
    assert.match(withLog.stderr, /live\.db-wal is beside it.*hub admin backup/);
    unchanged("-wal");

    // Restores (dry or not) into other directories, which never meet this one's lock: asked now, side by side
    // with the usage refusals below, and checked further down.
    const nowhere = path.join(work, "nowhere", "hub");
    const fresh = path.join(work, "fresh", "hub");
    const cwd = path.join(work, "cwd");
    fs.mkdirSync(cwd);
    const cwdDry = path.join(work, "cwd-dry");
    fs.mkdirSync(cwdDry);
    const elsewhere = Promise.all([
      hubAdmin(nowhere, ["restore", "--from", backup, "--dry-run", "--json", "--db", "file:"]),
      hubAdmin(fresh, ["restore", "--from", backup, "--json", "--db", "file:"]),
      hubCli(["admin", "restore", "--from", backup], cwd),
      hubCli(["admin", "restore", "--from", backup, "--dry-run"], cwdDry),
    ]);
    // Bad arguments: usage, exit 2 (refused before the lock is tried: side by side, each checked).
    const usages = [
      [],
      ["--from"],
      ["--from", backup, "extra"],
      ["--from", backup, "--force"],
      ["--from", path.join(work, "absent.db")],
      ["--from", work],
      ["--from", file],
    ];
    const usageAnswers = await Promise.all(usages.map((args) => restore(...args)));
    for (const [i, r] of usageAnswers.entries()) {
      const args = usages[i];
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /hub admin restore: /);
      unchanged(args.join(" "));
    }
    // PostgreSQL: the pg_restore command, without the password.
    const pg = await hubAdmin(dataDir, [
      "restore",
      "--from",
      backup,
      "--db",
      "postgres://conduit:s3cret@db/c",
    ]);
    assert.equal(pg.code, 1);
    assert.match(pg.stderr, /pg_restore --clean --if-exists -d 'postgres:\/\/conduit@db\/c' /);
    assert.ok(!pg.stderr.includes("s3cret"));
    unchanged("pg");

    // --dry-run: the backup checked, what would be done said, nothing changed (no lock file made either).
    fs.rmSync(`${file}.lock`);
    const listingNoLock = fs.readdirSync(dataDir).sort();
    const dry = await restore("--from", backup, "--dry-run", "--json");
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(dry.json!.dryRun, true);
    assert.match(path.basename(String(dry.json!.kept)), /^hub\.db\.replaced-\d{8}T\d{6}Z$/);
    assert.equal((dry.json!.tables as Record<string, number>).sites, 1);
    assert.equal(dry.json!.sha256, sha256(backup));
    assert.equal(dry.json!.sessionsEnded, 0);
    const dryText = await restore("--from", backup, "--dry-run");
    assert.equal(dryText.code, 0, dryText.stderr);
    assert.match(dryText.stdout, /^dry run: .*good\.db is a whole hub database and would be restored into /);
    assert.match(dryText.stdout, /would be kept as .*hub\.db\.replaced-.*\nnothing was changed\n$/s);
    assert.deepEqual(fs.readdirSync(dataDir).sort(), listingNoLock);
    assert.equal(sha256(file), before);
    const [dryFresh, made, here, hereDry] = await elsewhere;
    assert.equal(dryFresh.code, 0, dryFresh.stderr);
    assert.equal(dryFresh.json!.kept, null);
    assert.ok(!fs.existsSync(path.join(work, "nowhere")));

    // A data directory that does not exist yet: made, nothing to keep.
    assert.equal(made.code, 0, made.stderr);
    assert.equal(made.json!.kept, null);
    assert.deepEqual(siteNames(path.join(fresh, "hub.db")), ["north"]);
    // Nothing named, no database in ./data/hub: restored there, and said (a hub started with --config or
    // --data has its database elsewhere).
    assert.equal(here.code, 0, here.stderr);
    assert.match(
      here.stderr,
      /no hub database in \.\/data\/hub .*: restoring into it; for a hub started elsewhere/,
    );
    assert.deepEqual(siteNames(path.join(cwd, "data", "hub", "hub.db")), ["north"]);
    assert.equal(hereDry.code, 0, hereDry.stderr);
    assert.match(hereDry.stderr, /no hub database in \.\/data\/hub .*: a dry run of a restore into it;/);
    assert.deepEqual(fs.readdirSync(cwdDry), []);
    // Over a database whose last commit is still in its -wal (libsql's close leaves it there): kept, with
    // that commit folded in.
    const writer = new LibsqlDatabase(file) as unknown as { exec(sql: string): void; close(): void };
    writer.exec("CREATE TABLE wal_only (x); INSERT INTO wal_only VALUES ('in the log')");
    writer.close();
    // Run as root (as an operator may), the restored file is the hub's user's, as the old one was.
    const root = Deno.uid() === 0;
    if (root) fs.chownSync(file, 1993, 1993);
    const over = await restore("--from", backup, "--json");
    assert.equal(over.code, 0, over.stderr);
    if (root) assert.deepEqual([fs.statSync(file).uid, fs.statSync(file).gid], [1993, 1993]);
    assert.deepEqual(siteNames(file), ["north"]);
    assert.deepEqual(siteNames(String(over.json!.kept)), ["north", "south"]);
    assert.deepEqual(names(String(over.json!.kept), "SELECT x FROM wal_only"), ["in the log"]);
    assert.deepEqual(fs.readdirSync(dataDir).sort(), [
      "hub.db",
      "hub.db.lock",
      path.basename(String(over.json!.kept)),
    ]);
  },
};

const restoreLock: Deno.TestStepDefinition = {
  name: "hub admin restore holds hub.db.lock: a hub or an admin command started meanwhile is refused",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await scratchDir("conduit-hub-restore-lock-");
    const work = await scratchDir("conduit-hub-restore-lock-files-");
    const file = path.join(dataDir, "hub.db");
    const backup = path.join(work, "hub-backup.db");
    await northBackedUpThenSouth(dataDir, backup);
    // The lock file, made by the first hub or admin command, says what it is.
    assert.match(fs.readFileSync(`${file}.lock`, "utf8"), /hub admin restore/);

    let startRefusal = "";
    let adminRefusal: Awaited<ReturnType<typeof hubAdmin>> | undefined;
    const code = await restoreCommand(["--from", backup, "--db", "file:"], { data: dataDir }, {
      locked: async () => {
        await assert.rejects(startHubProcess({ dataDir, db: "file:" }), (err: Error) => {
          startRefusal = err.message;
          return true;
        });
        adminRefusal = await hubAdmin(dataDir, ["site", "add", "east", "--db", "file:"]);
      },
    });
    assert.equal(code, 0);
    assert.match(startRefusal, /exited with code 1 before it was ready/);
    assert.match(
      startRefusal,
      /the database .*hub\.db is being restored \(hub admin restore holds .*hub\.db\.lock\): start again once/,
    );
    assert.equal(adminRefusal!.code, 1, adminRefusal!.stderr);
    assert.match(adminRefusal!.stderr, /hub admin: the database .*hub\.db is being restored/);
    // Neither touched the database: the backup's is in place, the replaced one kept without east.
    assert.deepEqual(siteNames(file), ["north"]);
    const kept = fs.readdirSync(dataDir).find((f) => f.startsWith("hub.db.replaced-"))!;
    assert.deepEqual(siteNames(path.join(dataDir, kept)), ["north", "south"]);

    // The restore over, the lock is free: a hub starts on the restored database, and while it runs a
    // restore is refused at the lock, naming its process.
    const hub = await startHubProcess({ dataDir, db: "file:" });
    try {
      // (Asked side by side: the running hub's shared lock refuses both restores, and the list shares it.)
      const [refused, dry, sites] = await Promise.all([
        hubAdmin(dataDir, ["restore", "--from", backup, "--db", "file:"]),
        hubAdmin(dataDir, ["restore", "--from", backup, "--dry-run", "--db", "file:"]),
        hubAdmin(dataDir, ["site", "list", "--json", "--db", "file:"]),
      ]);
      assert.equal(refused.code, 1, refused.stderr);
      // (This process may be named too: libsql's close() leaves a connection open while a statement lives.)
      assert.match(refused.stderr, /is in use by process .*stop the hub/);
      assert.ok(refused.stderr.includes(`${hub.pid} (`), refused.stderr);
      assert.equal(dry.code, 1, dry.stderr);
      assert.ok(dry.stderr.includes(`${hub.pid} (`), dry.stderr);
      assert.deepEqual((sites.json!.sites as { site: string }[]).map((s) => s.site), ["north"]);
    } finally {
      await hub.stop();
    }
  },
};

// The three hub restore checks above work each on data directories of their own (and a hub of their own):
// they run side by side, as steps of one test, instead of one after another (each is a chain of hub admin
// processes, about half a second of start-up each).
Deno.test({
  name: "hub admin restore: a stopped hub's, the refusals and the lock, side by side",
  sanitizeOps: false,
  sanitizeResources: false,
  sanitizeExit: false,
  async fn(t) {
    const steps = [restoreOfAStoppedHub, restoreRefusals, restoreLock];
    const results = await Promise.allSettled(steps.map((step) => t.step({ ...step, sanitizeExit: false })));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    assert.ok(results.every((r) => r.status === "fulfilled" && r.value), "every step passed");
  },
});

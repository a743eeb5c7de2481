/**
 * `deno task agent backup --out DIR` and `deno task agent restore --from DIR`: a consistent copy of the
 * agent's database and credential made while it runs, and putting one back while it is stopped
 * (backup/backup.ts; docs/operations.md, "Backup and restore").
 */
import { commandLine, commandOf } from "@conduit/shared/cli";
import { stopSignal } from "@conduit/shared/process";
import { ConfigError } from "../config/load.ts";
import { dataDirOf } from "./_data_dir.ts";
import { backupAgent } from "../backup/backup.ts";
import { BackupError } from "../backup/manifest.ts";
import { planRestore, restoreAgent } from "../backup/restore.ts";

const AGENT = commandOf("agent");

const BACKUP_USAGE = `usage: ${AGENT} backup --out DIR [--with-archive] [--data DIR | --config FILE] [--json]
  --out DIR         a new (or empty) directory for agent.db, hub-credential.json and manifest.json
  --with-archive    also the archive's files (archive/, deid/, incoming/): hard links on the same file system,
                    else copies
  --data DIR        the agent's data directory (default: the configuration's, else ./data/agent)
  --config FILE     the agent's configuration file, for its data directory
  --json            print the manifest as one JSON object`;

const RESTORE_USAGE = `usage: ${AGENT} restore --from DIR [--data DIR | --config FILE] [--dry-run] [--json]
  --from DIR        a directory made by 'agent backup'
  --dry-run         check the backup and the data directory and say what would be done; change nothing
  --data DIR        the agent's data directory (default: the configuration's, else ./data/agent)
  --config FILE     the agent's configuration file, for its data directory
  --json            print the result as one JSON object
The agent must be stopped. The agent.db it replaces is kept beside it as agent.db.replaced-<UTC time>.
Its next start checks every index row's file and walks the whole archive.`;

function failed(name: string, err: unknown): number {
  if (err instanceof BackupError) {
    console.error(`agent ${name}: ${err.message}`);
    return 1;
  }
  if (err instanceof ConfigError) {
    console.error(err.message);
    return 2;
  }
  throw err;
}

export async function backupCommand(args: string[]): Promise<number> {
  const parsed = commandLine("agent backup", BACKUP_USAGE, args, {
    out: { type: "string" },
    data: { type: "string" },
    config: { type: "string" },
    "with-archive": { type: "boolean" },
    json: { type: "boolean" },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  if (!v.out || parsed.positionals.length) {
    console.error(`agent backup: give the directory to write with --out\n${BACKUP_USAGE}`);
    return 2;
  }
  // Ctrl-C (or SIGTERM): the backup ends at the end of its current step and removes what it wrote; it
  // left a half-made --out (agent.db.part, no manifest), saying nothing.
  const stop = stopSignal((signal) =>
    console.error(`agent backup: ${signal}: stopping at the end of the current step (again: at once)`)
  );
  try {
    const started = performance.now();
    const m = await backupAgent(dataDirOf(v), v.out, { withArchive: v["with-archive"], stop: stop.signal });
    if (v.json) console.log(JSON.stringify({ out: v.out, ...m }));
    else {
      const queue = Object.entries(m.counts.queue).filter(([k]) => k !== "total").map(([k, n]) =>
        `${n} ${k}`
      );
      console.log(
        `backup of ${m.dataDir} written to ${v.out} in ${Math.round(performance.now() - started)} ms`,
      );
      console.log(`  agent.db      ${m.database.bytes} bytes, sha256 ${m.database.sha256}`);
      console.log(`  schema        ${m.schema.migration ?? "(none)"} (agent ${m.version})`);
      console.log(`  instances     ${m.counts.instances} archived, ${m.counts.removed} removed (tombstones)`);
      console.log(
        `  queue         ${m.counts.queue.total} rows${queue.length ? ` (${queue.join(", ")})` : ""}`,
      );
      console.log(
        `  credential    ${m.credential ? "hub-credential.json (mode 0600)" : "none (not enrolled)"}`,
      );
      console.log(
        m.archive.included
          ? `  archive       ${m.archive.files} files, ${m.archive.bytes} bytes (${m.archive.linked} hard links)`
          : "  archive       not copied: back up archive/, deid/ and incoming/ now (docs/operations.md)",
      );
    }
    if (stop.signal.aborted) {
      console.error(`agent backup: ${stop.signal.reason} came as the backup ended: it is complete`);
    }
    return 0;
  } catch (err) {
    const code = failed("backup", err);
    return stop.exitCode() ?? code;
  } finally {
    stop.dispose();
  }
}

export async function restoreCommand(args: string[]): Promise<number> {
  const parsed = commandLine("agent restore", RESTORE_USAGE, args, {
    from: { type: "string" },
    data: { type: "string" },
    config: { type: "string" },
    json: { type: "boolean" },
    "dry-run": { type: "boolean" },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  if (!v.from || parsed.positionals.length) {
    console.error(`agent restore: give the backup directory with --from\n${RESTORE_USAGE}`);
    return 2;
  }
  // Ctrl-C (or SIGTERM): before the data directory changes, the restore stops with nothing changed; after,
  // it finishes and says so. It could end between replacing agent.db and the mark that makes the next start
  // reconcile the archive with it.
  // (A dry run changes nothing: Ctrl-C ends it at once.)
  const dryRun = Boolean(v["dry-run"]);
  const stop = dryRun
    ? undefined
    : stopSignal((signal) =>
      console.error(`agent restore: ${signal}: stopping, unless the data directory is already changing`)
    );
  try {
    const r = dryRun
      ? await planRestore(v.from, dataDirOf(v))
      : await restoreAgent(v.from, dataDirOf(v), { stop: stop?.signal });
    if (v.json) {
      console.log(JSON.stringify({
        from: v.from,
        dataDir: r.dataDir,
        ...(dryRun ? { dryRun } : {}),
        kept: r.kept,
        createdAt: r.manifest.createdAt,
        credential: r.credential,
        archive: r.archive,
      }));
    } else {
      const would = (done: string, planned: string) => dryRun ? planned : done;
      console.log(
        dryRun
          ? `dry run: the backup of ${r.manifest.createdAt} is whole and would be restored into ${r.dataDir}`
          : `restored the backup of ${r.manifest.createdAt} into ${r.dataDir}`,
      );
      console.log(
        r.kept
          ? `  replaced      agent.db ${would("kept", "would be kept")} as ${r.kept}${
            dryRun ? "" : " (remove it once the agent is known to be right)"
          }`
          : "  replaced      nothing (there was no agent.db)",
      );
      console.log(
        `  index         ${r.manifest.counts.instances} instances, ${r.manifest.counts.queue.total} queue rows`,
      );
      console.log(`  credential    ${
        {
          restored: would("restored (mode 0600)", "would be restored (mode 0600)"),
          kept: "the data directory's own kept (it may be newer than the backup's)",
          none: "none",
        }[r.credential]
      }`);
      if (r.archive) {
        console.log(
          dryRun
            ? `  archive       ${r.archive.files} files would be put back (${r.archive.bytes} bytes)`
            : `  archive       ${r.archive.files} files put back (${r.archive.linked} hard links)`,
        );
      }
      console.log(
        dryRun
          ? "nothing was changed"
          : "start the agent: it reconciles the archive with the restored index first",
      );
    }
    if (stop?.signal.aborted) {
      console.error(
        `agent restore: ${stop.signal.reason} came once the data directory was changing: the restore was ` +
          "finished (it cannot stop half way)",
      );
    }
    return 0;
  } catch (err) {
    const code = failed("restore", err);
    return stop?.exitCode() ?? code;
  } finally {
    stop?.dispose();
  }
}

/**
 * What an intake journal would cost on this disk, before building one (bench/README.md, "an intake journal
 * instead of a file synced per object"): per object of `--size` bytes, one after another,
 *
 * - floor: create, write, fdatasync, rename, fsync of the folder (the intake's way, as `bench ingest`'s loop);
 * - journal: one write into a preallocated 64 MB file, fdatasync (no metadata changes);
 * - journal + archive: the same, then the object's own file written and renamed, never synced;
 * - journal + archive synced: the same, each 64 archive files then fdatasynced and the folder fsynced, as a
 *   journal must before it reuses its space.
 *
 *   deno run -A bench/journal_loop.ts --files 500 [--size 526000] [--rounds 3] [--dir DIR]
 *
 * Not part of `deno task bench`: it measures the disk, not the agent.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";

const args = parseArgs({
  args: Deno.args,
  options: {
    files: { type: "string", default: "500" },
    size: { type: "string", default: "526000" },
    rounds: { type: "string", default: "3" },
    dir: { type: "string" },
  },
});
const files = Number(args.values.files);
const size = Number(args.values.size);
const JOURNAL_BYTES = 64 * 1024 * 1024;
const SYNC_EVERY = 64;
const dir = args.values.dir ?? await Deno.makeTempDir({ prefix: "conduit-journal-loop-" });
const object = new Uint8Array(size);
crypto.getRandomValues(object.subarray(0, 65536));

function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
}

function floor(): number {
  const folder = Deno.openSync(dir, { read: true });
  const start = performance.now();
  for (let i = 0; i < files; i++) {
    const part = path.join(dir, `a${i}.part`);
    const file = Deno.openSync(part, { write: true, create: true, truncate: true });
    writeAll(file, object);
    file.syncDataSync();
    file.close();
    Deno.renameSync(part, path.join(dir, `a${i}.dcm`));
    folder.syncSync();
  }
  const ms = performance.now() - start;
  folder.close();
  for (let i = 0; i < files; i++) Deno.removeSync(path.join(dir, `a${i}.dcm`));
  return ms;
}

function makeJournal(): void {
  const file = Deno.openSync(path.join(dir, "journal"), { write: true, create: true });
  const zeros = new Uint8Array(1 << 20);
  for (let at = 0; at < JOURNAL_BYTES; at += zeros.length) writeAll(file, zeros);
  file.syncSync();
  file.close();
}

function journal(archive: "none" | "unsynced" | "synced"): number {
  const log = Deno.openSync(path.join(dir, "journal"), { read: true, write: true });
  const folder = Deno.openSync(dir, { read: true });
  const pending: Deno.FsFile[] = [];
  const syncPending = () => {
    for (const file of pending) {
      file.syncDataSync();
      file.close();
    }
    pending.length = 0;
    folder.syncSync();
  };
  const start = performance.now();
  let at = 0;
  for (let i = 0; i < files; i++) {
    if (at + size > JOURNAL_BYTES) at = 0;
    log.seekSync(at, Deno.SeekMode.Start);
    writeAll(log, object);
    at += Math.ceil(size / 4096) * 4096;
    log.syncDataSync();
    if (archive === "none") continue;
    const part = path.join(dir, `b${i}.part`);
    const file = Deno.openSync(part, { write: true, create: true, truncate: true });
    writeAll(file, object);
    Deno.renameSync(part, path.join(dir, `b${i}.dcm`));
    if (archive === "unsynced") {
      file.close();
      continue;
    }
    pending.push(file);
    if (pending.length >= SYNC_EVERY) syncPending();
  }
  if (archive === "synced") syncPending();
  const ms = performance.now() - start;
  log.close();
  folder.close();
  if (archive !== "none") { for (let i = 0; i < files; i++) Deno.removeSync(path.join(dir, `b${i}.dcm`)); }
  return ms;
}

await Deno.mkdir(dir, { recursive: true });
makeJournal();
const perObject = (ms: number) => `${Math.round(ms / files * 1000)}`;
console.log(`${files} objects of ${size} bytes in ${dir}; µs per object`);
console.log("round  floor  journal  journal+archive  journal+archive synced per 64");
for (let round = 1; round <= Number(args.values.rounds); round++) {
  const row = [floor(), journal("none"), journal("unsynced"), journal("synced")].map(perObject);
  console.log(`${round}      ${row.join("  ")}`);
}
if (!args.values.dir) await Deno.remove(dir, { recursive: true });

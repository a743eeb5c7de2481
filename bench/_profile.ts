/**
 * What the profiling scripts (profile_receive.ts, profile_forward.ts) share: the receive path's stages
 * as rules on a V8 `--prof` sample's stack, and the CPU time of a process or thread from /proc.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { generateCtSeries } from "./_shared.ts";
import { runDcmtk } from "../tests/support/peers.ts";

/** Stages in the order the table prints them; the first rule matching a frame (leaf first) wins. */
export const STAGES: [string, RegExp][] = [
  ["sync (fsync/fdatasync)", /^(fsync|fdatasync|sync_file_range)@|syncDir|\bsyncFile|fdatasync/],
  ["hash (SHA-256)", /crypto\/hash\.ts|createHash|digest|sha256/i],
  ["file write", /^(__write|__libc_pwrite|__libc_write|write)@|writeSync|writeFileSync/],
  [
    "file open/close/rename",
    /^(__open|__open64|__close|rename|renameat|unlink|mkdir|statx)@|openSync|renameSync/,
  ],
  ["index (libsql)", /libsql|agent\/index\/|indexInstance|existingInstance/],
  ["queue + routing", /agent\/queue\/|agent\/routing\/|addInTransaction/],
  ["check (header, structure)", /shared\/dicom\/|part10\/header\.ts|checkedHeader|instanceAttributes/],
  ["ingest commit (other)", /agent\/ingest\/|agent\/archive\//],
  [
    "response (send)",
    /^__send@|cStoreRequest|CStoreResponse|_sendDimse|_sendPDataTF|sendResponse|sendStoreResponse|encodeCommand|#writing/,
  ],
  [
    "copy (buffers)",
    /TypedArrayConstructor|Buffer(Concat|From)|\bconcat\b|#take|#keep|allocUnsafe|memcpy|memmove/,
  ],
  [
    "PDU parse (DIMSE)",
    /pdu_reader|_processPdu|_processPDataTf|pdv_guard|dcmjs-dimse|command_codec|#onData|pdata/i,
  ],
  ["socket read", /^__recv@|#readLoop|01_net\.js/],
  ["streams + events", /internal\/streams|_events\.mjs|nextTick|process\.ts/],
  ["logging", /shared\/log\.ts/],
];
export const OTHER = "other";

export interface Code {
  name: string;
  type: string;
}
export interface Tick {
  tm: number;
  vm: number;
  s: number[];
}

/** The receive stage of a sample by its frames' names (leaf first), or OTHER. */
export function classifyReceive(names: string[]): string {
  for (const name of names) for (const [stage, rule] of STAGES) if (rule.test(name)) return stage;
  return OTHER;
}

/** The names of a sample's frames, leaf first, shared libraries left out. */
export function frameNames(tick: Tick, code: Code[]): string[] {
  const names: string[] = [];
  for (let i = 0; i < tick.s.length; i += 2) {
    const entry = code[tick.s[i]];
    if (entry && entry.type !== "SHARED_LIB") names.push(entry.name);
  }
  return names;
}

/** GC or compile from the sample's VM state, else undefined. */
export function vmStage(tick: Tick): string | undefined {
  if (tick.vm === 1) return "GC";
  if (tick.vm >= 2 && tick.vm <= 4) return "compile";
  return undefined;
}

/** A sample's receive stage, GC or compile. */
export function classify(tick: Tick, code: Code[]): string {
  return vmStage(tick) ?? classifyReceive(frameNames(tick, code));
}

/** utime + stime (clock ticks) of one process, or of one of its threads. */
export function cpuTicks(pid: number, tid = pid): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/task/${tid}/stat`).split(") ")[1].split(" ");
  return Number(fields[11]) + Number(fields[12]);
}
export function processTicks(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** The command line both profiling scripts take, and the generated series (kept under --keep DIR). */
export async function profileSetup(
  args: string[],
): Promise<{ files: number; sync: boolean; work: string; paths: string[] }> {
  const parsed = parseArgs({
    args,
    options: {
      files: { type: "string", default: "1000" },
      sync: { type: "string", default: "on" },
      keep: { type: "string" },
    },
  });
  const files = Number(parsed.values.files);
  const sync = parsed.values.sync !== "off";
  const work = parsed.values.keep ?? await Deno.makeTempDir({ prefix: "conduit-profile-" });
  await Deno.mkdir(work, { recursive: true });
  const seriesDir = path.join(work, `series-${files}`);
  let paths: string[] = [];
  try {
    paths = [...Deno.readDirSync(seriesDir)].map((e) => path.join(seriesDir, e.name)).sort();
  } catch { /* generated below */ }
  if (paths.length !== files) paths = (await generateCtSeries(seriesDir, files, console.error)).paths;
  return { files, sync, work, paths };
}

/** One storescu association sending `paths` to the agent (calling AE PROFILE). */
export function storescuInto(agent: { aet: string; port: number }, paths: string[]) {
  return runDcmtk("storescu", [
    "-aet",
    "PROFILE",
    "-aec",
    agent.aet,
    "127.0.0.1",
    String(agent.port),
    ...paths,
  ], {
    timeoutMs: 30 * 60_000,
  });
}

/** The load average now, and the agent's CPU so far (main thread and whole process, clock ticks). */
export async function cpuMark(pid: number): Promise<{ load: string; main: number; all: number; t: number }> {
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  return { load, main: cpuTicks(pid), all: processTicks(pid), t: performance.now() };
}

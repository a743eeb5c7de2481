/**
 * What the profiling scripts (profile_receive.ts, profile_forward.ts) share: the receive path's stages
 * as rules on a V8 `--prof` sample's stack, and the CPU time of a process or thread from /proc.
 */

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

/** A sample's receive stage, GC or compile. */
export function classify(tick: Tick, code: Code[]): string {
  if (tick.vm === 1) return "GC";
  if (tick.vm >= 2 && tick.vm <= 4) return "compile";
  const names: string[] = [];
  for (let i = 0; i < tick.s.length; i += 2) {
    const entry = code[tick.s[i]];
    if (entry && entry.type !== "SHARED_LIB") names.push(entry.name);
  }
  return classifyReceive(names);
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

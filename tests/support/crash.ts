/**
 * Helpers for the kill -9 crash tests (tests/faults/crash_test.ts): a seeded PRNG, a strict parser
 * of `storescu -v` output (which files were answered Success), a read-only look at the agent's
 * database while the agent is dead, and a whole-file DICOM completeness check.
 */
import * as path from "node:path";
import LibsqlDatabase from "libsql";
import { readFileHeader } from "../../agent/part10/header.ts";
import { listFiles } from "./agent.ts";
import { encodingOf, parseDataSet, readPart10Header } from "@conduit/shared/dicom";

/** mulberry32: a small seeded PRNG giving floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SENDING = /^I: Sending file: (.+)$/;
const RESPONSE = /^I: Received Store Response \((.*)\)$/;

/**
 * The files `storescu -v` (DCMTK 3.6.7) reports as answered Success, from its log (stderr):
 *
 *     I: Sending file: /path/1.dcm
 *     I: Converting transfer syntax: ...
 *     I: Sending Store Request (MsgID 1, CT)
 *     I: Received Store Response (Success)
 *
 * A file counts only when a `Received Store Response (Success)` line follows its `Sending file` line
 * with no other `Sending file` line in between. Throws on anything that does not fit: a response
 * with no file being sent, a second response for one file, a file that was not on the command line
 * or out of command-line order.
 */
export function acknowledgedFiles(log: string, files: string[]): string[] {
  const acknowledged: string[] = [];
  let current: string | undefined;
  let next = 0; // index in `files` the next "Sending file" may name (storescu keeps command-line order)
  const lines = log.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n];
    const sending = SENDING.exec(line);
    if (sending) {
      const at = files.indexOf(sending[1], next);
      if (at < 0) {
        throw new Error(`storescu log line ${n + 1}: sends ${sending[1]}, not a file expected next`);
      }
      next = at + 1;
      current = sending[1];
      continue;
    }
    const response = RESPONSE.exec(line);
    if (response) {
      if (current === undefined) {
        throw new Error(`storescu log line ${n + 1}: a store response with no file being sent: ${line}`);
      }
      if (response[1] === "Success") acknowledged.push(current);
      current = undefined;
      continue;
    }
    if (/Store Response/.test(line) || /Sending file/.test(line)) {
      throw new Error(`storescu log line ${n + 1}: unexpected format: ${line}`);
    }
  }
  return acknowledged;
}

/** What the agent's database held at one moment (read while the agent is not running). */
export interface DbSnapshot {
  /** Queue rows by state. */
  states: Record<string, number>;
  /** Every queue row: SOP Instance UID and state. */
  rows: { sop: string; destination: string; state: string }[];
  /** SOP Instance UIDs in the index. */
  instances: Set<string>;
}

/**
 * Opens `<data>/agent.db` read-only (the agent must be dead: nothing else may write) and reads the
 * queue and the indexed instances. A read-only connection neither checkpoints nor deletes the WAL, so
 * the next agent recovers the database exactly as the crash left it.
 */
export function readDbSnapshot(dbPath: string): DbSnapshot {
  const db = new LibsqlDatabase(dbPath, { readonly: true, fileMustExist: true }) as unknown as {
    prepare(sql: string): { all(): Record<string, unknown>[] };
    close(): void;
  };
  try {
    const rows = db.prepare("SELECT sop_instance_uid AS sop, destination, state FROM queue").all() as {
      sop: string;
      destination: string;
      state: string;
    }[];
    const states: Record<string, number> = {};
    for (const r of rows) states[r.state] = (states[r.state] ?? 0) + 1;
    const instances = new Set(
      (db.prepare("SELECT sop_instance_uid AS sop FROM instances").all() as { sop: string }[]).map((r) =>
        r.sop
      ),
    );
    return { states, rows, instances };
  } finally {
    db.close();
  }
}

/**
 * Checks that a Part 10 file is whole: its File Meta group and its entire data set parse and the data
 * set ends exactly at the end of the file. Returns the SOP Instance UID from the meta group and the
 * data set bytes; throws with the reason otherwise.
 */
export function wholeObject(bytes: Uint8Array): { sop: string; dataset: Uint8Array } {
  const header = readPart10Header(bytes);
  const encoding = encodingOf(header.transferSyntax);
  if (encoding.deflated) throw new Error("deflated files are not expected here");
  const { dataset, stopped } = parseDataSet(bytes, encoding, { start: header.datasetOffset });
  if (stopped) throw new Error("parsing stopped early");
  if (dataset.end !== bytes.length) {
    throw new Error(`the data set ends at byte ${dataset.end}, the file at ${bytes.length}`);
  }
  if (!header.sopInstanceUid) throw new Error("no Media Storage SOP Instance UID");
  return { sop: header.sopInstanceUid, dataset: bytes.subarray(header.datasetOffset) };
}

/** Objects waiting in the agent's intake (answered Success, not yet committed), by SOP Instance UID. */
export async function intakeFiles(dataDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of await listFiles(path.join(dataDir, "incoming")).catch(() => [] as string[])) {
    if (!f.endsWith(".dcm")) continue;
    const sop = (await readFileHeader(f)).header.sopInstanceUid;
    if (sop) out.set(sop, f);
  }
  return out;
}

/**
 * Objects a kill caught between their Success and their group commit's index transaction, by SOP
 * Instance UID: whole in `<data>/incoming`, or already placed in the archive (`<SOP>.dcm`) without a
 * row. The next start commits both.
 */
export async function uncommittedObjects(dataDir: string, indexed: Set<string>): Promise<Set<string>> {
  const out = new Set((await intakeFiles(dataDir)).keys());
  for (const f of await listFiles(path.join(dataDir, "archive")).catch(() => [] as string[])) {
    const sop = path.basename(f, ".dcm");
    if (f.endsWith(".dcm") && !indexed.has(sop)) out.add(sop);
  }
  return out;
}

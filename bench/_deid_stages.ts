/**
 * The per-object budget of `deidentifyFile()` on this thread, stage by stage, measured by doing each
 * stage the way the engine does it over the same files (after a warm-up, so the JIT has compiled the
 * hot paths): read (into a reused buffer), parse the header, read the index attributes, decide and
 * rewrite, File Meta, write (open, three writes, close, rename). Also the whole call, for comparison
 * with the sum.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import {
  buildFileMeta,
  encodingOf,
  instanceAttributes,
  parseDataSet,
  PIXEL_DATA,
  readPart10Header,
  TextDecoding,
} from "@conduit/shared/dicom";
import { deidentifyFile } from "../agent/deid/engine.ts";
import { makeEditor } from "../agent/deid/decide.ts";
import { rewriteDataSet } from "../agent/deid/rewrite.ts";
import { standardProfile } from "../agent/deid/profile.ts";
import { giveBack, takeBuffer } from "../agent/deid/scratch.ts";
import { median } from "./_shared.ts";

export interface StageBudget {
  /** Median microseconds per object, by stage. */
  stages: Record<string, number>;
  /** Median microseconds of the whole `deidentifyFile()` call. */
  whole: number;
  /** Mean microseconds per object, by stage, and of the whole call: the stalls a median hides count here. */
  means: Record<string, number>;
}

export async function deidStages(files: string[], outDir: string): Promise<StageBudget> {
  const key = new Uint8Array(32).fill(7);
  const profile = standardProfile();
  fs.mkdirSync(outDir, { recursive: true });
  // Warm-up: the JIT compiles what the first hundred objects run.
  for (const [i, f] of files.slice(0, 100).entries()) {
    await deidentifyFile(f, path.join(outDir, `w${i}.dcm`), { key, profile, sync: false });
  }
  const samples: Record<string, number[]> = {
    read: [],
    parse: [],
    attributes: [],
    rewrite: [],
    meta: [],
    write: [],
  };
  const whole: number[] = [];
  for (const [i, f] of files.entries()) {
    let t = performance.now();
    const lap = (stage: string) => {
      const now = performance.now();
      samples[stage].push((now - t) * 1000);
      t = now;
    };
    const fd = fs.openSync(f, "r");
    const size = fs.fstatSync(fd).size;
    const raw = takeBuffer(size); // reused from one object to the next, as the engine does
    fs.readSync(fd, raw, 0, size, 0);
    fs.closeSync(fd);
    lap("read");
    const header = readPart10Header(raw);
    const enc = encodingOf(header.transferSyntax);
    const { dataset } = parseDataSet(raw, enc, { start: header.datasetOffset, stopAtTag: PIXEL_DATA });
    lap("parse");
    const attrs = instanceAttributes(raw, dataset, header);
    lap("attributes");
    const editor = makeEditor({
      bytes: raw,
      profile,
      key,
      decoding: new TextDecoding(attrs.specificCharacterSet),
      patientId: attrs.patientId,
      shift: 0,
    }, dataset);
    const rewritten = rewriteDataSet(raw, dataset, editor, enc);
    lap("rewrite");
    const meta = buildFileMeta({
      sopClassUid: attrs.sopClassUid,
      sopInstanceUid: "2.25.1",
      transferSyntax: header.transferSyntax,
    });
    lap("meta");
    const out = path.join(outDir, `s${i}.dcm`);
    const o = fs.openSync(`${out}.part`, "w");
    fs.writeSync(o, meta);
    fs.writeSync(o, rewritten);
    fs.writeSync(o, raw.subarray(dataset.end));
    fs.closeSync(o);
    fs.renameSync(`${out}.part`, out);
    lap("write");
    giveBack(raw);
    const w0 = performance.now();
    await deidentifyFile(f, path.join(outDir, `d${i}.dcm`), { key, profile, sync: false });
    whole.push((performance.now() - w0) * 1000);
  }
  return {
    stages: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, median(v)])),
    whole: median(whole),
    means: Object.fromEntries(
      [...Object.entries(samples), ["whole", whole] as const].map((
        [k, v],
      ) => [k, v.reduce((a, b) => a + b, 0) / v.length]),
    ),
  };
}

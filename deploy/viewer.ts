/**
 * `deno task build:viewer`: puts the OHIF viewer (npm `@ohif/app`, its built `dist/`) in ui/viewer, which
 * the hub serves at `/viewer/` (hub/viewer.ts). About 50 MB; a minute at most, once.
 *
 * The package is fetched with npm's own client (`npm pack`, from npm's cache when it has it), pinned to
 * one version and checked against its published sha512 before anything is unpacked. Only its `dist/` is
 * kept, without the AI models (`ort/`, 136 MB: onnxruntime for the segmentation tools) and the slide
 * microscopy viewer (20 MB): neither is used by the modes a study of a site opens in.
 *
 * OHIF builds for the site root (`/`); under `/viewer/` its page, style sheet, manifest and the chunk
 * loaders' public path (`__webpack_require__.p`) are rewritten to `/viewer/`, and the page's two inline
 * scripts (the public path, a dynamic-import helper) move to a file, so the viewer needs no inline
 * script. Its service worker registration (which loads a script from Google's CDN) is left out.
 * `app-config.js` is not taken: the hub writes it per request (its data sources are the hub's sites).
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const OHIF_PACKAGE = "@ohif/app";
export const OHIF_VERSION = "3.13.2";
/** `npm view @ohif/app@3.13.2 dist.integrity`. */
const INTEGRITY =
  "sha512-WZdxmpmG7rqFgW9ZJLcbgr3XCtLi1KDNPoMaeY5PPe6j4G4fjEjjkycZM6C6Zk2F87BKxFfpq+jd5xXZB9E8EA==";
export const VIEWER_DIR = path.join(ROOT, "ui/viewer");
const MARKER = ".conduit-viewer";
/** Where the viewer is served; OHIF's own paths start with `/`. */
export const VIEWER_BASE = "/viewer/";

async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  let out;
  try {
    out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).output();
  } catch (err) {
    throw new Error(
      `viewer: cannot run ${cmd} (${(err as Error).message}); the viewer needs Node's npm and tar`,
    );
  }
  if (!out.success) {
    throw new Error(
      `viewer: ${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr).slice(-600)}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/** Whether ui/viewer holds this version, prepared. */
export async function viewerReady(dir = VIEWER_DIR): Promise<boolean> {
  try {
    return (await Deno.readTextFile(path.join(dir, MARKER))).trim() === OHIF_VERSION;
  } catch {
    return false;
  }
}

/** Rewrites OHIF's root-relative paths for `/viewer/` (see the module comment). */
export async function patchForBase(dist: string, base = VIEWER_BASE): Promise<void> {
  const edit = async (file: string, change: (text: string) => string) => {
    const p = path.join(dist, file);
    const before = await Deno.readTextFile(p);
    const after = change(before);
    if (after === before) {
      throw new Error(`viewer: nothing to rewrite in ${file}: is ${OHIF_VERSION} the version?`);
    }
    await Deno.writeTextFile(p, after);
  };
  await Deno.writeTextFile(
    path.join(dist, "conduit-init.js"),
    `window.PUBLIC_URL = ${JSON.stringify(base)};\nfunction browserImportFunction(n) { return import(n); }\n`,
  );
  await edit("index.html", (html) => {
    let first = true;
    return html
      .replace(/(href|src)="\/(?!\/)/g, `$1="${base}`)
      .replace(/<script[^>]*init-service-worker\.js[^>]*><\/script>/, "")
      // The first inline script (the public path) becomes the file, where it was; the others go.
      .replace(/<script>[^<]*<\/script>/g, () => {
        const out = first ? `<script src="${base}conduit-init.js"></script>` : "";
        first = false;
        return out;
      });
  });
  await edit("app.bundle.css", (css) => css.replace(/url\(\/(?!\/)/g, `url(${base}`));
  await edit("manifest.json", (json) => json.replaceAll('"/assets/', `"${base}assets/`));
  let bundles = 0;
  for await (const e of Deno.readDir(dist)) {
    if (!e.isFile || !e.name.endsWith(".js")) continue;
    const p = path.join(dist, e.name);
    const text = await Deno.readTextFile(p);
    if (!text.includes('__webpack_require__.p = "/";')) continue;
    await Deno.writeTextFile(
      p,
      text.replace('__webpack_require__.p = "/";', `__webpack_require__.p = ${JSON.stringify(base)};`),
    );
    bundles++;
  }
  if (!bundles) throw new Error("viewer: no chunk loader to point at /viewer/");
}

/** Fetches, checks, unpacks and patches the viewer into `dir` (ui/viewer) unless it is there already. */
export async function prepareViewer(options: { dir?: string; force?: boolean } = {}): Promise<string> {
  const dir = options.dir ?? VIEWER_DIR;
  if (!options.force && await viewerReady(dir)) return dir;
  const work = await Deno.makeTempDir({ prefix: "ohif-" });
  try {
    const packed = (await run("npm", [
      "pack",
      `${OHIF_PACKAGE}@${OHIF_VERSION}`,
      "--prefer-offline",
      "--silent",
      "--pack-destination",
      work,
    ], work)).trim().split("\n").at(-1)!;
    const tarball = path.join(work, path.basename(packed));
    const digest = "sha512-" + createHash("sha512").update(await Deno.readFile(tarball)).digest("base64");
    if (digest !== INTEGRITY) {
      throw new Error(
        `viewer: ${OHIF_PACKAGE}@${OHIF_VERSION} does not match its published sha512 (got ${digest})`,
      );
    }
    await run("tar", [
      "-xzf",
      tarball,
      "--exclude=package/dist/ort",
      "--exclude=package/dist/dicom-microscopy-viewer",
      "--exclude=package/dist/app-config.js",
      "--exclude=package/dist/sw.js",
      "--exclude=package/dist/init-service-worker.js",
      "package/dist",
    ], work);
    const dist = path.join(work, "package/dist");
    await patchForBase(dist);
    await Deno.writeTextFile(path.join(dist, MARKER), OHIF_VERSION + "\n");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.mkdir(path.dirname(dir), { recursive: true });
    await Deno.rename(dist, dir);
    return dir;
  } finally {
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const dir = await prepareViewer({ force: Deno.args.includes("--force") });
  console.log(
    `the OHIF viewer ${OHIF_VERSION} is in ${path.relative(ROOT, dir)} (served by the hub at /viewer/)`,
  );
}

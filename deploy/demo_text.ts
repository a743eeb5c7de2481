/**
 * What the demo prints, and the `move.ts` it writes: a script with the typed client that moves north's
 * first study to south and waits for the job to end (it type-checks with the repository's deno.json;
 * tests/build/demo_test.ts checks and runs it).
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { DemoPacs } from "./demo_pacs.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Site {
  aet: string;
  dimsePort: number;
}

/**
 * A path as the demo prints it: relative to `cwd` when it lies under it (`.demo/north.log`), else whole (a
 * CONDUIT_DEMO_DIR elsewhere: `/tmp/demo/north.log`, not `../../tmp/demo/north.log`).
 */
export function shownPath(p: string, cwd: string = Deno.cwd()): string {
  const rel = path.relative(cwd, p);
  if (rel === "") return ".";
  return rel.startsWith("..") || path.isAbsolute(rel) ? path.resolve(p) : rel;
}

/** The demo's folder as the text names it, with a trailing slash: `.demo/`, `/tmp/demo/`. */
export function shownDir(dir: string, cwd?: string): string {
  return `${shownPath(dir, cwd).replace(/\/$/, "")}/`;
}

/** The demo's first lines: where everything is. `dir`: the demo's folder (CONDUIT_DEMO_DIR or `.demo`). */
export function banner(d: {
  dir: string;
  hubUrl: string;
  admin: { user: string; password: string };
  sites: Record<string, Site>;
  seeded: { studies: number; objects: number };
  apiToken: string;
  pacs?: DemoPacs;
  pacsNote: string;
  /** Whether ui/viewer holds the OHIF viewer (deploy/viewer.ts `viewerReady()`); else the line says how. */
  viewerBuilt: boolean;
  /** How commands start ({@link denoCommand}); `deno` unless said. */
  deno?: string;
}): string {
  const pacs = d.pacs
    ? `  pacs       node "pacs" of south: ${
      d.pacs.kind === "orthanc" ? "Orthanc" : "DCMTK storescp"
    } ${d.pacs.aet}@127.0.0.1:${d.pacs.port}` +
      (d.pacs.kind === "orthanc"
        ? ` (C-STORE, C-FIND, C-MOVE; Orthanc Explorer at ${d.pacs.httpUrl})`
        : " (C-STORE and C-ECHO only: install Orthanc to try C-MOVE)")
    : `  pacs       ${d.pacsNote}`;
  const dir = shownDir(d.dir);
  return `
Conduit demo: a hub and two sites on loopback (data and logs in ${dir}, details in ${dir}demo.json).

  console    ${d.hubUrl}/   log in as ${d.admin.user} / ${d.admin.password}
  viewer     ${d.hubUrl}/viewer/   ${
    d.viewerBuilt
      ? "(OHIF, after logging in to the console)"
      : `(OHIF, not built yet: run ${d.deno ?? "deno"} task build:viewer, about 50 MB with npm, then reload)`
  }
  north      DICOM ${d.sites.north.aet}@127.0.0.1:${d.sites.north.dimsePort}, seeded with ${d.seeded.studies} studies, ${d.seeded.objects} objects
  south      DICOM ${d.sites.south.aet}@127.0.0.1:${d.sites.south.dimsePort}
${pacs}
  API token  ${d.apiToken}

Query north's studies (QIDO-RS):
  curl -s -H "Authorization: Bearer ${d.apiToken}" ${d.hubUrl}/dicomweb/sites/north/studies`;
}

/** The move script: the typed client, a transfer of north's first study to south, waiting for its end. */
export function moveTs(hubUrl: string, token: string, dir: string): string {
  return `// Moves north's first study to south with Conduit's typed client and waits for the transfer to end.
// Run from the repository: deno run -A --config deno.json ${shownPath(path.join(dir, "move.ts"), ROOT)}
import { createConduitClient } from ${JSON.stringify(path.join(ROOT, "hub/client/mod.ts"))};

const client = createConduitClient({ url: ${JSON.stringify(hubUrl)}, token: ${JSON.stringify(token)} });
const [first] = (await client.query.studies.query({ site: "north" })).studies;
if (!first) throw new Error("north has no study");
const study = String((first.study["0020000D"] as { Value: string[] }).Value[0]);
const { id } = await client.transfers.create.mutate({
  source: { site: "north" },
  destination: { site: "south" },
  studies: [study],
});
let job = await client.transfers.get.query({ id });
while (!["success", "warning", "failure", "canceled"].includes(job.status)) {
  await new Promise((resolve) => setTimeout(resolve, 500));
  job = await client.transfers.get.query({ id });
}
console.log(\`transfer \${id}: \${job.status}, \${job.totals.done} of \${job.totals.objects} objects\`);
`;
}

/**
 * The PATH of the shell the demo was started from: without the folders npx and npm put first for the
 * command they run (`~/.npm/_npx/.../node_modules/.bin`, any `node_modules/.bin`, npm's `node-gyp-bin`), so
 * that the deno npx fetched does not count as one the reader can type.
 */
export function shellPath(pathVar: string): string {
  return pathVar.split(":").filter((d) => d && !/(^|\/)(node_modules\/\.bin|_npx|node-gyp-bin)(\/|$)/.test(d))
    .join(":");
}

/**
 * How the printed commands start: `deno` when it is on PATH, else the README's own way,
 * `npx -y deno@VERSION` (the demo started with npx on a machine that has only Node).
 */
export function denoCommand(onPath: boolean, version: string): string {
  return onPath ? "deno" : `npx -y deno@${version}`;
}

/** What the demo prints after the banner: the move script, the admin command, de-identification, storescu. */
export function nextSteps(d: {
  deno: string;
  moveScript: string;
  denoJson: string;
  hubData: string;
  projectKey: string;
  north: Site;
}): string {
  return `
Move a study from north to south with the typed client, and wait for it (the script is ${d.moveScript}):
  ${d.deno} run -A --config ${d.denoJson} ${d.moveScript}

Administer the hub while the demo runs (from the repository it finds the demo's data; elsewhere, say where):
  ${d.deno} task hub admin site list --data ${d.hubData}

Add deid: { profile: "basic" } to transfers.create (or tick "Pseudonymize at the source" in the console) to
move it de-identified by north, with the demo's project key (${d.projectKey}, shared by both sites).

Send your own objects to north: storescu -aec ${d.north.aet} 127.0.0.1 ${d.north.dimsePort} FILE...
Ctrl-C stops everything.`;
}

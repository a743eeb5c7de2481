/**
 * `deno task demo` starts a hub and two sites, seeds north, writes demo.json with working URLs and
 * token, moves a study de-identified (the sites share the demo's project key), and stops everything on
 * SIGINT.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createConduitClient } from "../../hub/client/mod.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Runs deno with `args` from the repository, the demo's directory in CONDUIT_DEMO_DIR. */
async function run(args: string[], demoDir: string) {
  const o = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { CONDUIT_DEMO_DIR: demoDir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: o.code,
    stdout: new TextDecoder().decode(o.stdout),
    stderr: new TextDecoder().decode(o.stderr),
  };
}

Deno.test({
  name: "deno task demo serves two seeded sites and stops on Ctrl-C",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "conduit-demo-" });
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--frozen", path.join(ROOT, "deploy/demo.ts")],
      cwd: ROOT,
      env: { CONDUIT_DEMO_DIR: dir },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out: string[] = [];
    const errText = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const deadline = Date.now() + 120_000;
    while (!out.join("").includes("Ctrl-C stops everything") && Date.now() < deadline) {
      const r = await reader.read();
      if (r.done) break;
      out.push(r.value);
    }
    try {
      assert.match(out.join(""), /seeded with 8 studies, 400 objects/);
      // The paths it prints are the demo's folder (CONDUIT_DEMO_DIR), whole, never .demo/.
      const where = dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      assert.match(out.join(""), new RegExp(`data and logs in ${where}/, details in ${where}/demo\\.json`));
      assert.match(out.join(""), new RegExp(`project key \\(${where}/project\\.key,`));
      assert.doesNotMatch(out.join(""), /\.demo\//);
      const demo = JSON.parse(await Deno.readTextFile(path.join(dir, "demo.json")));
      // The move script type-checks: a check of the typed client's whole graph, the longest step here, so it
      // runs while the demo is queried and moves a study (its result is awaited below).
      const script = path.join(dir, "move.ts");
      const config = path.join(ROOT, "deno.json");
      const checking = run(["check", "--config", config, script], dir);
      assert.ok(demo.apiToken && demo.sites.north.dimsePort && demo.sites.south.dimsePort);
      const studies = await (await fetch(`${demo.dicomwebUrl}/sites/north/studies`, {
        headers: { authorization: `Bearer ${demo.apiToken}` },
      })).json();
      assert.equal(studies.length, 8);
      const fed = await fetch(`${demo.dicomwebUrl}/studies`, {
        headers: { authorization: `Bearer ${demo.apiToken}` },
      });
      assert.equal(fed.headers.get("warning"), null, "both sites answered");
      assert.equal((await fed.json()).length, 8);
      // What the demo prints works: a study moved de-identified by north, with the demo's project key.
      const client = createConduitClient({ url: demo.hubUrl, token: demo.apiToken });
      const study = (studies[0]["0020000D"] as { Value: string[] }).Value[0];
      const { id } = await client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south" },
        studies: [study],
        deid: { profile: "basic" },
      });
      let job = await client.transfers.get.query({ id });
      for (let i = 0; i < 600 && !["success", "warning", "failure"].includes(job.status); i++) {
        await new Promise((r) => setTimeout(r, 100));
        job = await client.transfers.get.query({ id });
      }
      assert.equal(job.status, "success", JSON.stringify(job.tasks));
      assert.match(job.tasks[0].pseudonymized?.studyInstanceUid ?? "", /^2\.25\./);

      // The sites' logs are written while the demo runs.
      assert.match(await Deno.readTextFile(path.join(dir, "north.log")), /"msg":"agent started"/);
      assert.match(await Deno.readTextFile(path.join(dir, "south.log")), /"msg":"connected to the hub"/);
      // A PACS at south when Orthanc or storescp is installed, answering the node echo.
      if (demo.pacs) {
        const echo = await client.sites.echo.mutate({ site: "south", node: "pacs" });
        assert.equal(echo.ok, true, "south's PACS answers C-ECHO");
      } else assert.match(out.join(""), /pacs {7}no PACS at south: install Orthanc/);
      // The admin CLI finds the demo's hub data from the repository; the printed command names it.
      const admin = await run(["run", "-A", path.join(ROOT, "hub/main.ts"), "admin", "site", "list"], dir);
      assert.equal(admin.code, 0, admin.stderr);
      assert.match(admin.stdout, /^SITE\tSTATE/m);
      assert.match(admin.stdout, /^north\tonline/m);
      assert.match(out.join(""), new RegExp(`hub admin site list --data \\S*${path.basename(dir)}/hub`));
      // The move script waits for its transfer to end, and type-checks (checked since demo.json was read).
      const moved = await run(["run", "-A", "--config", config, script], dir);
      assert.equal(moved.code, 0, moved.stderr);
      assert.match(moved.stdout, /^transfer \S+: success, \d+ of \d+ objects$/m);
      const checked = await checking;
      assert.equal(checked.code, 0, checked.stderr);
    } finally {
      // Only the clean-up here: an assertion in `finally` would replace the first failure with its own.
      child.kill("SIGINT");
      await child.status;
      reader.cancel().catch(() => {});
    }
    const status = await child.status;
    const printed = out.join("") + await errText;
    assert.equal(status.code, 0, `the demo exited ${status.code} on Ctrl-C:\n${printed.slice(-2000)}`);
    // Nothing a newcomer would take for a problem.
    assert.doesNotMatch(printed, /Ignored build scripts|legacy behavior|Warning/i);
    assert.doesNotMatch(printed, /\bissues? #?\d+/i, "the demo's output names no issue of the tracker");
  },
});

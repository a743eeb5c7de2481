/**
 * docs/api.md's curl session works as written: its shell block, run by bash with `set -euo pipefail`
 * against a hub and two real agents (north holding pydicom's CT_small.dcm), with only the hub's address
 * and the token put in, lists north's study over QIDO-RS, moves it to south with a transfer made and
 * followed over plain tRPC HTTP, and copies it again with WADO-RS then STOW-RS. The documents had no
 * example of the API or of DICOMweb without the typed client.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { fences, readDoc, section } from "../support/markdown.ts";
import { PYDICOM_TEST_FILES_DIR } from "../support/test_files.ts";
import { skipReason } from "../support/peer_tools.ts";
import { storescu } from "../support/send.ts";

const CT = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
function exists(file: string): boolean {
  try {
    return Deno.statSync(file).isFile;
  } catch {
    return false;
  }
}
const skip = skipReason("storescu", "curl", "jq") ||
  (exists(CT) ? false : `needs ${CT} (apt-get install python3-pydicom)`);

Deno.test({
  name: "docs/api.md's curl session lists, transfers and copies a study as it says",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const blocks = fences(section(readDoc("docs/api.md"), "## Without the client: curl"), "sh");
    assert.equal(blocks.length, 1, "one shell block");
    const script = blocks[0].code;
    for (const name of ["HUB", "TOKEN", "STUDY"]) {
      assert.match(script, new RegExp(`^${name}=`, "m"), `the block sets ${name}`);
    }
    const hub = await startTestHub();
    const dir = await Deno.makeTempDir({ prefix: "docs-curl-" });
    const north = await startAgentProcess({ aet: "NORTH", args: await siteArgs(hub, "north") });
    const south = await startAgentProcess({ aet: "SOUTH", args: await siteArgs(hub, "south") });
    try {
      const sent = await storescu([CT], north);
      assert.equal(sent.code, 0, sent.stderr);
      await eventually("both sites online", () => hub.sessions.get("north") && hub.sessions.get("south"));
      const token = (await hub.tokens.create("docs-curl", "operator")).token;
      // Only the values a reader puts in: the hub's address and the token (the study is CT_small's).
      const run = script
        .replace(/^HUB=.*$/m, `HUB=http://127.0.0.1:${hub.port}`)
        .replace(/^TOKEN=.*$/m, `TOKEN=${token}`);
      const out = await new Deno.Command("bash", {
        args: ["-c", `set -euo pipefail\n${run}`],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(120_000),
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, `${stdout}\n${stderr}`);
      const study = /^STUDY=(.*)$/m.exec(script)![1];
      const lines = stdout.trim().split("\n");
      assert.equal(lines[0], study, "QIDO-RS lists north's study");
      assert.equal(lines.at(-2), "true", "the transfer settled");
      assert.equal(lines.at(-1), "1", "STOW-RS stored the one instance");
      const job = (await hub.transfers.list(1))[0];
      assert.equal(job.status, "success");
      const res = await fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/south/studies`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const studies = await res.json() as Record<string, { Value: string[] }>[];
      assert.deepEqual(studies.map((s) => s["0020000D"].Value[0]), [study]);
    } finally {
      await north.stop();
      await south.stop();
      await hub.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

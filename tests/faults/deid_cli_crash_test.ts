/**
 * kill -9 of `agent deid --out DIR`: the hidden files it stages outputs under (`.deid-<pid>-<batch>-<n>.dcm`,
 * agent/deid/staged.ts) are left in DIR, and the next run into DIR removes them and says so.
 *
 * The kill lands at a known moment, not a random one: the first input is a regular file under a write lease
 * (tests/support/lease.ts), so the worker that takes it waits in open(), while the other worker
 * de-identifies the rest, whose outputs stay staged until the first one is placed (outputs are placed in the
 * inputs' order). The test waits for those staged files, then kills, then lets the lease go.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { agentCli } from "../support/agent.ts";
import { eventually } from "../support/hub.ts";
import { type Lease, leaseFile } from "../support/lease.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { DENO_RUN_FLAGS } from "../support/processes.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const hidden = (dir: string) =>
  [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.startsWith("."));

Deno.test({
  name: "agent deid after a kill -9 removes the staged files the killed run left in --out, and says so",
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "deid-kill-" });
    let lease: Lease | undefined;
    try {
      const [inDir, out, key] = [path.join(dir, "in"), path.join(dir, "out"), path.join(dir, "key")];
      await writeGeneratedSeries(inDir, { count: 5, rows: 8, columns: 8, seed: "deid-kill" });
      await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(32)));
      // 1.dcm sorts first: the first output, which the others wait for.
      lease = await leaseFile(path.join(inDir, "1.dcm"));
      const args = ["deid", "--profile", "basic", "--key-file", key, "--in", inDir, "--out", out];
      const run = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", ...DENO_RUN_FLAGS, path.join(ROOT, "agent/main.ts"), ...args, "--jobs", "2"],
        cwd: ROOT,
        stdout: "null",
        stderr: "null",
      }).spawn();
      const left = await eventually(
        "the run to stage the four objects after the held one",
        () => {
          try {
            const names = hidden(out);
            return names.length === 4 ? names : undefined;
          } catch {
            return undefined; // --out not made yet
          }
        },
      );
      run.kill("SIGKILL");
      assert.equal((await run.status).signal, "SIGKILL");
      assert.deepEqual(hidden(out), left, "the killed run's staged files are still there");
      for (const name of left) assert.match(name, new RegExp(`^\\.deid-${run.pid}-[0-9a-f]{8}-[1-4]\\.dcm$`));

      await lease.release();
      const again = await agentCli([...args, "--json"]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /removed 4 unfinished file\(s\) \(\.deid-\*\) an earlier run left in /);
      assert.equal(JSON.parse(again.stdout).done, 5);
      assert.deepEqual(hidden(out), [], "nothing hidden is left");
      const outputs = [...Deno.readDirSync(out)].map((e) => e.name);
      assert.equal(outputs.length, 5, outputs.join(" "));
      for (const name of outputs) assert.match(name, /^2\.25\.\d+\.dcm$/);
    } finally {
      await lease?.release();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

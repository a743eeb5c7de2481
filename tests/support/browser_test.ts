/**
 * The tests' Chromium stays open through a SIGHUP to the test process: `deno test --parallel` runs every test
 * file in one process, and a test that reloads an in-process hub with SIGHUP (tests/ops/tls_reload_test) must
 * not close the browser of a console test running beside it. Run in a process of its own, so that its SIGHUP
 * reaches no other test.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { hasChromium } from "./browser.ts";
import { DENO_RUN_FLAGS } from "./processes.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const skip = hasChromium() ? undefined : "chromium not installed";

Deno.test({
  name: "launchBrowser(): a SIGHUP to the process leaves the browser open",
  ignore: Boolean(skip),
  async fn() {
    // The process's own SIGHUP listener stands for the hub's reload (and keeps the signal from ending it).
    const script = `
      import { launchBrowser } from ${JSON.stringify(path.join(ROOT, "tests/support/browser.ts"))};
      const browser = await launchBrowser();
      const listener = () => console.log("reload");
      Deno.addSignalListener("SIGHUP", listener);
      Deno.kill(Deno.pid, "SIGHUP");
      await new Promise((r) => setTimeout(r, 1500));
      const page = await browser.newPage();
      await page.setContent("<title>still open</title>");
      console.log(await page.title());
      await browser.close();
      Deno.removeSignalListener("SIGHUP", listener);`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--frozen", ...DENO_RUN_FLAGS, script],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `the process failed: ${stderr}`);
    assert.deepEqual(stdout.trim().split("\n"), ["reload", "still open"]);
  },
});

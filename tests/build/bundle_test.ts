/**
 * `deno compile` needs a runtime download that this machine cannot make, so the build falls back to
 * `deno bundle`: the bundle must run as the agent (from another directory) and answer C-ECHO.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { bundleAgent } from "../../deploy/build.ts";
import { freePort, runDcmtk, skipReason, spawnLogged, waitReady } from "../support/peers.ts";

const skip = skipReason("echoscu");

Deno.test({
  name: "bundleAgent() produces a bundle that runs as the agent and answers C-ECHO",
  ignore: !!skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "bundle-" });
    const out = await bundleAgent(path.join(dir, "agent.js"));
    const port = freePort();
    const httpPort = freePort();
    const proc = await spawnLogged("bundle", Deno.execPath(), [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      out,
      "--data",
      path.join(dir, "data"),
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      "--http-port",
      String(httpPort),
    ], dir);
    try {
      await waitReady(proc, "bundled agent", async () => {
        try {
          const r = await fetch(`http://127.0.0.1:${httpPort}/healthz`);
          await r.body?.cancel();
          return r.ok;
        } catch {
          return false;
        }
      }, 30_000);
      const echo = await runDcmtk("echoscu", ["-aec", "CONDUIT", "127.0.0.1", String(port)]);
      assert.equal(echo.code, 0, echo.stderr);
    } finally {
      await proc.stop();
    }
  },
});

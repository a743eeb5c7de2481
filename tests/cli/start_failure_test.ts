/**
 * A program that cannot start says why and ends with a non-zero exit code, so that a supervisor
 * (systemd's `Restart=on-failure`, a container runtime) sees it failed: the hub and the agent with their
 * listening port taken by another process.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../support/processes.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

async function run(main: string, args: string[]) {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--frozen", path.join(ROOT, main), ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  return { code: o.code, out: new TextDecoder().decode(o.stdout) + new TextDecoder().decode(o.stderr) };
}

Deno.test("the hub with its port in use ends with exit code 1 and the reason", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
  const data = await Deno.makeTempDir({ prefix: "hub-port-taken-" });
  try {
    const port = String((taken.addr as Deno.NetAddr).port);
    const { code, out } = await run("hub/main.ts", ["--host", "127.0.0.1", "--port", port, "--data", data]);
    assert.equal(code, 1, out);
    assert.match(out, /"msg":"hub failed".*in use/i);
  } finally {
    taken.close();
    await Deno.remove(data, { recursive: true });
  }
});

Deno.test("the agent with its DICOM port in use ends with exit code 1 and the reason", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
  const data = await Deno.makeTempDir({ prefix: "agent-port-taken-" });
  try {
    const port = String((taken.addr as Deno.NetAddr).port);
    const args = ["--host", "127.0.0.1", "--port", port, "--http-port", String(freePort()), "--data", data];
    const { code, out } = await run("agent/main.ts", args);
    assert.equal(code, 1, out);
    assert.match(out, /in use/i);
  } finally {
    taken.close();
    await Deno.remove(data, { recursive: true });
  }
});

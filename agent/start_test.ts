import assert from "node:assert/strict";
import * as path from "node:path";

/** Runs a script that calls runMain with the given agent part; returns its exit code and stderr+stdout. */
async function runWith(agentPart: string): Promise<{ code: number; out: string }> {
  const dir = await Deno.makeTempDir();
  try {
    const script = path.join(dir, "main.ts");
    await Deno.writeTextFile(
      script,
      `import { runMain } from ${JSON.stringify(new URL("./start.ts", import.meta.url).href)};\n` +
        `await runMain({ agent: ${agentPart}, subcommands: {} });\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--config", new URL("../deno.json", import.meta.url).pathname, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { code: out.code, out: text };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("runMain: a part that cannot be loaded ends the process with exit code 1, logged", async () => {
  const { code, out } = await runWith(`() => Promise.reject(new Error("cannot load the part"))`);
  assert.equal(code, 1, out);
  assert.match(out, /"msg":"failed".*cannot load the part/);
});

Deno.test("runMain: the part's own exit code is the process's", async () => {
  assert.equal((await runWith(`async () => async () => 3`)).code, 3);
  assert.equal((await runWith(`async () => async () => 0`)).code, 0);
});

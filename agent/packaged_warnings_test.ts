import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const MODULE = fileURLToPath(new URL("./packaged_warnings.ts", import.meta.url));

/** Runs code that calls `Buffer()` from the program's own code (as a bundle does), returns its stderr. */
async function stderrOf(silence: boolean, extra = ""): Promise<string> {
  const code = [
    `import { Buffer } from "node:buffer";`,
    `import process from "node:process";`,
    `import { silenceBundledDependencyWarnings } from ${JSON.stringify(MODULE)};`,
    silence ? "silenceBundledDependencyWarnings();" : "",
    "new Buffer(4);",
    extra,
    "await new Promise((r) => setTimeout(r, 50));",
  ].join("\n");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0);
  return new TextDecoder().decode(out.stderr);
}

Deno.test("silenceBundledDependencyWarnings() drops Deno's DEP0005 for Buffer() from the program's own code", async () => {
  assert.match(await stderrOf(false), /DEP0005/); // what a bundled agent printed at its first association
  assert.doesNotMatch(await stderrOf(true), /DEP0005|DeprecationWarning/);
});

Deno.test("silenceBundledDependencyWarnings() leaves every other warning printed", async () => {
  const other = `process.emitWarning("something else", { type: "DeprecationWarning", code: "DEP0999" });`;
  assert.match(await stderrOf(true, other), /DEP0999.*something else/);
});

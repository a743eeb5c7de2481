/**
 * The repository as it is passes `deno lint` and `deno fmt --check`: CI runs the test suite only, and a
 * lint error once sat on main for hours unseen.
 */
import assert from "node:assert/strict";
import * as path from "node:path";

const ROOT = path.resolve(import.meta.dirname!, "../..");

for (const args of [["lint"], ["fmt", "--check"]]) {
  Deno.test(`deno ${args.join(" ")} finds nothing in the repository`, async () => {
    const out = await new Deno.Command(Deno.execPath(), { args, cwd: ROOT, stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text.slice(-4000));
  });
}

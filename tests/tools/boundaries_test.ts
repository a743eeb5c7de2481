import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { violations } from "./boundaries.ts";

function tree(files: Record<string, string>): string {
  const root = Deno.makeTempDirSync({ prefix: "boundaries-" });
  for (const [p, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), text);
  }
  return root;
}

Deno.test("violations() is empty for the repository as it is", () => {
  assert.deepEqual(violations(), []);
});

Deno.test("violations() reports shared importing agent, and agent and hub importing each other", () => {
  const root = tree({
    "shared/a.ts": `import { x } from "../agent/x.ts";\n`,
    "agent/x.ts": `import { y } from "@conduit/hub/y.ts";\nexport const x = 1;\n`,
    "hub/y.ts": `export { x } from "../agent/x.ts";\n`,
    "ui/z.ts":
      `import type { AppRouter } from "@conduit/hub/router.ts";\nimport { h } from "@conduit/hub/h.ts";\n`,
  });
  const found = violations(root);
  assert.equal(found.length, 4, found.join("\n"));
  assert.ok(found.some((f) => f.startsWith("shared/a.ts: shared imports agent")));
  assert.ok(found.some((f) => f.startsWith("agent/x.ts: agent imports hub")));
  assert.ok(found.some((f) => f.startsWith("hub/y.ts: hub imports agent")));
  assert.ok(found.some((f) => f.includes("ui imports hub code")));
});

Deno.test("violations() reports Deno I/O in shared outside tests", () => {
  const root = tree({ "shared/io_test.ts": `Deno.readTextFileSync("x");\n` });
  assert.deepEqual(violations(root), []);
  const root2 = tree({ "shared/io.ts": `export const f = () => Deno.open("x");\n` });
  assert.deepEqual(violations(root2), ["shared/io.ts: shared does Deno I/O"]);
});

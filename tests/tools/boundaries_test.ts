import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { layerViolations, violations } from "./boundaries.ts";

function tree(files: Record<string, string>): string {
  const root = Deno.makeTempDirSync({ prefix: "boundaries-" });
  for (const [p, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), text);
  }
  return root;
}

Deno.test("violations() and layerViolations() are empty for the repository as it is", () => {
  assert.deepEqual(violations(), []);
  assert.deepEqual(layerViolations(), []);
});

Deno.test("layerViolations() reports agent/dimse importing the agent, storage importing the steps above it", () => {
  const root = tree({
    "agent/dimse/scu.ts": `import { a } from "../archive/archive.ts";\nimport { c } from "./codec.ts";\n`,
    "agent/dimse/scu_test.ts": `import { a } from "../archive/archive.ts";\n`,
    "agent/archive/archive.ts": `import { q } from "../queue/queue.ts";\nimport { l } from "./lock.ts";\n`,
    "agent/index/db.ts":
      `import { r } from "../routing/rules.ts";\nimport { p } from "../part10/header.ts";\n`,
    "agent/forward/forwarder.ts":
      `import { a } from "../archive/archive.ts";\nimport { s } from "../dimse/scu.ts";\n`,
  });
  assert.deepEqual(layerViolations(root).sort(), [
    "agent/archive/archive.ts: agent/archive may not import agent/queue (../queue/queue.ts)",
    "agent/dimse/scu.ts: agent/dimse may not import agent/archive (../archive/archive.ts)",
    "agent/index/db.ts: agent/index may not import agent/routing (../routing/rules.ts)",
  ]);
});

Deno.test("layerViolations() keeps _-prefixed files private to their folder", () => {
  const root = tree({
    "agent/dimse/_library.ts": `export const x = 1;\n`,
    "agent/dimse/scu.ts": `import { x } from "./_library.ts";\n`,
    "agent/app.ts": `import { x } from "./dimse/_library.ts";\n`,
    "hub/api/_errors.ts": `export const e = 1;\n`,
    "hub/api/sites.ts": `import { e } from "./_errors.ts";\n`,
    "hub/app.ts": `import { e } from "./api/_errors.ts";\n`,
  });
  assert.deepEqual(layerViolations(root).sort(), [
    "agent/app.ts: imports ./dimse/_library.ts, private to agent/dimse/ (its name starts with _)",
    "hub/app.ts: imports ./api/_errors.ts, private to hub/api/ (its name starts with _)",
  ]);
});

Deno.test("violations() reports shared importing agent, and agent and hub importing each other", () => {
  const root = tree({
    "shared/a.ts": `import { x } from "../agent/x.ts";\n`,
    "agent/x.ts": `import { y } from "@conduit/hub/y.ts";\nexport const x = 1;\n`,
    "hub/y.ts": `export { x } from "../agent/x.ts";\n`,
    "hub/deno.json": JSON.stringify({ exports: { "./api": "./api/mod.ts" } }),
    "ui/z.ts": `import type { AppRouter } from "@conduit/hub/api";\nimport { h } from "@conduit/hub/api";\n`,
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

Deno.test("violations() reports a member reached past its faces or by a relative path", () => {
  const root = tree({
    "shared/deno.json": JSON.stringify({ exports: { "./dicom": "./dicom/mod.ts", "./testing": "./t.ts" } }),
    "hub/deno.json": JSON.stringify({ exports: { "./api": "./api/mod.ts" } }),
    "hub/ok.ts": `import { parse } from "@conduit/shared/dicom";\n`,
    "hub/deep.ts": `import { parse } from "@conduit/shared/dicom/reader.ts";\n`,
    "hub/relative.ts": `import { parse } from "../shared/dicom/reader.ts";\n`,
    "ui/ok.ts": `import type { AppRouter } from "@conduit/hub/api";\n`,
    "ui/deep.ts": `import type { Action } from "@conduit/hub/auth/permissions.ts";\n`,
  });
  assert.deepEqual(violations(root).sort(), [
    "hub/deep.ts: @conduit/shared/dicom/reader.ts is not a face of shared (its faces: @conduit/shared/dicom, " +
    "@conduit/shared/testing)",
    "hub/relative.ts: hub reaches into shared by a relative path (../shared/dicom/reader.ts); import one of its " +
    "faces, @conduit/shared/...",
    "ui/deep.ts: @conduit/hub/auth/permissions.ts is not a face of hub (its faces: @conduit/hub/api)",
  ]);
});

Deno.test("violations() reports runtime code importing the test generator, not tests or testing.ts", () => {
  const root = tree({
    "shared/deno.json": JSON.stringify({ exports: { "./testing": "./testing/generate.ts" } }),
    "agent/index/testing.ts": `import { generateInstance } from "@conduit/shared/testing";\n`,
    "agent/query/find_test.ts": `import { generateInstance } from "@conduit/shared/testing";\n`,
    "agent/query/find.ts": `import { generateInstance } from "@conduit/shared/testing";\n`,
  });
  assert.deepEqual(violations(root), [
    "agent/query/find.ts: runtime code imports the test generator (@conduit/shared/testing); only tests and " +
    "testing.ts may",
  ]);
});

Deno.test("violations() counts node:fs as I/O in shared, outside tests", () => {
  const root = tree({
    "shared/files.ts": `import * as fs from "node:fs";\n`,
    "shared/later.ts": `export const f = () => import("node:fs/promises");\n`,
    "shared/files_test.ts": `import * as fs from "node:fs";\n`,
  });
  assert.deepEqual(violations(root).sort(), [
    "shared/files.ts: shared does I/O (node:fs)",
    "shared/later.ts: shared does I/O (node:fs)",
  ]);
});

import assert from "node:assert/strict";
import { LazyPartError, loadPart } from "./lazy_part.ts";

Deno.test("loadPart() hands back the loaded module", async () => {
  const m = await loadPart("the version", () => import("./version.ts"));
  assert.equal(typeof m.VERSION, "string");
});

Deno.test("loadPart() names the part and the reason when a module cannot be loaded", async () => {
  const missing = new URL("./no_such_part.ts", import.meta.url).href; // computed: not in the graph
  const err = await loadPart("the retrieve query", () => import(missing)).then(
    () => assert.fail("a missing module loaded"),
    (e) => e,
  );
  assert.ok(err instanceof LazyPartError);
  assert.equal(err.name, "LazyPartError");
  assert.match(err.message, /^the retrieve query could not be loaded: .*no_such_part\.ts/);
  assert.ok(err.cause instanceof Error);
});

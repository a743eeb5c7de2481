import assert from "node:assert/strict";
import { LazyPartError, type LazyParts, loadPart, usePackagedParts } from "./lazy_part.ts";
import { PACKAGED_PARTS } from "./lazy_parts_packaged.ts";

Deno.test("loadPart() loads from source the very module the packaged entry imports, for every part", async () => {
  // A part whose computed URL and literal specifier differ would load from source and fail only in a
  // built agent (or the reverse).
  const names = Object.keys(PACKAGED_PARTS) as (keyof LazyParts)[];
  assert.ok(names.length >= 19, names.join(" "));
  for (const name of names) {
    assert.equal(await loadPart(name), await PACKAGED_PARTS[name](), name);
  }
});

Deno.test("loadPart() imports by the packaged table once it is installed", async () => {
  let asked = "";
  const table = Object.fromEntries(
    Object.entries(PACKAGED_PARTS).map(([name, load]) => [name, () => (asked = name, load())]),
  ) as typeof PACKAGED_PARTS;
  usePackagedParts(table);
  try {
    assert.equal(await loadPart("nodes/get_plan"), await import("./nodes/get_plan.ts"));
    assert.equal(asked, "nodes/get_plan");
  } finally {
    usePackagedParts(undefined);
  }
});

Deno.test("loadPart() names the part and the reason when it cannot be loaded", async () => {
  const err = await loadPart("no/such_part" as keyof LazyParts).then(
    () => assert.fail("a missing part loaded"),
    (e) => e,
  );
  assert.ok(err instanceof LazyPartError);
  assert.equal(err.name, "LazyPartError");
  assert.match(err.message, /^agent\/no\/such_part\.ts could not be loaded: .*no\/such_part\.ts/);
  assert.ok(err.cause instanceof Error);
});

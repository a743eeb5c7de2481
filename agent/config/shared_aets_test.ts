import assert from "node:assert/strict";
import { sharedAetText, sharedNodeAets } from "./shared_aets.ts";

Deno.test("sharedNodeAets() lists the AE titles two nodes or more share, in configuration order", () => {
  assert.deepEqual(sharedNodeAets({}), []);
  assert.deepEqual(sharedNodeAets({ a: { aet: "PACS" }, b: { aet: "OTHER" } }), []);
  const shared = sharedNodeAets({ a: { aet: "PACS" }, b: { aet: "OTHER" }, c: { aet: "PACS" } });
  assert.deepEqual(shared, [{ aet: "PACS", nodes: ["a", "c"] }]);
  assert.equal(
    sharedAetText(shared[0]),
    "nodes a, c share the AE title PACS: a C-MOVE to PACS goes to a (the first configured)",
  );
});

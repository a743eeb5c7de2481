/**
 * Byte-exact through the hub by a route's relay, for every shipped test file storescu sends in its own syntax
 * (tests/support/exact_files.ts): north's route sends each object it archives to south's PACS through the
 * hub, and south's archive and its PACS (`storescp --bit-preserving`) get it in its stored syntax with the
 * same data set (the route asks no de-identification). Only the File Meta group may differ.
 */
import assert from "node:assert/strict";
import { skip } from "../transfers/_rig.ts";
import { tunnelBatches } from "../transfers/_exact.ts";

if (skip) console.warn(`relay_exact_test: skipped: ${skip}`);

Deno.test({
  name: "a route relays every test file north archives to south and its PACS with its data set unchanged",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const options = { northRoutes: [{ name: "all", to: [{ site: "south", node: "pacs" }] }] };
    const { failures, compared } = await tunnelBatches(options, "relay", () => Promise.resolve([]));
    console.log(`compared ${compared} objects`);
    assert.deepEqual(failures, []);
    assert.ok(compared >= 90, `only ${compared} objects compared`);
  },
});

import assert from "node:assert/strict";
import { connectionsThatFit, parseNofile, PER_CONNECTION, readNofile, RESERVE } from "./descriptors.ts";
import { descriptorCheck } from "./check/local.ts";
import { configSchema } from "./config/schema.ts";

Deno.test("parseNofile() reads the soft and hard open files limit of /proc/<pid>/limits", () => {
  const limits = "Limit                     Soft Limit           Hard Limit           Units\n" +
    "Max cpu time              unlimited            unlimited            seconds\n" +
    "Max open files            1024                 524288               files\n";
  assert.deepEqual(parseNofile(limits), { soft: 1024, hard: 524288 });
  assert.equal(parseNofile("Max processes 1 1 processes\n"), undefined);
  assert.ok(readNofile()!.soft > 0, "this process's own");
});

Deno.test("connectionsThatFit() keeps the reserve free and never says none", () => {
  assert.equal(connectionsThatFit(1024, 60), Math.floor((1024 - 60 - RESERVE) / PER_CONNECTION));
  assert.equal(connectionsThatFit(70, 60), 1);
});

Deno.test("descriptorCheck() warns when dimse.maxAssociations does not fit the descriptor limit", () => {
  const config = configSchema.parse({ dimse: { maxAssociations: 200 } });
  const low = descriptorCheck(config, { soft: 256, hard: 256 })!;
  assert.equal(low.status, "warn");
  assert.match(low.detail, /dimse\.maxAssociations is 200: the agent takes no more than \d+ at once/);
  assert.equal(descriptorCheck(config, { soft: 65536, hard: 65536 })!.status, "ok");
});

import assert from "node:assert/strict";
import { applies, configChanges } from "./reload.ts";
import { configSchema } from "./schema.ts";

const config = (raw: Record<string, unknown>) => configSchema.parse(raw);
const pacs = { aet: "PACS", host: "10.0.0.5", port: 104 };

Deno.test("configChanges() names nodes added, removed and changed, and keeps the unchanged ones' objects", () => {
  const current = config({ nodes: { pacs, old: pacs, moved: pacs } });
  const next = config({ nodes: { pacs, moved: { ...pacs, port: 105 }, added: pacs } });
  const c = configChanges(current, next);
  assert.deepEqual(c.nodes, { added: ["added"], removed: ["old"], changed: ["moved"] });
  assert.equal(c.nextNodes.pacs, current.nodes.pacs, "an unchanged node keeps the object in force");
  assert.equal(c.nextNodes.moved, next.nodes.moved);
  assert.deepEqual(Object.keys(c.nextNodes).sort(), ["added", "moved", "pacs"]);
  assert.equal(c.routes, false);
  assert.deepEqual(c.atRestart, []);
  assert.ok(applies(c));
});

Deno.test("configChanges() sees routes and allowed calling AE titles change, applying nothing else", () => {
  const current = config({ nodes: { pacs }, routes: [{ name: "all", to: [{ node: "pacs" }] }] });
  const next = config({
    nodes: { pacs },
    routes: [{ name: "all", match: { modality: ["CT"] }, to: [{ node: "pacs" }] }],
    dimse: { allowedCallingAets: ["CT1"] },
  });
  const c = configChanges(current, next);
  assert.equal(c.routes, true);
  assert.equal(c.allowedCallingAets, true);
  assert.deepEqual(c.atRestart, []);
  assert.equal(applies(configChanges(current, current)), false);
});

Deno.test("configChanges() lists the keys that only a restart applies", () => {
  const current = config({ dimse: { port: 11112 }, queue: { concurrency: 2 }, site: "north" });
  const next = config({
    dimse: { port: 11113, allowedCallingAets: ["A"] },
    queue: { concurrency: 4 },
    site: "south",
    hub: { url: "wss://hub.example.org/tunnel" },
  });
  const c = configChanges(current, next);
  assert.deepEqual(c.atRestart, ["dimse.port", "hub.url", "queue.concurrency", "site"]);
  assert.equal(c.allowedCallingAets, true);
  assert.equal(applies({ ...c, allowedCallingAets: false }), false, "restart keys alone apply nothing");
});

Deno.test("configChanges() applies a new log level, and nothing waits for a restart for it", () => {
  const c = configChanges(config({}), config({ log: { level: "debug" } }));
  assert.equal(c.logLevel, true);
  assert.deepEqual(c.atRestart, []);
  assert.ok(applies(c));
  assert.equal(
    configChanges(config({}), config({ log: { level: "info" } })).logLevel,
    false,
    "info is the default",
  );
});

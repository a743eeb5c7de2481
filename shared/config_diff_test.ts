import assert from "node:assert/strict";
import { differing, RestartNotices, sameValue } from "./config_diff.ts";

Deno.test("differing() names the dotted keys that differ, down to its depth", () => {
  const a = {
    port: 1,
    log: { level: "info" },
    tunnel: { relays: { north: ["south"] }, heartbeatSeconds: 5 },
  };
  const b = { port: 2, log: { level: "info" }, tunnel: { relays: { north: ["east"] }, heartbeatSeconds: 5 } };
  assert.deepEqual(differing(a, b, "", 2), ["port", "tunnel.relays"]);
  assert.deepEqual(differing(a, b, "", 1), ["port", "tunnel"]);
  assert.deepEqual(differing(a, a, "", 2), []);
});

Deno.test("differing() names a key that came or went", () => {
  assert.deepEqual(differing({ tls: { certFile: "a" } }, {}, "", 2), ["tls"]);
  assert.deepEqual(differing({ metrics: {} }, { metrics: { port: 9 } }, "", 2), ["metrics.port"]);
});

Deno.test("sameValue() compares plain data by value", () => {
  assert.equal(sameValue({ a: [1, 2] }, { a: [1, 2] }), true);
  assert.equal(sameValue({ a: [1, 2] }, { a: [2, 1] }), false);
});

Deno.test("RestartNotices says a key waiting for a restart once per value the file gives it", () => {
  const notices = new RestartNotices();
  const running = { port: 1, data: "a" };
  const say = (file: typeof running) => notices.toSay(differing(running, file, "", 2), file);
  assert.deepEqual(say({ port: 2, data: "a" }), ["port"]);
  assert.deepEqual(say({ port: 2, data: "a" }), [], "the same file again");
  assert.deepEqual(say({ port: 2, data: "b" }), ["data"], "only the key changed since");
  assert.deepEqual(say({ port: 3, data: "b" }), ["port"]);
  assert.deepEqual(say({ port: 1, data: "a" }), [], "put back: nothing waits");
  assert.deepEqual(say({ port: 3, data: "a" }), ["port"], "changed again after that: said again");
});

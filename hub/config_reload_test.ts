import assert from "node:assert/strict";
import { hubConfigSchema } from "./config.ts";
import { hubConfigChanges } from "./config_reload.ts";

const config = (raw: Record<string, unknown>) => hubConfigSchema.parse(raw);

Deno.test("hubConfigChanges() applies log.level, CORS, relays and the STOW limits, and nothing waits for them", () => {
  const current = config({ tunnel: { relays: { north: ["south"] } } });
  const next = config({
    log: { level: "debug" },
    dicomweb: {
      cors: { origins: ["https://viewer.example"], maxAgeSeconds: 60 },
      maxStowMegabytes: 10,
      stowIdleSeconds: 5,
    },
    tunnel: { relays: { north: ["south", "east"] } },
  });
  const c = hubConfigChanges(current, next);
  assert.deepEqual(c.applied, [
    "log.level",
    "dicomweb.cors.origins",
    "dicomweb.cors.maxAgeSeconds",
    "tunnel.relays",
    "dicomweb.maxStowMegabytes",
    "dicomweb.stowIdleSeconds",
  ]);
  assert.deepEqual(c.atRestart, []);
});

Deno.test("hubConfigChanges() sees relays set, and removed, as a change", () => {
  const open = config({});
  const closed = config({ tunnel: { relays: { north: [] } } });
  assert.deepEqual(hubConfigChanges(open, closed).applied, ["tunnel.relays"]);
  assert.deepEqual(hubConfigChanges(closed, open).applied, ["tunnel.relays"]);
});

Deno.test("hubConfigChanges() lists the keys that only a restart applies", () => {
  const current = config({ tls: { certFile: "a.pem", keyFile: "a.key" } });
  const next = config({
    port: 9090,
    data: "/srv/hub",
    tls: { certFile: "b.pem", keyFile: "a.key" },
    dicomweb: { stallSeconds: 30, cors: { origins: ["*"] } },
    tunnel: { heartbeatSeconds: 2 },
    metrics: { port: 9100 },
  });
  const c = hubConfigChanges(current, next);
  assert.deepEqual(c.applied, ["dicomweb.cors.origins"]);
  assert.deepEqual(c.atRestart, [
    "data",
    "dicomweb.stallSeconds",
    "metrics.port",
    "port",
    "tls.certFile",
    "tunnel.heartbeatSeconds",
  ]);
});

Deno.test("hubConfigChanges() finds nothing in the same configuration", () => {
  const c = config({ dicomweb: { cors: { origins: ["https://a.example"] } }, log: { level: "warn" } });
  assert.deepEqual(hubConfigChanges(c, config({ ...c })), { applied: [], atRestart: [] });
});

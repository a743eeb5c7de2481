import assert from "node:assert/strict";
import { ConfigError } from "@conduit/shared/config";
import { Logger } from "@conduit/shared/log";
import { RestartNotices } from "@conduit/shared/config-diff";
import { hubConfigSchema } from "./config.ts";
import { HUB_CONFIG_RELOAD_MESSAGES as MESSAGES, type HubReloadTarget, reloadHubConfig } from "./reload.ts";

/** A hub that records what a reload asked of it, logging through `log`. */
function target(log: Logger, raw: Record<string, unknown> = {}) {
  const calls: string[] = [];
  const hub: HubReloadTarget = {
    config: hubConfigSchema.parse(raw),
    setLogLevel: (level) => (calls.push(`level ${level}`), log.setLevel(level)),
    setCors: (cors) => calls.push(`cors ${cors.origins.join(",")}`),
    setRelays: (relays) => calls.push(`relays ${JSON.stringify(relays)}`),
    setMaxStowMegabytes: (mb) => calls.push(`stow ${mb}`),
    setStowIdleSeconds: (s) => calls.push(`stow idle ${s}`),
    restartNotices: new RestartNotices(),
  };
  return { hub, calls };
}

function capture() {
  const lines: Record<string, unknown>[] = [];
  return { lines, log: new Logger({}, "info", { write: (l) => lines.push(JSON.parse(l)) }) };
}

Deno.test("reloadHubConfig() changes nothing when the file does not load, and says why", () => {
  const { lines, log } = capture();
  const { hub, calls } = target(log, { dicomweb: { cors: { origins: ["https://a.example"] } } });
  const ok = reloadHubConfig(hub, () => {
    throw new ConfigError("config: tunnel.relayz: unknown key (hub.yaml, line 3)");
  }, log);
  assert.equal(ok, false);
  assert.deepEqual(calls, []);
  assert.deepEqual(hub.config.dicomweb.cors.origins, ["https://a.example"]);
  assert.deepEqual(lines.map((l) => [l.level, l.msg, l.reason]), [
    ["error", MESSAGES.kept, "config: tunnel.relayz: unknown key (hub.yaml, line 3)"],
  ]);
});

Deno.test("reloadHubConfig() applies what changed, and says so before a higher log level hides it", () => {
  const { lines, log } = capture();
  const { hub, calls } = target(log);
  const next = hubConfigSchema.parse({
    log: { level: "warn" },
    tunnel: { relays: { north: ["south"] } },
    port: 9,
  });
  assert.equal(reloadHubConfig(hub, () => next, log), true);
  assert.deepEqual(calls, ['relays {"north":["south"]}', "level warn"]);
  assert.deepEqual(hub.config.tunnel.relays, { north: ["south"] });
  assert.equal(hub.config.port, 8080, "a restart-only key is not applied");
  assert.deepEqual(lines.map((l) => l.msg), [MESSAGES.atRestart, MESSAGES.reloaded]);
  assert.deepEqual(lines[0].settings, ["port"]);
  assert.deepEqual(lines[1].settings, ["log.level", "tunnel.relays"]);
  // Then the level holds: an info line is no longer written.
  log.info("after");
  assert.equal(lines.length, 2);
});

Deno.test("reloadHubConfig() applies nothing to the same file", () => {
  const { lines, log } = capture();
  const { hub, calls } = target(log);
  assert.equal(reloadHubConfig(hub, () => hubConfigSchema.parse({}), log), true);
  assert.deepEqual(calls, []);
  assert.deepEqual(lines.map((l) => l.msg), [MESSAGES.unchanged]);
});

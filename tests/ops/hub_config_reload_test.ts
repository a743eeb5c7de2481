/**
 * The hub's settings changed without a restart: the real hub as a process started with `--config FILE`, two
 * real agents connected through it (north routes to south's storescp), the file rewritten and SIGHUP. A CORS
 * origin added is allowed on the next preflight, a relay the policy refused goes once the policy lists it,
 * the STOW-RS limits (size; idle client, an upload under way keeping its own) and the log level apply at once, while both tunnels stay up (no second `site connected`);
 * a key only a restart applies is logged as such, once per value the file gives it; a file that does not validate changes nothing; a hub started
 * without a file says there is none to read again.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { stringify } from "yaml";
import { HUB_CONFIG_RELOAD_MESSAGES as MESSAGES } from "../../hub/reload.ts";
import { type AgentProcess, indexRows, listFiles, startAgentProcess } from "../support/agent.ts";
import { eventually, hubAdmin, type HubProcess, startHubProcess } from "../support/hub.ts";
import { freePort, scratchDir, skipReason, startStorescp, startTogether } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { partHead, startUpload, statusOf } from "../support/stow_upload.ts";

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`hub_config_reload_test: skipped: ${skip}`);

type Line = Record<string, unknown>;
const ALLOWED = "https://viewer.example";
const OTHER = "https://other.example";

const hubLines = async (hub: HubProcess): Promise<Line[]> =>
  (await Deno.readTextFile(hub.logFile)).split("\n").filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Line);

/**
 * Writes the hub's file (`config` as YAML, or a text as it is), sends SIGHUP and resolves with the lines of
 * `part: config` the reload wrote, once its outcome is among them.
 */
async function reload(
  hub: HubProcess,
  file: string,
  config: Record<string, unknown> | string,
): Promise<Line[]> {
  const before = (await hubLines(hub)).length;
  await Deno.writeTextFile(file, typeof config === "string" ? config : stringify(config));
  Deno.kill(hub.pid, "SIGHUP");
  return await eventually("the reload's outcome", async () => {
    const added = (await hubLines(hub)).slice(before).filter((l) => l.part === "config");
    return added.some((l) => l.msg !== MESSAGES.atRestart) ? added : undefined;
  });
}

/** The STOW-RS parts the hub is spooling. */
async function spooled(hub: HubProcess): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(path.join(hub.dataDir, "spool"))) names.push(e.name);
  return names;
}

/** A CORS preflight of a GET of /dicomweb/studies from `origin`: its status and headers. */
async function preflight(hub: HubProcess, origin: string): Promise<{ status: number; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${hub.port}/dicomweb/studies`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "GET",
      "access-control-request-headers": "authorization",
    },
  });
  await res.body?.cancel();
  return { status: res.status, headers: res.headers };
}
const allowedOrigin = async (hub: HubProcess, origin: string) =>
  (await preflight(hub, origin)).headers.get("access-control-allow-origin");

async function enroll(hub: HubProcess, site: string): Promise<string[]> {
  const added = await hubAdmin(hub.dataDir, ["site", "add", site, "--json"]);
  assert.equal(added.code, 0, added.stderr);
  return ["--site", site, "--hub", hub.tunnelUrl, "--enroll", String(added.json!.enrollmentToken)];
}

Deno.test({
  name: "hub: SIGHUP applies CORS origins, relays, the STOW limits and log level with the tunnels left up",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("conduit-hub-config-reload-");
    const file = path.join(dir, "hub.yaml");
    const first = { tunnel: { relays: { north: [] } } };
    await Deno.writeTextFile(file, stringify(first));
    const [hub, pacs] = await startTogether([
      startHubProcess({ args: ["--config", file] }),
      startStorescp({ aet: "PACS", dir: path.join(dir, "pacs") }),
    ]);
    const agents: AgentProcess[] = [];
    try {
      const queue = { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 50 };
      const [southArgs, northArgs, token] = await Promise.all([
        enroll(hub, "south"),
        enroll(hub, "north"),
        hubAdmin(hub.dataDir, ["token", "create", "stow", "--role", "operator", "--json"]),
      ]);
      const [south, north] = await startTogether([
        startAgentProcess({
          aet: "SOUTH",
          port: freePort(),
          config: { queue, nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port } } },
          args: southArgs,
        }),
        startAgentProcess({
          aet: "NORTH",
          config: { queue, routes: [{ name: "to-south", to: [{ site: "south", node: "pacs" }] }] },
          args: northArgs,
        }),
      ]);
      agents.push(south, north);
      const connected = async () => (await hubLines(hub)).filter((l) => l.msg === "site connected").length;
      await eventually("both sites connected", async () => await connected() === 2);
      const routeRows = () =>
        indexRows(north.dataDir, "SELECT state, last_error FROM queue WHERE route = ?", "to-south");

      // Before: north may relay nowhere, and no origin may use the DICOMweb.
      const refused = await writeGeneratedSeries(path.join(dir, "refused"), {
        count: 1,
        rows: 16,
        columns: 16,
      });
      assert.equal((await storescu(refused.paths, north)).code, 0);
      const dead = await eventually(
        "the refused row dead",
        () => routeRows().find((r) => r.state === "dead"),
      );
      assert.match(String(dead.last_error), /site north may not relay to site south/);
      assert.equal(await allowedOrigin(hub, ALLOWED), null);

      // The policy, the origins, the STOW limit and the level changed, and one key only a restart applies.
      const second = {
        log: { level: "debug" },
        dicomweb: {
          maxStowMegabytes: 1,
          stowIdleSeconds: 3,
          cors: { origins: [ALLOWED], maxAgeSeconds: 30 },
        },
        tunnel: { relays: { north: ["south"] }, heartbeatSeconds: 2 },
      };
      const lines = await reload(hub, file, second);
      const done = lines.find((l) => l.msg === MESSAGES.reloaded);
      assert.ok(done, JSON.stringify(lines));
      assert.deepEqual(done.settings, [
        "log.level",
        "dicomweb.cors.origins",
        "dicomweb.cors.maxAgeSeconds",
        "tunnel.relays",
        "dicomweb.maxStowMegabytes",
        "dicomweb.stowIdleSeconds",
      ]);
      assert.deepEqual(done.relays, { north: ["south"] });
      assert.deepEqual(lines.find((l) => l.msg === MESSAGES.atRestart)?.settings, [
        "tunnel.heartbeatSeconds",
      ]);
      // The TLS reload still follows (this hub has nothing to reload).
      await eventually(
        "the TLS reload after it",
        async () =>
          (await hubLines(hub)).some((l) => String(l.msg).startsWith("TLS reload asked: nothing to reload")),
      );

      // The next preflight takes the new origins and max age; another origin is refused, at debug now.
      const allowed = await preflight(hub, ALLOWED);
      assert.equal(allowed.status, 204);
      assert.equal(allowed.headers.get("access-control-allow-origin"), ALLOWED);
      assert.equal(allowed.headers.get("access-control-max-age"), "30");
      assert.equal((await preflight(hub, OTHER)).status, 403);
      await eventually(
        "the refused preflight's debug line",
        async () =>
          (await hubLines(hub)).some((l) =>
            l.level === "debug" && String(l.msg).startsWith("CORS preflight refused")
          ),
      );

      // The next STOW-RS is held to 1 MB, and dropped (408) once its client is silent for 3 s (not 60).
      const silentUpload = () =>
        startUpload(
          hub.port,
          String(token.json!.token),
          900 * 1024,
          new Uint8Array([...partHead(), 1, 2]),
          "south",
        );
      assert.equal(await statusOf(await silentUpload(), 20_000), 408);
      const stow = await fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/south/studies`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${token.json!.token}`,
          "content-type": 'multipart/related; type="application/dicom"; boundary=b',
        },
        body: new Uint8Array(2 * 1024 * 1024),
      });
      assert.equal(stow.status, 413);
      assert.match(await stow.text(), /larger than dicomweb\.maxStowMegabytes \(1048576 bytes\)/);

      // The next relay is judged by the new policy: north's object reaches south's PACS.
      const allowedSeries = await writeGeneratedSeries(path.join(dir, "allowed"), {
        count: 2,
        rows: 16,
        columns: 16,
        seed: "hub-config-reload",
      });
      assert.equal((await storescu(allowedSeries.paths, north)).code, 0);
      await eventually(
        "the objects at south's PACS",
        async () => (await listFiles(pacs.dir)).length === 2,
        30_000,
      );

      // A file that does not validate changes nothing, not even its valid parts (the origins emptied).
      const bad = await reload(hub, file, {
        ...second,
        dicomweb: { cors: { origins: [] } },
        tunnel: { relayz: {} },
      });
      const kept = bad.find((l) => l.msg === MESSAGES.kept);
      assert.ok(kept, JSON.stringify(bad));
      assert.match(String(kept.reason), /tunnel\.relayz: unknown key/);
      assert.equal(await allowedOrigin(hub, ALLOWED), ALLOWED);
      const notYaml = await reload(hub, file, "log: [\n");
      assert.match(String(notYaml.find((l) => l.msg === MESSAGES.kept)?.reason), /is not valid YAML/);

      // The same file again: nothing to apply, and the restart-only key, said once, is not said again; given
      // another value it is.
      const same = await reload(hub, file, second);
      assert.ok(same.some((l) => l.msg === MESSAGES.unchanged), JSON.stringify(same));
      assert.equal(same.find((l) => l.msg === MESSAGES.atRestart), undefined, JSON.stringify(same));
      // A silent upload under way when the idle bound goes up keeps the one it started with.
      const underWay = await silentUpload();
      await eventually("its part spooled", async () => (await spooled(hub)).length === 1 || undefined);
      const third = {
        ...second,
        dicomweb: { ...second.dicomweb, stowIdleSeconds: 30 },
        tunnel: { ...second.tunnel, heartbeatSeconds: 3 },
      };
      const again = await reload(hub, file, third);
      assert.deepEqual(again.find((l) => l.msg === MESSAGES.atRestart)?.settings, [
        "tunnel.heartbeatSeconds",
      ]);
      assert.deepEqual(again.find((l) => l.msg === MESSAGES.reloaded)?.settings, [
        "dicomweb.stowIdleSeconds",
      ]);
      assert.equal((await spooled(hub)).length, 1, "the upload was still under way at the reload");
      assert.equal(await statusOf(underWay, 20_000), 408);

      // Through it all both tunnels stayed up: no site connected again, no session ended.
      const all = await hubLines(hub);
      assert.equal(all.filter((l) => l.msg === "site connected").length, 2);
      assert.equal(all.filter((l) => l.msg === "site session ended").length, 0);
    } finally {
      for (const a of agents) await a.stop();
      await pacs.stop();
      await hub.stop();
    }
  },
});

Deno.test({
  name: "hub: SIGHUP on a hub started without a configuration file says there is none to read again",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startHubProcess();
    try {
      Deno.kill(hub.pid, "SIGHUP");
      const line = await eventually(
        "the reload's line",
        async () => (await hubLines(hub)).find((l) => l.part === "config"),
      );
      assert.equal(line.msg, MESSAGES.noFile);
      await eventually(
        "the TLS reload after it",
        async () =>
          (await hubLines(hub)).some((l) => String(l.msg).startsWith("TLS reload asked: nothing to reload")),
      );
    } finally {
      await hub.stop();
    }
  },
});

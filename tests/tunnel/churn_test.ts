/**
 * No leak under churn through the hub: DICOMweb clients that go away in the middle of a WADO-RS study or of
 * a STOW-RS body, tunnels cut by the network (in the middle of a retrieval too) or by a killed agent and made
 * again, and WebSocket upgrades that are refused or never say hello leave the hub's and the agent's file
 * descriptors and sockets as they were, and no stream open in the tunnel at either end (`conduit_hub_tunnel_streams`,
 * `conduit_agent_tunnel_streams`).
 */
import assert from "node:assert/strict";
import { type Held, held, skipReason } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, hubAdmin, type HubProcess, startHubProcess } from "../support/hub.ts";
import { startProxy } from "../support/tcp_proxy.ts";
import { agentMetric } from "../support/faults.ts";
import { Reason } from "@conduit/shared/tunnel";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { testOnPostgres } from "../support/postgres.ts";
import { sharedRig } from "../support/shared_rig.ts";

const skip = skipReason("storescu") || skipReason("curl");
if (skip) console.warn(`tunnel churn_test: skipped: ${skip}`);

const HUB_RECONNECT = { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 0.5 };

/** The hub of the file's tests, an API token for it, and the enrollment token of each test's site. */
interface ChurnHub {
  hub: HubProcess;
  token: string;
  enroll: Record<string, string>;
}

/**
 * One hub for the file's tests (tests/support/shared_rig.ts), each test's agent on a site of its own (`north`,
 * `south`), both sites added at the start; each test waits until its own agent is the one session. A WebSocket
 * that says no hello is closed after 4 s (`tunnel.helloTimeoutSeconds`, 10 by default): the agents' own hellos,
 * sent at once, keep a margin of seconds on a loaded machine.
 */
async function hubWithSites(): Promise<ChurnHub> {
  const config = await Deno.makeTempFile({ prefix: "churn-hub-", suffix: ".yaml" });
  await Deno.writeTextFile(config, "tunnel:\n  helloTimeoutSeconds: 4\n");
  const hub = await startHubProcess({ args: ["--config", config] });
  try {
    const admin = (args: string[]) => hubAdmin(hub.dataDir, [...args, "--json"]);
    // The commands run together (each a process of its own, about a second).
    const [made, north, south] = await Promise.all([
      admin(["token", "create", "t", "--role", "operator"]),
      admin(["site", "add", "north"]),
      admin(["site", "add", "south"]),
    ]);
    const token = String(made.json!.token);
    const enroll = { north: String(north.json!.enrollmentToken), south: String(south.json!.enrollmentToken) };
    return { hub, token, enroll };
  } catch (err) {
    await hub.stop();
    throw err;
  }
}

const shared = sharedRig<ChurnHub>({ skip, setUp: hubWithSites, stop: ({ hub }) => hub.stop() });

async function hubMetric(hub: HubProcess, token: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${hub.port}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  })).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** The sessions the hub holds now (its /healthz). */
async function sitesOnline(hub: HubProcess): Promise<number> {
  return (await (await fetch(`http://127.0.0.1:${hub.port}/healthz`)).json()).sites;
}

/**
 * A hub on PostgreSQL (`deno task test:pg`) may hold more connections of its pool after the churn than before
 * it (postgres.js opens them on demand, up to 10, and keeps them): those sockets are not the churn's.
 */
const POOL = testOnPostgres() ? 10 : 0;

/** Within `tolerance` more descriptors than `before`, and no more sockets (but a hub's pool's, `slack`). */
const near = (now: Held, before: Held, tolerance = 2, slack = 0) =>
  now.fds <= before.fds + tolerance + slack && now.sockets <= before.sockets + slack;

/**
 * Waits until the hub holds one session and no tunnel stream, and (with `before`) the hub's and the agent's
 * descriptors are back near where they were; returns the counts.
 */
async function settled(
  hub: HubProcess,
  token: string,
  agent: AgentProcess,
  before?: { hub: Held; agent: Held },
): Promise<{ hub: Held; agent: Held }> {
  let now: { hub: Held; agent: Held; streams?: number; agentStreams?: number; sites?: number } | undefined;
  try {
    return await eventually("hub and agent to settle", async () => {
      const streams = await hubMetric(hub, token, "conduit_hub_tunnel_streams");
      const agentStreams = await agentMetric(agent, "conduit_agent_tunnel_streams");
      const sites = await sitesOnline(hub);
      now = { hub: held(hub.pid), agent: held(agent.pid), streams, agentStreams, sites };
      if (streams !== 0 || agentStreams !== 0 || sites !== 1) return undefined;
      if (before && !(near(now.hub, before.hub, 2, POOL) && near(now.agent, before.agent))) return undefined;
      return { hub: now.hub, agent: now.agent };
    }, 25_000);
  } catch (err) {
    throw new Error(
      `${(err as Error).message}: now ${JSON.stringify(now)}, before ${JSON.stringify(before)}`,
    );
  }
}

/** A WADO-RS client killed after `bytes` bytes of the study (curl piped into head: a real disconnect). */
async function wadoCutAfter(url: string, token: string, bytes: number): Promise<void> {
  const accept = 'multipart/related; type="application/dicom"; transfer-syntax=*';
  await new Deno.Command("bash", {
    args: ["-c", `curl -s -N -H "$AUTH" -H "$ACCEPT" "$URL" | head -c ${bytes} > /dev/null`],
    env: { AUTH: `authorization: Bearer ${token}`, ACCEPT: `accept: ${accept}`, URL: url },
  }).output();
}

/**
 * A WADO-RS client reading slowly (curl --limit-rate), running until the study ends or it is killed. The
 * study must be larger than what the kernel's buffers between hub and client take in (some 10 MB), or the
 * tunnel stream has ended before the client has read much.
 */
function slowWado(url: string, token: string): Deno.ChildProcess {
  const accept = 'multipart/related; type="application/dicom"; transfer-syntax=*';
  return new Deno.Command("curl", {
    args: [
      "-s",
      "-N",
      "--limit-rate",
      "100k",
      "-o",
      "/dev/null",
      "-H",
      `authorization: Bearer ${token}`,
      "-H",
      `accept: ${accept}`,
      url,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** A STOW-RS request whose body stops after `bytes` bytes of one object: the connection is closed there. */
async function stowCutAfter(port: number, token: string, object: Uint8Array, bytes: number): Promise<void> {
  const head = `POST /dicomweb/sites/north/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    `Authorization: Bearer ${token}\r\n` +
    `Content-Type: multipart/related; type="application/dicom"; boundary=cut\r\n` +
    `Content-Length: ${object.length + 200}\r\n\r\n--cut\r\nContent-Type: application/dicom\r\n\r\n`;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(head));
    let at = 0;
    while (at < bytes) at += await conn.write(object.subarray(at, bytes));
    // Long enough for the hub to have opened the store at the site and passed some bytes on.
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    conn.close();
  }
}

shared.test(
  "tunnel churn: DICOMweb clients gone mid-WADO-RS or mid-STOW leave no stream, socket or open file",
  async ({ hub, token, enroll }) => {
    const agent = await startAgentProcess({
      args: ["--site", "north", "--hub", hub.tunnelUrl, "--enroll", enroll.north],
    });
    const dir = await Deno.makeTempDir({ prefix: "conduit-churn-" });
    try {
      const series = await writeGeneratedSeries(dir, {
        count: 6,
        pixelBytes: 3_000_000,
        seed: "tunnel-churn",
      });
      const sent = await storescu(series.paths, agent, [], 60_000);
      assert.equal(sent.code, 0, sent.stderr);
      const url = `http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies/${series.studyUid}`;
      // One whole retrieval first: what it loads and keeps (buffers, the association code) is in the baseline.
      await wadoCutAfter(url, token, 1e9);
      const before = await settled(hub, token, agent);
      const study = 6 * 3_000_000;
      for (let i = 0; i < 20; i++) await wadoCutAfter(url, token, 1000 + Math.floor((study * i) / 20));
      const object = await Deno.readFile(series.paths[0]);
      for (let i = 0; i < 10; i++) {
        await stowCutAfter(hub.port, token, object, 1000 + Math.floor((object.length * i) / 10));
      }
      await settled(hub, token, agent, before);
      // And the study still comes whole.
      const res = await fetch(url, {
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
        },
      });
      assert.equal(res.status, 200);
      assert.ok((await res.arrayBuffer()).byteLength > study, "the whole study after the churn");
    } finally {
      await agent.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

shared.test(
  "tunnel churn: tunnels cut (3 mid-retrieval) and killed, refused upgrades and upgrades without a hello leave the hub as before",
  async ({ hub, token, enroll }) => {
    const proxy = startProxy(hub.port);
    const ports = { port: 0, httpPort: 0 };
    const start = (args: string[], dataDir?: string) =>
      startAgentProcess({
        ...(dataDir ? { dataDir, ...ports } : {}),
        config: { hub: HUB_RECONNECT },
        args: ["--site", "south", "--hub", `ws://127.0.0.1:${proxy.port}/tunnel`, ...args],
      });
    let agent = await start(["--enroll", enroll.south]);
    Object.assign(ports, { port: agent.port, httpPort: agent.httpPort });
    const sessions = () => hubMetric(hub, token, "conduit_hub_sites_connected");
    /** Starts `run` until a tunnel stream is seen under way (the first may meet a session being replaced). */
    const underWay = async (run: () => Deno.ChildProcess): Promise<Deno.ChildProcess> => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const running = run();
        const seen = await eventually(
          "a retrieval under way",
          async () => (await hubMetric(hub, token, "conduit_hub_tunnel_streams") ?? 0) > 0 || undefined,
          3_000,
        )
          .then(() => true, () => false);
        if (seen) return running;
        running.kill();
        await running.status;
      }
      throw new Error("no retrieval got under way in 5 attempts");
    };
    const dir = await Deno.makeTempDir({ prefix: "conduit-churn-" });
    try {
      const series = await writeGeneratedSeries(dir, {
        count: 10,
        pixelBytes: 4_000_000,
        seed: "tunnel-cuts",
      });
      const sent = await storescu(series.paths, agent, [], 60_000);
      assert.equal(sent.code, 0, sent.stderr);
      const url = `http://127.0.0.1:${hub.port}/dicomweb/sites/south/studies/${series.studyUid}`;
      await wadoCutAfter(url, token, 1e9);
      const before = await settled(hub, token, agent);
      // The network cuts the tunnel 10 times, the first 3 in the middle of a retrieval: the agent comes back
      // each time.
      for (let i = 0; i < 10; i++) {
        const retrieval = i < 3 ? await underWay(() => slowWado(url, token)) : undefined;
        const cut = proxy.cutAll();
        if (retrieval) {
          // What the hub had sent before the cut may take the slow client a while to read: it is done with.
          retrieval.kill();
          await retrieval.status;
        }
        assert.ok(cut >= 1, `cut ${i}: no connection through the proxy`);
        await eventually(
          "the agent back through the proxy",
          async () => proxy.open >= 1 && (await sessions()) === 1 || undefined,
        );
      }
      const credential =
        JSON.parse(await Deno.readTextFile(`${agent.dataDir}/hub-credential.json`)).credential;
      // 8 WebSockets with the site's credential that never say hello: closed by the hub's hello timeout (4 s),
      // which runs while the agent is killed and started again and the upgrades below are refused.
      const silently = Promise.all(
        Array.from({ length: 8 }, () =>
          new Promise<[number, string]>((resolve) => {
            const ws = new WebSocket(`ws://127.0.0.1:${hub.port}/tunnel`, {
              headers: { authorization: `Bearer ${credential}` },
            });
            ws.onclose = (e) => resolve([e.code, e.reason]);
            ws.onerror = () => {};
          })),
      );
      // The agent is killed 3 times and started again.
      for (let i = 0; i < 3; i++) {
        await agent.kill();
        agent = await start([], agent.dataDir);
      }
      // 40 upgrades with no credential or a wrong one: refused before any WebSocket.
      for (let i = 0; i < 40; i++) {
        const res = await fetch(`http://127.0.0.1:${hub.port}/tunnel`, {
          headers: {
            upgrade: "websocket",
            connection: "Upgrade",
            "sec-websocket-version": "13",
            "sec-websocket-key": btoa(String(i).padStart(16, "0")),
            ...(i % 2 ? { authorization: "Bearer not-a-credential" } : {}),
          },
        });
        await res.body?.cancel();
        assert.equal(res.status, 401);
      }
      const silent = await silently;
      assert.deepEqual(
        silent.map(([code]) => code),
        silent.map(() => 4000 + Reason.ProtocolError),
        "each closed for want of a hello",
      );
      // After the configured wait (tunnel.helloTimeoutSeconds), not the default 10 s.
      assert.deepEqual(silent.map(([, reason]) => reason), silent.map(() => "no hello within 4000 ms"));
      const now = await settled(hub, token, agent, { hub: before.hub, agent: held(agent.pid) });
      assert.ok(
        near(now.hub, before.hub, 2, POOL),
        `hub ${JSON.stringify(now.hub)}, before ${JSON.stringify(before.hub)}`,
      );
    } finally {
      await agent.stop();
      proxy.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

shared.tearDown("tunnel churn: the file's hub stops");

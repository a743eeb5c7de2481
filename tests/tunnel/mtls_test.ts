/**
 * Mutual TLS between the sites and the hub, the way a hospital's IT runs it: HAProxy ends TLS in front of
 * the hub (deploy/examples/mtls/haproxy.cfg, as shipped), asks every agent for a client certificate signed by
 * the project's CA, and names the verified certificate's CN to the hub in a header (`tunnel.clientCertHeader`). An agent with its site's certificate
 * (`hub.clientCertFile`, `hub.clientKeyFile`) enrolls and connects; one without a certificate is stopped by
 * the proxy and says what to set; one with another site's certificate is refused by the hub before its
 * token is spent; a tunnel that reaches the hub without the header is refused. Renewed files (SIGHUP): the
 * tunnel open then goes on, and its next connection presents the new certificate and trusts the new CA.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { scratchDir, skipReason } from "../support/peers.ts";
import { startProxy } from "../support/haproxy.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { eventually, startTestHub } from "../support/hub.ts";
import { makeTestPki, opensslNotAfter, type TestPki } from "../support/pki.ts";
import { parsePrometheus, value } from "../support/prometheus.ts";
import { openTunnelSocket } from "../../agent/tunnel/socket.ts";

const skip = skipReason("haproxy", "openssl");
if (skip) console.warn(`mtls_test: skipped: ${skip}`);

/** The header deploy/examples/mtls/haproxy.cfg names the certificate in. */
const HEADER = "x-ssl-client-cn";

Deno.test({
  name: "mutual TLS through HAProxy: the site's certificate lets it in, none or another site's does not",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pki = await makeTestPki(["localhost", "north", "south"]);
    const hub = await startTestHub({ clientCertHeader: HEADER });
    const proxy = await startProxy(pki, { hub: hub.port });
    const { sites: port, people } = proxy.ports;
    const agents: AgentProcess[] = [];
    try {
      const url = `wss://localhost:${port}/tunnel`;
      const siteConfig = (cert?: string) => ({
        hub: {
          caFile: pki.ca,
          ...(cert ? { clientCertFile: pki.parties[cert].cert, clientKeyFile: pki.parties[cert].key } : {}),
        },
      });
      const start = async (name: string, cert?: string) => {
        const token = (await hub.registry.add(name)).enrollmentToken;
        return await startAgentProcess({
          config: siteConfig(cert),
          args: ["--site", name, "--hub", url, "--enroll", token],
        });
      };

      // No certificate: the proxy ends the handshake; the agent says what to set, and nothing is spent.
      const bare = await start("south").then(() => "started", (err) => String(err));
      assert.match(bare, /enrollment failed/);
      assert.match(bare, /set hub\.clientCertFile and hub\.clientKeyFile/);
      assert.equal((await hub.registry.get("south"))?.enrolledAt ?? null, null, "south's token not spent");

      // North's certificate at south: the hub refuses it before the token is spent.
      const wrong = await start("south", "north").then(() => "started", (err) => String(err));
      assert.match(wrong, /the client certificate is for "north", not for site south/);
      assert.equal((await hub.registry.get("south"))?.enrolledAt ?? null, null, "south's token not spent");

      // Its own certificate: enrolled, online, answering.
      agents.push(await start("north", "north"));
      const live = await eventually("north online through the proxy", () => hub.sessions.get("north"));
      assert.ok(await live.session.ping(5000) >= 0);
      agents.push(await start("south", "south"));
      await eventually("south online through the proxy", () => hub.sessions.get("south"));

      // A tunnel that reaches the hub without the proxy carries no certificate: refused, whatever it claims.
      const west = await hub.registry.add("west");
      const { credential } = await hub.registry.enroll(west.enrollmentToken);
      const direct = await openTunnelSocket(hub.tunnelUrl, { authorization: `Bearer ${credential}` })
        .then(() => "opened", (err) => String(err));
      assert.match(direct, /only with a verified client certificate/);
      // Through the proxy without a certificate (an agent enrolled before the proxy asked for one): the
      // tunnel's error says what to set.
      const ca = [await Deno.readTextFile(pki.ca)];
      const noCert = await openTunnelSocket(url, { authorization: `Bearer ${credential}` }, { caCerts: ca })
        .then(() => "opened", (err) => String(err));
      assert.match(noCert, /asks for a client certificate: set hub\.clientCertFile and hub\.clientKeyFile/);
      // The people's side (no client certificate) serves the console but never the tunnel.
      const client = Deno.createHttpClient({ caCerts: ca });
      try {
        const page = await fetch(`https://localhost:${people}/healthz`, { client } as RequestInit);
        assert.equal(page.status, 200, "the hub through the people's side");
        await page.body?.cancel();
        const tunnel = await fetch(`https://localhost:${people}/tunnel`, {
          client,
          headers: { [HEADER]: "north", authorization: `Bearer ${credential}` },
        } as RequestInit);
        assert.equal(tunnel.status, 403, "no tunnel through the people's side, whatever the headers say");
        await tunnel.body?.cancel();
      } finally {
        client.close();
      }
    } finally {
      for (const agent of agents.reverse()) await agent.stop();
      await proxy.stop();
      await hub.stop();
    }
  },
});

Deno.test({
  name:
    "mutual TLS: SIGHUP reads hub.clientCertFile, .clientKeyFile and .caFile again for the next connection",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const a = await makeTestPki(["localhost", "north"], { days: 2 });
    const b = await makeTestPki(["localhost", "north"], { days: 5 });
    const hub = await startTestHub({ clientCertHeader: HEADER });
    const dir = await scratchDir("conduit-hub-tls-reload-");
    const files = {
      caFile: path.join(dir, "hub-ca.pem"),
      clientCertFile: path.join(dir, "north.pem"),
      clientKeyFile: path.join(dir, "north.key"),
    };
    const install = async (pki: TestPki, key = pki.parties.north.key) => {
      await Deno.copyFile(pki.ca, files.caFile);
      await Deno.copyFile(pki.parties.north.cert, files.clientCertFile);
      await Deno.copyFile(key, files.clientKeyFile);
    };
    await install(a);
    let proxy = await startProxy(a, { hub: hub.port });
    const ports = proxy.ports;
    let agent: AgentProcess | undefined;
    try {
      const token = (await hub.registry.add("north")).enrollmentToken;
      agent = await startAgentProcess({
        config: { hub: { ...files, reconnectBaseSeconds: 0.2, reconnectCapSeconds: 1 } },
        args: ["--site", "north", "--hub", `wss://localhost:${ports.sites}/tunnel`, "--enroll", token],
      });
      const running = agent;
      const first = await eventually("north online through A's proxy", () => hub.sessions.get("north"));
      const tlsLines = async () =>
        (await Deno.readTextFile(running.logFile)).split("\n").filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.part === "tls");
      const expiry = async (certificate: string) =>
        value(
          parsePrometheus(await (await running.http("/metrics")).text()),
          "conduit_agent_tls_certificate_expiry_seconds",
          { certificate },
        );
      assert.equal(await expiry("hub-client"), await opensslNotAfter(a.parties.north.cert));

      // Renewed by B: the tunnel open goes on (TLS checked the certificate at its handshake only).
      await install(b);
      Deno.kill(agent.pid, "SIGHUP");
      const reloaded = await eventually(
        "the reload logged",
        async () => (await tlsLines()).find((l) => String(l.msg).startsWith("hub TLS files reloaded")),
      );
      assert.equal(
        reloaded.msg,
        "hub TLS files reloaded: the tunnel's next connection uses them, the open one goes on",
      );
      assert.equal(reloaded.setting, "hub.caFile");
      assert.equal(hub.sessions.get("north"), first, "the open tunnel goes on");
      assert.equal(await expiry("hub-client"), await opensslNotAfter(b.parties.north.cert));
      assert.equal(await expiry("hub-ca"), await opensslNotAfter(b.ca));

      // The proxy now serves B's certificate and takes B's clients only: the agent's next connection is B's.
      await proxy.stop();
      proxy = await startProxy(b, ports);
      const second = await eventually("north online through B's proxy", () => {
        const s = hub.sessions.get("north");
        return s !== first ? s : undefined;
      });

      // B's certificate with A's key: refused, B kept for the next connection.
      await install(b, a.parties.north.key);
      Deno.kill(agent.pid, "SIGHUP");
      const refused = await eventually(
        "the refusal logged",
        async () => (await tlsLines()).find((l) => l.level === "error"),
      );
      assert.equal(refused.msg, "hub TLS files not reloaded: the tunnel keeps using the ones it had");
      assert.equal(refused.setting, "hub");
      assert.equal(
        refused.reason,
        `hub.clientKeyFile: ${files.clientKeyFile} is not the key of ${files.clientCertFile}`,
      );
      await proxy.stop();
      proxy = await startProxy(b, ports);
      await eventually("north online again with B's files kept", () => {
        const s = hub.sessions.get("north");
        return s !== second ? s : undefined;
      });
      assert.equal(await expiry("hub-client"), await opensslNotAfter(b.parties.north.cert));
      assert.doesNotMatch(await Deno.readTextFile(agent.logFile), /PRIVATE KEY|BEGIN/);
    } finally {
      await agent?.stop();
      await proxy.stop();
      await hub.stop();
    }
  },
});

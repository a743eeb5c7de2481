/**
 * Mutual TLS between the sites and the hub, the way a hospital's IT runs it: HAProxy ends TLS in front of
 * the hub (deploy/examples/mtls/haproxy.cfg, as shipped), asks every agent for a client certificate signed by
 * the project's CA, and names the verified certificate's CN to the hub in a header (`tunnel.clientCertHeader`). An agent with its site's certificate
 * (`hub.clientCertFile`, `hub.clientKeyFile`) enrolls and connects; one without a certificate is stopped by
 * the proxy and says what to set; one with another site's certificate is refused by the hub before its
 * token is spent; a tunnel that reaches the hub without the header is refused.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, skipReason, spawnLogged, toolPath, waitReady } from "../support/peers.ts";
import { acceptsTcp } from "../support/processes.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { eventually, startTestHub } from "../support/hub.ts";
import { makeTestPki } from "../support/pki.ts";
import { openTunnelSocket } from "../../agent/tunnel/socket.ts";

const skip = skipReason("haproxy", "openssl");
if (skip) console.warn(`mtls_test: skipped: ${skip}`);

/** The header deploy/examples/mtls/haproxy.cfg names the certificate in. */
const HEADER = "x-ssl-client-cn";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/**
 * deploy/examples/mtls/haproxy.cfg as shipped, on this machine's ports and files: the sites' frontend on
 * `sitesPort`, the people's on `peoplePort`, the hub on `hubPort`.
 */
async function exampleConfig(ports: { sites: number; people: number; hub: number }, pem: string, ca: string) {
  const shipped = await Deno.readTextFile(path.join(ROOT, "deploy/examples/mtls/haproxy.cfg"));
  const cfg = shipped
    .replace("bind :8443", `bind 127.0.0.1:${ports.sites}`)
    .replace("bind :443", `bind 127.0.0.1:${ports.people}`)
    .replace("server hub 127.0.0.1:8080", `server hub 127.0.0.1:${ports.hub}`)
    .replaceAll("/etc/haproxy/hub.example.org.pem", pem)
    .replace("/etc/haproxy/conduit-sites-ca.pem", ca)
    .replace(/^\s*log \/dev\/log.*$/m, "") // no syslog here
    .replace(/^\s*log global$/m, "")
    .replace(/maxconn \d+/, "maxconn 1000"); // a test process may open fewer files than a server
  assert.doesNotMatch(cfg, /^\s*bind :/m, "every port of the example replaced");
  assert.doesNotMatch(cfg, /^[^#]*\/etc\//m, "every file of the example replaced");
  return cfg;
}

Deno.test({
  name: "mutual TLS through HAProxy: the site's certificate lets it in, none or another site's does not",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pki = await makeTestPki(["localhost", "north", "south"]);
    const hub = await startTestHub({ clientCertHeader: HEADER });
    const [port, people] = [freePort(), freePort()];
    const pem = path.join(pki.dir, "proxy.pem");
    await Deno.writeTextFile(
      pem,
      (await Deno.readTextFile(pki.parties.localhost.cert)) +
        (await Deno.readTextFile(pki.parties.localhost.key)),
    );
    const cfg = path.join(pki.dir, "haproxy.cfg");
    await Deno.writeTextFile(cfg, await exampleConfig({ sites: port, people, hub: hub.port }, pem, pki.ca));
    const proxy = await spawnLogged("haproxy", toolPath("haproxy")!, ["-db", "-f", cfg]);
    const agents: AgentProcess[] = [];
    try {
      await waitReady(
        proxy,
        "haproxy",
        async () => await acceptsTcp(port) && await acceptsTcp(people),
        20_000,
      );
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

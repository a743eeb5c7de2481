/**
 * Renewing the agent's DICOM over TLS files without a restart: an agent started with certificate, key and
 * client CA from PKI A, an association open over TLS, the files replaced by PKI B's, SIGHUP: `openssl
 * s_client` sees B's certificate, DCMTK's `echoscu +tls` with a client certificate of B is accepted and one
 * of A refused (the CA was read again too), the association opened before goes on and releases,
 * `conduit_agent_tls_certificate_expiry_seconds` says B's ends. A key that is not the certificate's is
 * refused with the files named, and B is kept. The same for a node's files (`nodes.<name>.tls`): a DCMTK
 * `storescp +tls` that presents B's certificate and trusts only B's CA is reached by the next association
 * after the SIGHUP, not before; B's certificate with A's key is refused and B kept. A node's `tls` changed to
 * name B's files at other paths is a node change the configuration reload applies, with the same result.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import tls from "node:tls";
import { X509Certificate } from "node:crypto";
import { agentConfigFile, agentConfigText, type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { eventually } from "../support/hub.ts";
import { freePort, scratchDir, skipReason, startStorescp, toolPath } from "../support/peers.ts";
import {
  echoscuTls,
  makeTestPki,
  opensslNotAfter,
  type Party,
  servedCertificate,
  type TestPki,
} from "../support/pki.ts";
import { associateRq, PduType, releaseRq } from "../support/pdu.ts";
import { parsePrometheus, value } from "../support/prometheus.ts";

const skip = skipReason("echoscu", "storescp") || (toolPath("openssl") ? false : "needs openssl");
if (skip) console.warn(`dimse_tls_reload_test: skipped: ${skip}`);

const VERIFICATION = "1.2.840.10008.1.1";
const IMPLICIT_LE = "1.2.840.10008.1.2";

type Line = Record<string, unknown>;
const tlsLines = async (agent: AgentProcess): Promise<Line[]> =>
  (await Deno.readTextFile(agent.logFile)).split("\n").filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Line).filter((l) => l.part === "tls");

/** The agent's `conduit_agent_tls_certificate_expiry_seconds` for `certificate`. */
const expiryOf = async (agent: AgentProcess, certificate: string) =>
  value(
    parsePrometheus(await (await agent.http("/metrics")).text()),
    "conduit_agent_tls_certificate_expiry_seconds",
    { certificate },
  );

/** A TLS connection presenting `party`, trusting `ca`, whose first byte of each read is kept in order. */
async function openTls(port: number, party: Party, ca: string) {
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    servername: "localhost",
    ca: await Deno.readTextFile(ca),
    cert: await Deno.readTextFile(party.cert),
    key: await Deno.readTextFile(party.key),
  });
  const received: number[] = [];
  socket.on("data", (chunk: Uint8Array) => received.push(chunk[0]));
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("error", reject);
  });
  return { socket, received };
}

/**
 * Two PKIs (A's certificates end in 2 days, B's in 5), a scratch folder with the agent's copies of A's
 * certificate, key and CA under `names`, and `install` to put another PKI's there (with another key: a
 * certificate and a key that do not match).
 */
async function renewable(prefix: string, names: { cert: string; key: string; ca: string }) {
  const a = await makeTestPki(["agent", "dcmtk"], { days: 2 });
  const b = await makeTestPki(["agent", "dcmtk"], { days: 5 });
  const dir = await scratchDir(prefix);
  const files = {
    cert: path.join(dir, names.cert),
    key: path.join(dir, names.key),
    ca: path.join(dir, names.ca),
  };
  const install = async (pki: TestPki, key = pki.parties.agent.key) => {
    await Deno.copyFile(pki.parties.agent.cert, files.cert);
    await Deno.copyFile(key, files.key);
    await Deno.copyFile(pki.ca, files.ca);
  };
  await install(a);
  return { a, b, dir, files, install };
}

/** The node of the node-TLS tests: a storescp with B's certificate that takes only clients of B's CA. */
function tlsNode(dir: string, b: Awaited<ReturnType<typeof renewable>>["b"]) {
  return startStorescp({
    dir: path.join(dir, "received"),
    aet: "TLSNODE",
    extraArgs: ["+tls", b.parties.dcmtk.key, b.parties.dcmtk.cert, "+cf", b.ca],
  });
}

Deno.test({
  name: "agent: SIGHUP reads dimse.tls again; new handshakes use it, an open association goes on",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { a, b, files, install } = await renewable("conduit-dimse-tls-reload-", {
      cert: "agent.pem",
      key: "agent.key",
      ca: "ca.pem",
    });
    const tlsPort = freePort();
    const agent = await startAgentProcess({
      aet: "RELOADER",
      config: { dimse: { tls: { port: tlsPort, ...files, requireClientCert: true } } },
    });
    const echo = (pki: TestPki) => echoscuTls(pki, agent.aet, tlsPort, { timeoutMs: 20_000 });
    const served = async () => new X509Certificate((await servedCertificate(tlsPort))!).fingerprint256;
    const fileOf = async (p: Party) => new X509Certificate(await Deno.readTextFile(p.cert)).fingerprint256;
    const expiry = (certificate: string) => expiryOf(agent, certificate);
    try {
      assert.equal((await echo(a)).code, 0);
      assert.equal(await served(), await fileOf(a.parties.agent));
      // An association open on A's certificate.
      const open = await openTls(tlsPort, a.parties.dcmtk, a.ca);
      open.socket.write(associateRq({
        calledAet: agent.aet,
        callingAet: "OPENED",
        contexts: [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] }],
      }));
      await eventually("A-ASSOCIATE-AC", () => open.received[0] === PduType.AssociateAc);

      // Renewed: B's certificate, key and client CA, then SIGHUP.
      await install(b);
      Deno.kill(agent.pid, "SIGHUP");
      await eventually(
        "the reload logged",
        async () =>
          (await tlsLines(agent)).find((l) =>
            l.msg === "DICOM over TLS files reloaded: new associations use them, open ones go on"
          ),
      );
      assert.equal(await served(), await fileOf(b.parties.agent));
      const withB = await echo(b);
      assert.equal(withB.code, 0, `echoscu +tls with B: ${withB.stdout}${withB.stderr}`);
      assert.notEqual((await echo(a)).code, 0, "a client of A accepted after the CA was replaced by B's");
      assert.equal(await expiry("dimse"), await opensslNotAfter(b.parties.agent.cert));
      assert.equal(await expiry("dimse-ca"), await opensslNotAfter(b.ca));
      // The association opened before the reload goes on: released normally.
      open.socket.write(releaseRq());
      await eventually("A-RELEASE-RP", () => open.received.includes(PduType.ReleaseRp));
      open.socket.destroy();

      // B's certificate with A's key: refused, B kept.
      await install(b, a.parties.agent.key);
      Deno.kill(agent.pid, "SIGHUP");
      const refused = await eventually(
        "the refusal logged",
        async () => (await tlsLines(agent)).find((l) => l.level === "error"),
      );
      assert.equal(refused.msg, "DICOM over TLS files not reloaded: the agent keeps using the ones it had");
      assert.equal(refused.reason, `dimse.tls.key: ${files.key} is not the key of ${files.cert}`);
      assert.equal((await echo(b)).code, 0);
      assert.equal(await served(), await fileOf(b.parties.agent));
      assert.equal(await expiry("dimse"), await opensslNotAfter(b.parties.agent.cert));
      const log = await Deno.readTextFile(agent.logFile);
      assert.match(log, /"msg":"agent reloading"/);
      assert.doesNotMatch(log, /PRIVATE KEY|BEGIN/);
      assert.equal(agent.exited(), false);
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name: "agent: SIGHUP reads nodes.<name>.tls again; the next association presents and trusts the new files",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { a, b, dir, files, install } = await renewable("conduit-node-tls-reload-", {
      cert: "node-client.pem",
      key: "node-client.key",
      ca: "node-ca.pem",
    });
    // The node has B's certificate and takes only clients of B's CA.
    const scp = await tlsNode(dir, b);
    const agent = await startAgentProcess({
      config: { nodes: { pacs: { aet: "TLSNODE", host: "127.0.0.1", port: scp.port, tls: files } } },
    });
    const echo = async () => {
      const r = await agent.http("/nodes/pacs/echo", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      return { status: r.status, body: await r.json() };
    };
    try {
      const before = await echo();
      assert.equal(before.status, 502, `A's files reached a node of B: ${JSON.stringify(before.body)}`);
      assert.equal(await expiryOf(agent, "node:pacs"), await opensslNotAfter(a.parties.agent.cert));

      await install(b);
      Deno.kill(agent.pid, "SIGHUP");
      const reloaded = await eventually(
        "the node's reload logged",
        async () => (await tlsLines(agent)).find((l) => String(l.msg).startsWith("node TLS files reloaded")),
      );
      assert.equal(
        reloaded.msg,
        "node TLS files reloaded: new associations to the node use them, open ones go on",
      );
      assert.equal(reloaded.setting, "nodes.pacs.tls.ca");
      const after = await echo();
      assert.equal(after.status, 200, JSON.stringify(after.body));
      assert.equal(after.body.status, 0);
      assert.equal(await expiryOf(agent, "node:pacs"), await opensslNotAfter(b.parties.agent.cert));
      assert.equal(await expiryOf(agent, "node-ca:pacs"), await opensslNotAfter(b.ca));

      // B's certificate with A's key: refused, B kept.
      await install(b, a.parties.agent.key);
      Deno.kill(agent.pid, "SIGHUP");
      const refused = await eventually(
        "the refusal logged",
        async () => (await tlsLines(agent)).find((l) => l.level === "error"),
      );
      assert.equal(
        refused.msg,
        "node TLS files not reloaded: associations to the node keep using the ones it had",
      );
      assert.equal(refused.setting, "nodes.pacs.tls");
      assert.equal(refused.reason, `nodes.pacs.tls.key: ${files.key} is not the key of ${files.cert}`);
      assert.equal((await echo()).status, 200, "B's files kept");
      assert.equal(await expiryOf(agent, "node:pacs"), await opensslNotAfter(b.parties.agent.cert));
      const log = await Deno.readTextFile(agent.logFile);
      assert.doesNotMatch(log, /PRIVATE KEY|BEGIN/);
      assert.equal(agent.exited(), false);
    } finally {
      await agent.stop();
      await scp.stop();
    }
  },
});

Deno.test({
  name: "agent: SIGHUP with a node's tls pointing at other files; the next association uses them",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const { b, dir, files } = await renewable("conduit-node-tls-paths-", {
      cert: "node-client.pem",
      key: "node-client.key",
      ca: "node-ca.pem",
    });
    const scp = await tlsNode(dir, b);
    const node = (tls: Record<string, string>) => ({
      nodes: { pacs: { aet: "TLSNODE", host: "127.0.0.1", port: scp.port, tls } },
    });
    const agent = await startAgentProcess({ config: node(files) });
    const echo = () =>
      agent.http("/nodes/pacs/echo", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
    try {
      assert.equal((await echo()).status, 502, "A's files reached a node of B");
      // B's files at their own paths (A's stay where they were), named by the configuration file.
      await Deno.writeTextFile(
        agentConfigFile(agent.dataDir),
        agentConfigText(node({ ca: b.ca, cert: b.parties.agent.cert, key: b.parties.agent.key })),
      );
      Deno.kill(agent.pid, "SIGHUP");
      const reloaded = await eventually(
        "the configuration reload logged",
        async () =>
          (await Deno.readTextFile(agent.logFile)).split("\n").find((l) =>
            l.includes('"nodesChanged":["pacs"]')
          ),
      );
      assert.match(reloaded, /"msg":"configuration reloaded: /);
      const after = await echo();
      assert.equal(after.status, 200, JSON.stringify(await after.json()));
      assert.equal(await expiryOf(agent, "node:pacs"), await opensslNotAfter(b.parties.agent.cert));
    } finally {
      await agent.stop();
      await scp.stop();
    }
  },
});

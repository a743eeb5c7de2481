/**
 * `wss` with a private CA: the hub serves TLS with a certificate the system does not trust; the
 * agent enrolls and connects because `hub.caFile` names the CA, and fails without it.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { hasTool } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { eventually, startTestHub } from "../support/hub.ts";

const skip = hasTool("openssl") ? false : "openssl not installed";
if (skip) console.warn(`tls_test: skipped: ${skip}`);

async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A CA and a server certificate for localhost and 127.0.0.1 signed by it. */
async function makeCertificates(dir: string) {
  await openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=Conduit Test CA",
  ]);
  await openssl(dir, [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "hub.key",
    "-out",
    "hub.csr",
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(path.join(dir, "ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "hub.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "hub.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  ]);
  return { ca: path.join(dir, "ca.pem"), cert: path.join(dir, "hub.pem"), key: path.join(dir, "hub.key") };
}

Deno.test({
  name: "an agent reaches a wss hub signed by a private CA through hub.caFile",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const certs = await makeCertificates(await Deno.makeTempDir({ prefix: "tls-" }));
    const hub = await startTestHub({ tls: { certFile: certs.cert, keyFile: certs.key } });
    const url = `wss://localhost:${hub.port}/tunnel`;
    let agent: AgentProcess | undefined;
    try {
      // Without the CA the enrollment fails and nothing is saved.
      const untrusted = await startAgentProcess({
        args: [
          "--site",
          "north",
          "--hub",
          url,
          "--enroll",
          (await hub.registry.add("north")).enrollmentToken,
        ],
      }).then(() => "started", (err) => String(err));
      assert.match(untrusted, /enrollment failed/);

      const { enrollmentToken } = await hub.registry.add("north");
      agent = await startAgentProcess({
        config: { hub: { caFile: certs.ca } },
        args: ["--site", "north", "--hub", url, "--enroll", enrollmentToken],
      });
      const live = await eventually("north online over wss", () => hub.sessions.get("north"));
      assert.ok(await live.session.ping(5000) >= 0);
      // The hub serving TLS itself (no publicUrl) tells browsers to keep to https.
      const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(certs.ca)] });
      const health = await fetch(`https://localhost:${hub.port}/healthz`, { client });
      await health.body?.cancel();
      client.close();
      assert.equal(health.headers.get("strict-transport-security"), "max-age=31536000");
    } finally {
      await agent?.stop();
      await hub.stop();
    }
  },
});

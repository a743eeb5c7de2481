/**
 * The agent's DICOM over TLS port at the limit of open file descriptors. Node's `tls` server under Deno 2.9.6
 * stopped accepting at the first EMFILE without an error event, and the port answered no one again until a
 * restart (the plain DICOM port retries since 59d88a37). Now the TLS port accepts again once descriptors are
 * free: an `echoscu +tls` is answered after 40 silent connections (to the HTTP port) took every descriptor
 * while TLS connections waited, and went.
 */
import assert from "node:assert/strict";
import { freePort, skipReason, toolPath } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { assertServing } from "../support/faults.ts";
import { eventually } from "../support/hub.ts";
import { agentTlsConfig, echoscuTls, makeTestPki } from "../support/pki.ts";

const skip = skipReason("echoscu", "prlimit") || (toolPath("openssl") ? false : "needs openssl");
if (skip) console.warn(`descriptor_limit_tls_test: skipped: ${skip}`);

/**
 * Descriptors left above those the agent holds idle, and connections opened: more than that. As in
 * descriptor_limit_test, SPARE leaves room for three DICOM connections above agent/descriptors.ts's reserve:
 * with 12 the cap fell to its floor of one, and a connection that waited in the backlog (its peer gone) could
 * hold that place when echoscu came (since agent/dimse/_connection_gate.ts a new connection takes its place:
 * descriptor_limit_test checks that case on the plain port).
 */
const SPARE = 25;
const CONNECTIONS = 40;

Deno.test({
  name: "the agent out of file descriptors accepts DICOM over TLS again once some are free",
  ignore: Boolean(skip),
  async fn() {
    const pki = await makeTestPki(["agent", "dcmtk"]);
    const tlsPort = freePort();
    const agent = await startAgentProcess({
      config: { dimse: { tls: agentTlsConfig(pki, tlsPort) } },
    });
    const tlsEcho = () => echoscuTls(pki, agent.aet, tlsPort, { timeoutMs: 10_000 });
    const conns: Deno.TcpConn[] = [];
    try {
      await assertServing(agent);
      assert.equal((await tlsEcho()).code, 0, "echoscu +tls answered before");
      const fds = () => [...Deno.readDirSync(`/proc/${agent.pid}/fd`)].length;
      const limit = fds() + SPARE;
      const set = await new Deno.Command("prlimit", {
        args: ["--pid", String(agent.pid), `--nofile=${limit}:${limit}`],
      }).output();
      assert.ok(set.success, new TextDecoder().decode(set.stderr));
      // Silent connections to the HTTP port take the descriptors (the DICOM ports hold no more than fit
      // with a reserve kept free, agent/descriptors.ts); then TLS connections find none and wait.
      for (let i = 0; i < CONNECTIONS; i++) {
        try {
          conns.push(await Deno.connect({ hostname: "127.0.0.1", port: agent.httpPort }));
        } catch {
          break; // its listener failed (EMFILE) and is closed until it listens again: refused
        }
      }
      await eventually("the agent out of descriptors", () => fds() >= limit || undefined, 15_000);
      for (let i = 0; i < 3; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port: tlsPort }));
      for (const c of conns.splice(0)) c.close();
      await eventually("echoscu +tls answered again", async () => (await tlsEcho()).code === 0, 30_000);
      await assertServing(agent);
      const log = await Deno.readTextFile(agent.logFile);
      assert.match(log, /"msg":"cannot accept a connection; trying again".*"port":"tls"/);
    } finally {
      for (const c of conns) c.close();
      await agent.stop();
      await Deno.remove(pki.dir, { recursive: true }).catch(() => {});
    }
  },
});

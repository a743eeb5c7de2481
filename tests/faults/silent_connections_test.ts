/**
 * Connections to the DICOM ports that never send a byte (a port scanner, a load balancer's health check that
 * opens and waits). `dimse.maxAssociations` counts associations (accepted A-ASSOCIATE-RQs), so they never
 * took its places; but each held one of the connections the descriptor budget allows (agent/descriptors.ts)
 * until ARTIM (30 s), and at a low descriptor limit a few of them closed every modality's connection at
 * once. Now a new connection closes the oldest silent one when the budget is full, and a connection that
 * sends nothing is closed after min(`dimse.firstByteTimeoutSeconds`, ARTIM): 10 s by default, FIRST_BYTE here.
 */
import assert from "node:assert/strict";
import { freePort, skipReason, toolPath } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { agentLog, assertServing } from "../support/faults.ts";
import { eventually } from "../support/hub.ts";
import { sendGenerated } from "../support/send.ts";
import { agentTlsConfig, echoscuTls, makeTestPki } from "../support/pki.ts";

const skip = skipReason("echoscu", "storescu", "prlimit");
if (skip) console.warn(`silent_connections_test: skipped: ${skip}`);

/** Silent connections opened: more than the associations allowed, more than the connections that fit. */
const SILENT = 40;
/**
 * Descriptors left above those the agent holds idle: room for three DICOM connections above the reserve
 * (agent/descriptors.ts: 16, then 3 per connection).
 */
const SPARE = 25;
/**
 * Silent connections to the TLS port: more than the three that fit, fewer than the descriptors left. Node's
 * `tls` server takes a burst faster than it closes what it refuses, and stops at EMFILE until its watch
 * listens again (tls.ts: about 2 s, the connections waiting then reset): that is descriptor_limit_tls_test's.
 */
const SILENT_TLS = 10;
/**
 * The agents' first-byte timeout (s) where the test waits for it: shorter than the default 10 s, still
 * seconds more than a requester that connects and sends at once may wait to be read on a loaded machine.
 */
const FIRST_BYTE = 4;

/** Opens `n` connections to `port` that send nothing. */
async function openSilent(port: number, n: number): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i++) conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
  return conns;
}

/**
 * Waits until the agent has closed every one of `conns` (a read ends or fails), within 20 s: more than the
 * first-byte timeout (FIRST_BYTE, or the default 10 s), less than ARTIM (30 s), which closed them before.
 */
async function closedByAgent(agent: AgentProcess, conns: Deno.TcpConn[]): Promise<void> {
  let closed = 0;
  for (const c of conns) c.read(new Uint8Array(16)).then(() => closed++, () => closed++);
  await eventually(
    "the silent connections closed by the agent",
    () => closed === conns.length || undefined,
    20_000,
  )
    .catch(async (err) => {
      throw new Error(`${(err as Error).message} (${closed} of ${conns.length})${await agentLog(agent)}`);
    });
}

/** Lowers the agent's descriptor limit to what it holds now and `spare` more. */
async function leaveDescriptors(agent: AgentProcess, spare: number): Promise<void> {
  const limit = [...Deno.readDirSync(`/proc/${agent.pid}/fd`)].length + spare;
  const set = await new Deno.Command("prlimit", {
    args: ["--pid", String(agent.pid), `--nofile=${limit}:${limit}`],
  }).output();
  assert.ok(set.success, new TextDecoder().decode(set.stderr));
}

Deno.test({
  name: "silent connections beyond dimse.maxAssociations leave storescu its association",
  ignore: Boolean(skip),
  async fn() {
    const agent = await startAgentProcess({ config: { dimse: { maxAssociations: 2 } } });
    const silent: Deno.TcpConn[] = [];
    try {
      await assertServing(agent);
      silent.push(...await openSilent(agent.port, SILENT));
      const sent = await sendGenerated(agent, "silent-connections", "CT", 1);
      assert.equal(sent.length, 1);
      await assertServing(agent);
    } finally {
      for (const c of silent) c.close();
      await agent.stop();
    }
  },
});

Deno.test({
  name: "silent connections at a low descriptor limit neither keep echoscu out nor stay past 10 s",
  ignore: Boolean(skip),
  async fn() {
    const agent = await startAgentProcess({ config: { dimse: { firstByteTimeoutSeconds: FIRST_BYTE } } });
    const silent: Deno.TcpConn[] = [];
    try {
      await assertServing(agent);
      await leaveDescriptors(agent, SPARE);
      silent.push(...await openSilent(agent.port, SILENT));
      // The budget holds three connections: the newest silent ones hold them, and echoscu takes the place of
      // the oldest (before: echoscu was closed at once, for 30 s).
      await assertServing(agent);
      // Those left are closed after the first-byte timeout (FIRST_BYTE), well before ARTIM (30 s).
      await closedByAgent(agent, silent);
      const log = await Deno.readTextFile(agent.logFile);
      assert.match(log, /"msg":"closing a connection that sent nothing".*"reason":"first-byte timeout"/);
      // The budget was full while they were opened (not only the timeout closed them).
      assert.match(
        log,
        /"msg":"closing a connection that sent nothing".*"reason":"room for a new connection"/,
      );
    } finally {
      for (const c of silent) c.close();
      await agent.stop();
    }
  },
});

Deno.test({
  name:
    "silent connections to the DICOM over TLS port at a low descriptor limit neither keep echoscu +tls out nor stay past 10 s",
  ignore: Boolean(skip) || !toolPath("openssl"),
  async fn() {
    const pki = await makeTestPki(["agent", "dcmtk"]);
    const tlsPort = freePort();
    const agent = await startAgentProcess({
      config: { dimse: { tls: agentTlsConfig(pki, tlsPort), firstByteTimeoutSeconds: FIRST_BYTE } },
    });
    const tlsEcho = () => echoscuTls(pki, agent.aet, tlsPort, { timeoutMs: 8_000 });
    const silent: Deno.TcpConn[] = [];
    try {
      await assertServing(agent);
      await leaveDescriptors(agent, SPARE);
      silent.push(...await openSilent(tlsPort, SILENT_TLS));
      const echo = await tlsEcho();
      assert.equal(echo.code, 0, `echoscu +tls: ${echo.stdout}${echo.stderr}${await agentLog(agent)}`);
      await closedByAgent(agent, silent);
      // Silent ones closed by the agent are no refused handshakes.
      const log = await Deno.readTextFile(agent.logFile);
      assert.match(log, /"msg":"closing a connection that sent nothing".*"port":"tls".*"first-byte timeout"/);
      assert.doesNotMatch(log, /"msg":"TLS handshake refused"/);
      await assertServing(agent);
    } finally {
      for (const c of silent) c.close();
      await agent.stop();
      await Deno.remove(pki.dir, { recursive: true }).catch(() => {});
    }
  },
});

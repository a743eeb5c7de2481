/**
 * The agent at its limit of open file descriptors (`ulimit -n`, systemd's LimitNOFILE): connections that
 * take every descriptor left make accepting the next one fail with EMFILE. The agent logs it once, keeps
 * trying (the connection waits in the listen backlog), and serves again once descriptors come free. Before
 * 2026-12-06 the first EMFILE ended the accept loop for good: the DICOM port stayed bound and answered no
 * one again until a restart. The hub likewise: Deno.serve stops listening for good at EMFILE (its `finished`
 * rejects) while the process goes on; the hub now listens again on its port once it can.
 */
import assert from "node:assert/strict";
import { runDcmtk, skipReason } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { agentLog, assertServing } from "../support/faults.ts";
import { eventually, startHubProcess } from "../support/hub.ts";

const skip = skipReason("echoscu", "prlimit");
if (skip) console.warn(`descriptor_limit_test: skipped: ${skip}`);

/**
 * Descriptors left to the agent above those it holds idle, and connections opened: more than that. SPARE
 * leaves room for three DICOM connections above agent/descriptors.ts's reserve (16, 3 per connection): with
 * room for one, the connection that waited in the backlog (its peer gone, not yet seen closed) held the only
 * place when echoscu came, and echoscu was closed at once (CI, a loaded machine). That case has its own test
 * below since a new connection takes the place of one that has sent nothing (agent/dimse/_connection_gate.ts).
 */
const SPARE = 25;
const CONNECTIONS = 40;

Deno.test({
  name: "the agent out of file descriptors accepts again once some are free",
  ignore: Boolean(skip),
  async fn() {
    const agent = await startAgentProcess();
    const conns: Deno.TcpConn[] = [];
    try {
      await assertServing(agent); // the association code is loaded
      conns.push(...await exhaustDescriptors(agent, SPARE));
      // A DICOM connection now finds no descriptor either: it waits in the backlog while accepting fails.
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port: agent.port }));
      await failedAccept(agent);
      assert.ok(!agent.exited());
      // The HTTP API meets the limit too (its listener fails, which ends Deno.serve unless it listens again).
      assert.equal(await healthzAnswers(agent.httpPort), undefined);

      // Their peers go: the descriptors come free, the waiting connections are accepted, and so is a new one.
      for (const c of conns.splice(0)) c.close();
      await assertServing(agent);
      await eventually("the agent's /healthz answering again", () => healthzAnswers(agent.httpPort), 20_000);
      const log = await Deno.readTextFile(agent.logFile);
      assert.match(
        log,
        /"msg":"cannot accept a connection; trying again".*"reason":"too many open files \(EMFILE\)"/,
      );
      assert.match(log, /"msg":"accepting connections again".*"failures":\d+/);
    } finally {
      for (const c of conns) c.close();
      await agent.stop();
    }
  },
});

/**
 * Leaves the agent `spare` descriptors above those it holds now, then takes them all with connections to its
 * HTTP API that send nothing (the DICOM ports hold no more connections than fit in the limit with a reserve
 * kept free, agent/descriptors.ts: connections beyond it are closed at once); the last ones find no
 * descriptor and wait in the backlog. Returns those connections.
 */
async function exhaustDescriptors(agent: AgentProcess, spare: number): Promise<Deno.TcpConn[]> {
  const limit = await leaveDescriptors(agent.pid, spare);
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < CONNECTIONS; i++) {
    try {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port: agent.httpPort }));
    } catch {
      break; // its listener failed (EMFILE) and is closed until it listens again: refused
    }
  }
  await eventually(
    "the agent out of descriptors",
    () => openDescriptors(agent.pid) >= limit || undefined,
    15_000,
  );
  return conns;
}

/** Waits for the agent's log to say an accept on its DICOM port failed (it is out of descriptors). */
async function failedAccept(agent: AgentProcess): Promise<void> {
  await eventually(
    "a failed accept on the DICOM port",
    async () =>
      /"msg":"cannot accept a connection; trying again"/.test(await Deno.readTextFile(agent.logFile)),
    15_000,
  );
}

Deno.test({
  name:
    "at one DICOM place, connections whose peers went while they waited in the backlog leave echoscu its place",
  ignore: Boolean(skip),
  async fn() {
    const agent = await startAgentProcess();
    const conns: Deno.TcpConn[] = [];
    try {
      await assertServing(agent);
      // 12 spare descriptors, fewer than the reserve: the descriptor budget's floor of one DICOM connection.
      conns.push(...await exhaustDescriptors(agent, 12));
      // DICOM connections wait in the backlog while accepting fails; their peers go (a FIN waits with each).
      const dead: Deno.TcpConn[] = [];
      for (let i = 0; i < 3; i++) dead.push(await Deno.connect({ hostname: "127.0.0.1", port: agent.port }));
      await failedAccept(agent);
      for (const c of dead) c.close();
      // Descriptors come free; echoscu connects at once, behind the dead ones, and is accepted right after
      // them: one of those held the only place, and echoscu was closed at once (the CI failure of 98d238a2).
      for (const c of conns.splice(0)) c.close();
      const echo = await runDcmtk(
        "echoscu",
        ["-aet", "ECHOSCU", "-aec", agent.aet, "127.0.0.1", String(agent.port)],
        { timeoutMs: 15_000 },
      );
      assert.equal(echo.code, 0, `echoscu: ${echo.stdout}${echo.stderr}${await agentLog(agent)}`);
      const log = await Deno.readTextFile(agent.logFile);
      assert.match(
        log,
        /"msg":"closing a connection that sent nothing".*"reason":"room for a new connection"/,
      );
      await assertServing(agent);
    } finally {
      for (const c of conns) c.close();
      await agent.stop();
    }
  },
});

/** True when `/healthz` on `port` answers 200 on a new connection (one kept alive from before would still be served). */
async function healthzAnswers(port: number): Promise<true | undefined> {
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, {
      client,
      signal: AbortSignal.timeout(2000),
    });
    await res.body?.cancel();
    return res.status === 200 || undefined;
  } catch {
    return undefined;
  } finally {
    client.close();
  }
}

/** How many descriptors process `pid` has open. */
function openDescriptors(pid: number): number {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
}

/** Lowers the descriptor limit of process `pid` to what it holds now and `spare` more. */
async function leaveDescriptors(pid: number, spare: number): Promise<number> {
  const limit = openDescriptors(pid) + spare;
  const set = await new Deno.Command("prlimit", {
    args: ["--pid", String(pid), `--nofile=${limit}:${limit}`],
  })
    .output();
  assert.ok(set.success, new TextDecoder().decode(set.stderr));
  return limit;
}

Deno.test({
  name: "the hub out of file descriptors listens for HTTP again once some are free",
  ignore: Boolean(skipReason("prlimit")),
  async fn() {
    const hub = await startHubProcess();
    const conns: Deno.TcpConn[] = [];
    try {
      const limit = await leaveDescriptors(hub.pid, SPARE);
      // Connections until the hub is out of descriptors (its listener then fails: later ones are refused).
      for (let i = 0; i < CONNECTIONS; i++) {
        try {
          conns.push(await Deno.connect({ hostname: "127.0.0.1", port: hub.port }));
        } catch {
          break;
        }
      }
      await eventually(
        "the hub out of descriptors",
        () => openDescriptors(hub.pid) >= limit || undefined,
        15_000,
      );
      for (const c of conns.splice(0)) c.close();
      await eventually("the hub's /healthz answering again", () => healthzAnswers(hub.port), 20_000);
      const log = await Deno.readTextFile(hub.logFile);
      assert.match(
        log,
        /"msg":"the HTTP listener failed; listening again".*"reason":"too many open files \(EMFILE\)"/,
      );
      assert.match(log, /"msg":"listening for HTTP again"/);
    } finally {
      for (const c of conns) c.close();
      await hub.stop();
    }
  },
});

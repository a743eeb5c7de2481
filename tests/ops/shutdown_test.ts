/**
 * Stopping the agent (SIGTERM, as systemd and container runtimes do) while it forwards to a destination
 * that does not answer: it stops within a few seconds with exit code 0 and a clean stop, the row it was
 * sending goes back to pending without counting an attempt, and the next start delivers it.
 *
 * Until 2026-12-04 the stop waited for the destination's time limits: 30 s for an association being
 * opened (`dimse.artimTimeoutSeconds`), up to 300 s for the response to a C-STORE on the wire
 * (`dimse.idleTimeoutSeconds`), past systemd's TimeoutStopSec=30, which then kills it (no `clean-stop`).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { generateInstance, uidFromKey } from "@conduit/shared/testing";
import { indexRows, listFiles, startAgentProcess } from "../support/agent.ts";
import { acknowledgedFiles, archiveFiles, storescuArgs, wholeObject } from "../support/crash.ts";
import { partialFiles } from "../support/faults.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { eventually, siteArgs, startHubProcess, startTestHub } from "../support/hub.ts";
import { runDcmtk, scratchDir, skipReason, startStorescp, startTogether } from "../support/peers.ts";
import { storescu } from "../support/send.ts";

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`shutdown_test: skipped: ${skip}`);

async function makeObject(dir: string, key: string): Promise<{ file: string; sop: string }> {
  const sop = uidFromKey(`shutdown/sop/${key}`);
  const file = path.join(dir, `${key}.dcm`);
  await Deno.writeFile(
    file,
    generateInstance({
      modality: "CT",
      patientName: "SHUTDOWN^TEST",
      patientId: "SHUT-1",
      studyInstanceUid: uidFromKey("shutdown/study"),
      seriesInstanceUid: uidFromKey("shutdown/series"),
      sopInstanceUid: sop,
      instanceNumber: 1,
      rows: 512,
      columns: 512,
    }),
  );
  return { file, sop };
}

function rowOf(dataDir: string, sop: string) {
  return indexRows(dataDir, "SELECT state, attempts FROM queue WHERE sop_instance_uid = ?", sop)[0] as
    | { state: string; attempts: number }
    | undefined;
}

for (
  const when of [
    { what: "an association being opened", held: false },
    { what: "the response to a C-STORE on the wire", held: true },
    // A second signal (Ctrl-C twice) ends it at once, as a crash: it did nothing until 2026-12-04.
    { what: "the response to a C-STORE on the wire, signalled twice", held: true, twice: true },
  ] as { what: string; held: boolean; twice?: boolean }[]
) {
  Deno.test({
    name:
      `SIGTERM while the agent waits for a destination that does not answer (${when.what}) stops it at once`,
    ignore: Boolean(skip),
    fn: async () => {
      const dir = await scratchDir("shutdown-");
      const scp = await startStorescp({ dir: path.join(dir, "scp"), bitPreserving: true });
      const dataDir = path.join(dir, "agent");
      const config = {
        nodes: { dest: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
        routes: [{ name: "all", match: {}, to: [{ node: "dest" }] }],
        // The forward grace the single SIGTERM waits out is 1 s here (5 s by default); signalled twice, the
        // second signal must come within the grace, so that test keeps the default.
        ...(when.twice ? {} : { queue: { stopGraceSeconds: 1 } }),
      };
      let agent = await startAgentProcess({ dataDir, config });
      let stopped = false;
      try {
        if (when.held) {
          // A first object delivered: the worker keeps its association open for the next one.
          const first = await makeObject(dir, "first");
          assert.equal((await storescu([first.file], agent)).code, 0);
          await eventually("first delivered", () => rowOf(dataDir, first.sop)?.state === "done", 20_000);
        }
        // The destination stops answering (its kernel still accepts the connection and the bytes).
        Deno.kill(scp.pid, "SIGSTOP");
        stopped = true;
        const object = await makeObject(dir, "second");
        assert.equal((await storescu([object.file], agent)).code, 0);
        await eventually("row in flight", () => rowOf(dataDir, object.sop)?.state === "in_flight", 20_000);
        await new Promise((r) => setTimeout(r, 500));

        const t0 = Date.now();
        Deno.kill(agent.pid, "SIGTERM");
        if (when.twice) {
          await new Promise((r) => setTimeout(r, 500));
          Deno.kill(agent.pid, "SIGINT");
        }
        const status = await agent.status;
        const took = Date.now() - t0;
        const log = await Deno.readTextFile(agent.logFile);
        assert.match(log, /"msg":"agent stopping","site":"standalone","signal":"SIGTERM"/);
        if (when.twice) {
          assert.equal(status.code, 130, `exit code (log: ${agent.logFile})`);
          assert.ok(took < 3_000, `stopped in ${took} ms`);
          assert.match(log, /"msg":"agent stopping at once","site":"standalone","signal":"SIGINT"/);
          // As after a crash: no clean-stop mark, the row still in flight (due again at the next start).
          await assert.rejects(Deno.stat(path.join(dataDir, "clean-stop")));
          assert.deepEqual(rowOf(dataDir, object.sop), { state: "in_flight", attempts: 0 });
        } else {
          assert.equal(status.code, 0, `exit code (log: ${agent.logFile})`);
          assert.ok(took < 12_000, `stopped in ${took} ms`);
          await Deno.stat(path.join(dataDir, "clean-stop"));
          // Not the destination's failure: back to pending, no attempt counted.
          assert.deepEqual(rowOf(dataDir, object.sop), { state: "pending", attempts: 0 });
          assert.match(
            log,
            /"msg":"stopping: associations still waiting for a destination aborted".*"waitedMs":1000\b/,
          );
          assert.match(log, /"msg":"agent stopped"/);
        }
        await agent.stop();

        // The destination is back; the next start delivers the object.
        Deno.kill(scp.pid, "SIGCONT");
        stopped = false;
        agent = await startAgentProcess({ dataDir, config });
        await eventually(
          "delivered after restart",
          () => rowOf(dataDir, object.sop)?.state === "done",
          30_000,
        );
      } finally {
        if (stopped) Deno.kill(scp.pid, "SIGCONT");
        await agent.stop();
        await scp.stop();
      }
    },
  });
}

/** Opens a request to `port` whose body never comes whole: the server waits for the rest. */
async function requestLeftOpen(port: number, path: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Content-Length: 1000\r\n\r\n{"user":`,
    ),
  );
  return conn;
}

async function stopsWithin(
  what: string,
  proc: { pid: number; status: Promise<Deno.CommandStatus>; logFile: string },
  ms: number,
  httpCut = true,
): Promise<void> {
  const t0 = Date.now();
  Deno.kill(proc.pid, "SIGTERM");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const status = await Promise.race([
    proc.status,
    new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), 2 * ms)),
  ]);
  clearTimeout(timer);
  const took = Date.now() - t0;
  assert.ok(status, `${what} still running ${took} ms after SIGTERM`);
  assert.equal(status.code, 0, `${what}: exit code (log: ${proc.logFile})`);
  assert.ok(took < ms, `${what} stopped in ${took} ms`);
  if (httpCut) {
    assert.match(await Deno.readTextFile(proc.logFile), /"msg":"stopping: HTTP requests still open are cut"/);
  }
}

Deno.test("SIGTERM stops the hub and the agent within their grace with an HTTP request still open", async () => {
  const [hub, agent] = await startTogether([startHubProcess(), startAgentProcess()]);
  const conns: Deno.TcpConn[] = [];
  try {
    conns.push(await requestLeftOpen(hub.port, "/auth/login"));
    conns.push(await requestLeftOpen(agent.httpPort, "/queue/retry"));
    await new Promise((r) => setTimeout(r, 500));
    await Promise.all([stopsWithin("the hub", hub, 12_000), stopsWithin("the agent", agent, 12_000)]);
    assert.match(await Deno.readTextFile(hub.logFile), /"msg":"hub stopping","app":"hub","signal":"SIGTERM"/);
    await Deno.stat(path.join(agent.dataDir, "clean-stop"));
  } finally {
    for (const c of conns) c.close();
    await hub.stop();
    await agent.stop();
  }
});

for (
  const hubSide of [
    { what: "takes the connection and never answers", greets: false, upgrades: false },
    { what: "takes the WebSocket and never greets", greets: false, upgrades: true },
  ]
) {
  Deno.test(`SIGTERM stops an agent whose hub ${hubSide.what} at once`, async () => {
    const hub = await startTestHub();
    const agent = await startAgentProcess({
      args: await siteArgs(hub, "north"),
      config: { hub: { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 0.2 } },
    });
    const port = hub.port;
    const held: Deno.Conn[] = [];
    let listener: Deno.Listener | undefined;
    let server: Deno.HttpServer | undefined;
    try {
      await eventually("online", async () => (await (await agent.http("/healthz")).json()).hub === "online");
      await hub.stop();
      let attempts = 0;
      // The hub's port, taken again: the stopped hub's connections may hold it a moment (a CI run saw
      // AddrInUse), so the listen is tried until it succeeds.
      await eventually("the hub's port taken again", () => {
        try {
          if (hubSide.upgrades) {
            server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req) => {
              attempts++;
              return Deno.upgradeWebSocket(req).response; // and nothing more: no welcome
            });
          } else {
            listener = Deno.listen({ hostname: "127.0.0.1", port });
            (async () => {
              for await (const c of listener!) attempts++, held.push(c);
            })();
          }
          return true;
        } catch (err) {
          if (err instanceof Deno.errors.AddrInUse) return false;
          throw err;
        }
      });
      await eventually("the agent trying the silent hub", () => attempts > 0);
      await new Promise((r) => setTimeout(r, 300));
      // It waited for the attempt's time limit: 10 s to open the WebSocket, 10 s more for the welcome.
      await stopsWithin("the agent", agent, 3_000, false);
    } finally {
      listener?.close();
      for (const c of held) c.close();
      await server?.shutdown();
      await agent.stop();
    }
  });
}

Deno.test({
  name:
    "SIGTERM while storescu sends: every object answered Success is archived and indexed after the restart",
  ignore: Boolean(skip),
  fn: async () => {
    const dir = await scratchDir("shutdown-receive-");
    const series = await writeGeneratedSeries(dir, { count: 400, rows: 256, columns: 256, seed: "shutdown" });
    const dataDir = path.join(dir, "agent");
    let agent = await startAgentProcess({ dataDir });
    try {
      const send = runDcmtk("storescu", storescuArgs(agent, series.paths), { timeoutMs: 60_000 });
      await eventually("some objects archived", async () => {
        try {
          return (await listFiles(path.join(dataDir, "archive"))).length >= 5;
        } catch {
          return false;
        }
      });
      await stopsWithin("the agent", agent, 6_000, false);
      const sent = await send;
      const acknowledged = acknowledgedFiles(sent.stderr, series.paths);
      assert.ok(acknowledged.length < series.paths.length, "stopped in the middle of the send");
      assert.notEqual(sent.code, 0, "storescu tells its sender the send did not finish");
      await Deno.stat(path.join(dataDir, "clean-stop"));
      agent = await startAgentProcess({ dataDir });
      const indexed = new Set(
        indexRows(dataDir, "SELECT sop_instance_uid AS sop FROM instances").map((r) => r.sop as string),
      );
      const archived = await archiveFiles(dataDir);
      for (const file of acknowledged) {
        const { sop } = wholeObject(await Deno.readFile(file));
        assert.ok(indexed.has(sop), `${path.basename(file)} answered Success is indexed`);
        assert.ok(archived.has(sop), `${path.basename(file)} answered Success is archived`);
      }
      // Nothing half-received is left behind.
      assert.deepEqual(await partialFiles(dataDir), []);
    } finally {
      await agent.stop();
    }
  },
});

Deno.test("a SIGTERM delivered twice at once (to a process group, and forwarded by deno task) is one clean stop", async () => {
  const dataDir = await scratchDir("shutdown-twice-");
  const agent = await startAgentProcess({ dataDir });
  Deno.kill(agent.pid, "SIGTERM");
  Deno.kill(agent.pid, "SIGTERM");
  const status = await agent.status;
  const log = await Deno.readTextFile(agent.logFile);
  // Until 2026-12-07 the second one ended it at once (exit 143, no clean-stop mark).
  assert.equal(status.code, 0, log);
  assert.doesNotMatch(log, /stopping at once/);
  await Deno.stat(path.join(dataDir, "clean-stop"));
});

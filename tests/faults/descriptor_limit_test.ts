/**
 * The agent at its limit of open file descriptors (`ulimit -n`, systemd's LimitNOFILE): connections that
 * take every descriptor left make accepting the next one fail with EMFILE. The agent logs it once, keeps
 * trying (the connection waits in the listen backlog), and serves again once descriptors come free. Before
 * 2026-12-06 the first EMFILE ended the accept loop for good: the DICOM port stayed bound and answered no
 * one again until a restart.
 */
import assert from "node:assert/strict";
import { skipReason } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { assertServing } from "../support/faults.ts";
import { eventually } from "../support/hub.ts";

const skip = skipReason("echoscu", "prlimit");
if (skip) console.warn(`descriptor_limit_test: skipped: ${skip}`);

/** Descriptors left to the agent above those it holds idle, and connections opened: more than that. */
const SPARE = 12;
const CONNECTIONS = 30;

Deno.test({
  name: "the agent out of file descriptors accepts again once some are free",
  ignore: Boolean(skip),
  async fn() {
    const agent = await startAgentProcess();
    const conns: Deno.TcpConn[] = [];
    try {
      await assertServing(agent); // the association code is loaded
      const open = [...Deno.readDirSync(`/proc/${agent.pid}/fd`)].length;
      const limit = open + SPARE;
      const set = await new Deno.Command("prlimit", {
        args: ["--pid", String(agent.pid), `--nofile=${limit}:${limit}`],
      }).output();
      assert.ok(set.success, new TextDecoder().decode(set.stderr));

      // Connections that send nothing (the ARTIM timer would end them after 30 s): the last ones find no
      // descriptor and wait in the backlog.
      for (let i = 0; i < CONNECTIONS; i++) {
        conns.push(await Deno.connect({ hostname: "127.0.0.1", port: agent.port }));
      }
      const fds = () => [...Deno.readDirSync(`/proc/${agent.pid}/fd`)].length;
      await eventually("the agent out of descriptors", () => fds() >= limit || undefined, 15_000);
      assert.ok(!agent.exited());

      // Their peers go: the descriptors come free, the waiting connections are accepted, and so is a new one.
      for (const c of conns.splice(0)) c.close();
      await assertServing(agent);
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

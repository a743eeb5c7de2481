/**
 * `dicomweb.stallSeconds`: a WADO-RS client that reads the answer's headers and then nothing, its connection
 * kept open, no longer holds the site: after the bound the tunnel stream is reset at both ends and the agent
 * closes the file it was reading, a warn line names the kind and the site, and the stall is counted. A client
 * reading slowly but steadily over the same time is not cut and gets its study whole.
 */
import assert from "node:assert/strict";
import { skipReason } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { agentMetric } from "../support/faults.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { openAnswer, readToEnd } from "../support/raw_answer.ts";

const skip = skipReason("storescu");
if (skip) console.warn(`stall_test: skipped: ${skip}`);

const STALL_SECONDS = 5;
/** Files of the agent's data directory (not its database) it holds open: the objects it is reading. */
function openObjects(pid: number, dataDir: string): number {
  let n = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      if (target.startsWith(dataDir) && !/\.db(-wal|-shm|-journal)?$/.test(target)) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

Deno.test({
  name: "dicomweb.stallSeconds cancels a WADO-RS answer whose client reads nothing, not one read slowly",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub({ stallSeconds: STALL_SECONDS });
    const north = await startAgentProcess({ aet: "NORTH", args: await siteArgs(hub, "north") });
    const dir = await Deno.makeTempDir({ prefix: "conduit-stall-" });
    const conns: Deno.TcpConn[] = [];
    try {
      // 18 MB: more than the buffers between the site and a client that reads nothing (some 10 MB).
      const series = await writeGeneratedSeries(dir, { count: 6, pixelBytes: 3_000_000, seed: "stall" });
      const sent = await storescu(series.paths, north, [], 60_000);
      assert.equal(sent.code, 0, sent.stderr);
      await eventually("north online", () => hub.sessions.get("north"));
      const token = (await hub.tokens.create("stall", "viewer")).token;
      const hubMetric = async (name: string) => {
        const text = await (await fetch(`http://127.0.0.1:${hub.port}/metrics`, {
          headers: { authorization: `Bearer ${token}` },
        })).text();
        const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
        return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
      };
      const idleFiles = openObjects(north.pid, north.dataDir);
      const path = `/dicomweb/sites/north/studies/${series.studyUid}`;

      const stalled = await openAnswer(hub.port, path, token);
      conns.push(stalled);
      const slow = await openAnswer(hub.port, path, token);
      conns.push(slow);
      // The slow client: 32 KiB every 250 ms (on loopback the hub sees a client take bytes a 64 KiB segment
      // at a time), until told to stop; it counts what it got and whether the hub closed on it.
      let slowBytes = 0;
      let slowClosed = false;
      let reading = true;
      const slowDone = (async () => {
        const buf = new Uint8Array(32 * 1024);
        while (reading) {
          let got = 0;
          while (got < buf.length) {
            const n = await slow.read(buf.subarray(got)).catch(() => null);
            if (n === null) {
              slowClosed = true;
              return;
            }
            got += n;
          }
          slowBytes += got;
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      await eventually("both retrievals under way", async () => {
        const streams = await hubMetric("conduit_hub_tunnel_streams");
        return streams === 2 && openObjects(north.pid, north.dataDir) > idleFiles || undefined;
      }, 10_000);

      // The stalled one is cancelled: one stream left at each end (the slow client's), the stall logged
      // and counted.
      await eventually("the stalled answer cancelled", async () => {
        const streams = await hubMetric("conduit_hub_tunnel_streams");
        const agentStreams = await agentMetric(north, "conduit_agent_tunnel_streams");
        return streams === 1 && agentStreams === 1 || undefined;
      }, 20_000);
      assert.equal(await hubMetric("conduit_hub_dicomweb_stalled_total"), 1);
      const warned = hub.lines.filter((l) => l.includes("the client took no bytes"));
      assert.equal(warned.length, 1, warned.join("\n"));
      const line = JSON.parse(warned[0]);
      assert.deepEqual([line.level, line.kind, line.site], ["warn", "wado", "north"]);
      assert.ok(!warned[0].includes(series.studyUid), "no UID in the log line");

      // The slow client goes on for twice the bound after that (a span the test must cover, not a wait for
      // something to happen), taking bytes all the while.
      const before = slowBytes;
      await new Promise((r) => setTimeout(r, 2 * STALL_SECONDS * 1000));
      assert.ok(!slowClosed, "the slow client was not cut");
      assert.ok(slowBytes > before, `the slow client kept reading (${before} -> ${slowBytes} bytes)`);
      assert.equal(await hubMetric("conduit_hub_dicomweb_stalled_total"), 1, "still one stall");
      // Its stream still open (the stalled one stays cancelled: one stall counted, above); the slow answer may
      // have its next object's stream open beside it at that moment (a loaded CI machine saw 2).
      const open = await hubMetric("conduit_hub_tunnel_streams") ?? 0;
      assert.ok(open >= 1, `the slow client's stream still open (${open} streams)`);

      // The stalled client, reading now, gets what was in flight and then the end of a body cut short.
      const { total, tail } = await readToEnd(stalled);
      assert.ok(total < 6 * 3_000_000, `the stalled client got ${total} bytes, not the study`);
      assert.ok(!tail.includes("--\r\n"), "no closing boundary");

      // The slow client leaves: nothing open at either end, the agent's files as they were idle.
      reading = false;
      slow.close();
      conns.pop();
      await slowDone;
      await eventually("no stream and no object open", async () => {
        const streams = await hubMetric("conduit_hub_tunnel_streams");
        const agentStreams = await agentMetric(north, "conduit_agent_tunnel_streams");
        return streams === 0 && agentStreams === 0 &&
            openObjects(north.pid, north.dataDir) <= idleFiles || undefined;
      }, 20_000);
    } finally {
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await north.stop();
      await hub.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

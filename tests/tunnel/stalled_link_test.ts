/**
 * A tunnel that stalls (TCP open, no byte either way) under DICOMweb requests: the hub answers the requests
 * it holds within heartbeat + timeout, never a hang (an answer not yet begun: a 503 problem naming the lost
 * session; one under way: its body ends short, with an error at the client), the agent reconnects on a fresh
 * connection, and the same retrieval then succeeds whole.
 */
import assert from "node:assert/strict";
import { skipReason } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, startTestHub } from "../support/hub.ts";
import { startProxy } from "../support/tcp_proxy.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("storescu");
if (skip) console.warn(`stalled_link_test: skipped: ${skip}`);

const ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*';
const HEARTBEAT = 1;
const TIMEOUT = 2;
/** Heartbeat + timeout, the hub's once-a-second check, and room for a loaded machine. */
const BOUND_S = HEARTBEAT + TIMEOUT + 1 + 5;

/** How long `work` took, in seconds. */
async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const out = await work();
  return [out, (Date.now() - t0) / 1000];
}

/** Reads `body` to its end: the bytes, or the error that ended it. */
async function drain(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<{ bytes: number; error?: string }> {
  let bytes = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return { bytes };
      bytes += value.length;
    }
  } catch (err) {
    return { bytes, error: String(err) };
  }
}

Deno.test({
  name: "a stalled tunnel: held DICOMweb requests end within heartbeat + timeout, and the retry succeeds",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub({ heartbeatSeconds: HEARTBEAT, heartbeatTimeoutSeconds: TIMEOUT });
    const proxy = startProxy(hub.port);
    const { enrollmentToken } = await hub.registry.add("north");
    const north = await startAgentProcess({
      aet: "NORTH",
      config: { hub: { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 0.5 } },
      args: ["--site", "north", "--hub", `ws://127.0.0.1:${proxy.port}/tunnel`, "--enroll", enrollmentToken],
    });
    const dir = await Deno.makeTempDir({ prefix: "conduit-stalled-link-" });
    // A request that hangs fails the test instead of holding it.
    const guard = new AbortController();
    const guardTimer = setTimeout(() => guard.abort(), 60_000);
    try {
      // 18 MB: more than the buffers between the site and the client hold.
      const series = await writeGeneratedSeries(dir, {
        count: 6,
        pixelBytes: 3_000_000,
        seed: "stalled-link",
      });
      const sent = await storescu(series.paths, north, [], 60_000);
      assert.equal(sent.code, 0, sent.stderr);
      const session = () => hub.sessions.get("north")?.session;
      const newSession = (old: unknown) => () => {
        const s = session();
        return s && s !== old && !s.isClosed ? s : undefined;
      };
      let current = await eventually("north online", session);
      const token = (await hub.tokens.create("stalled", "viewer")).token;
      const url = `http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies/${series.studyUid}`;
      const init = { headers: { authorization: `Bearer ${token}`, accept: ACCEPT }, signal: guard.signal };

      // Stalled before the site answers: a problem, not a hang.
      proxy.freezeAll();
      const [early, earlyS] = await timed(() => fetch(url, init));
      const problem = await early.json();
      assert.equal(early.status, 503, JSON.stringify(problem));
      assert.match(early.headers.get("content-type") ?? "", /application\/problem\+json/);
      assert.match(problem.detail, /session closed/);
      assert.ok(earlyS < BOUND_S, `the held request was answered after ${earlyS} s`);
      current = await eventually("north on a new session", newSession(current), 30_000);
      proxy.thaw();

      // Stalled mid-answer: the body ends short with an error at the client.
      const mid = await fetch(url, init);
      assert.equal(mid.status, 200);
      const reader = mid.body!.getReader();
      let got = 0;
      while (got < 1_000_000) got += (await reader.read()).value?.length ?? 0;
      proxy.freezeAll();
      const [cut, cutS] = await timed(() => drain(reader));
      assert.ok(cut.error, `the cut answer ended as if whole (${got + cut.bytes} bytes)`);
      assert.ok(got + cut.bytes < 6 * 3_000_000, "the cut answer carried the study");
      assert.ok(cutS < BOUND_S, `the cut answer ended after ${cutS} s`);
      assert.ok(hub.lines.some((l) => l.includes("DICOMweb response cut short")), "the cut is logged");
      await eventually("north on a new session", newSession(current), 30_000);
      proxy.thaw();

      // The retry after the reconnect: the whole study.
      const again = await fetch(url, init);
      assert.equal(again.status, 200);
      const whole = await drain(again.body!.getReader());
      assert.equal(whole.error, undefined);
      assert.ok(whole.bytes > 6 * 3_000_000, `the retry carried ${whole.bytes} bytes`);
    } finally {
      clearTimeout(guardTimer);
      await north.stop();
      proxy.close();
      await hub.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

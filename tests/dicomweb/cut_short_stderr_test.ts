/**
 * A DICOMweb answer the hub cuts short (the stall bound, `dicomweb.stallSeconds`; the site's tunnel lost in
 * the middle of a WADO-RS) still ends abnormally for its client, and the hub's output (stdout and stderr of
 * the real hub process) holds only JSON lines: until 2026-12-05 Deno's server printed each such error with
 * its stack (`Error: ...` and `at ...` lines, not JSON, not through the hub's logger), as it does for any
 * response body that fails unless the server has its own `onError`.
 */
import assert from "node:assert/strict";
import { skipReason } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, hubAdmin, startHubProcess } from "../support/hub.ts";
import { ACCEPT_DICOM, openAnswer, readToEnd } from "../support/raw_answer.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("storescu");
if (skip) console.warn(`cut_short_stderr_test: skipped: ${skip}`);

/** The hub's output lines (its log file, less the spawn line) that are not JSON objects. */
async function notJson(logFile: string): Promise<string[]> {
  return (await Deno.readTextFile(logFile)).split("\n").filter((l) => l.trim() && !l.startsWith("[peers] "))
    .filter((l) => {
      try {
        return typeof JSON.parse(l) !== "object";
      } catch {
        return true;
      }
    });
}

Deno.test({
  name:
    "a DICOMweb answer cut short by a stall or a lost tunnel fails for its client, with no stack on stderr",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "conduit-cut-short-" });
    const config = `${dir}/hub.yaml`;
    await Deno.writeTextFile(config, "dicomweb:\n  stallSeconds: 2\n");
    const hub = await startHubProcess({ args: ["--config", config] });
    const admin = async (args: string[]) => (await hubAdmin(hub.dataDir, [...args, "--json"])).json!;
    const token = String((await admin(["token", "create", "t", "--role", "viewer"])).token);
    const enroll = String((await admin(["site", "add", "north"])).enrollmentToken);
    const north = await startAgentProcess({
      args: ["--site", "north", "--hub", hub.tunnelUrl, "--enroll", enroll],
    });
    let stalled: Deno.TcpConn | undefined;
    try {
      // 30 MB: more than the buffers between the site and a client that reads nothing (some 10 MB).
      const series = await writeGeneratedSeries(dir, { count: 10, pixelBytes: 3_000_000, seed: "cut-short" });
      assert.equal((await storescu(series.paths, north, [], 60_000)).code, 0);
      await eventually("north online", async () => {
        const r = await fetch(`http://127.0.0.1:${hub.port}/healthz`);
        return (await r.json()).sites === 1 || undefined;
      });
      const path = `/dicomweb/sites/north/studies/${series.studyUid}`;
      const log = () => Deno.readTextFile(hub.logFile);

      // A client that reads nothing: cancelled after the bound; reading then, it gets what was in flight and
      // the end of a body cut short (no closing boundary).
      stalled = await openAnswer(hub.port, path, token);
      await eventually(
        "the stall logged",
        async () => (await log()).includes("the client took no bytes"),
        20_000,
      );
      const { total, tail } = await readToEnd(stalled);
      assert.ok(total < 10 * 3_000_000, `the stalled client got ${total} bytes, not the study`);
      assert.ok(!tail.includes("--\r\n"), "no closing boundary");

      // A client reading while the site's agent dies: its body fails rather than ending as if whole.
      const res = await fetch(`http://127.0.0.1:${hub.port}${path}`, {
        headers: { authorization: `Bearer ${token}`, accept: ACCEPT_DICOM },
      });
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      let got = (await reader.read()).value?.length ?? 0;
      await north.kill();
      await assert.rejects(async () => {
        while (true) {
          const r = await reader.read();
          if (r.done) break;
          got += r.value.length;
        }
      }, `the body ended as if whole after ${got} bytes`);
      assert.ok(got < 10 * 3_000_000, `${got} bytes`);
      await eventually("the cut logged", async () => (await log()).includes("DICOMweb response cut short"));

      // All the hub wrote, once it has ended: JSON lines only.
      await hub.stop();
      assert.deepEqual(await notJson(hub.logFile), []);
    } finally {
      stalled?.close();
      await north.stop();
      await hub.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

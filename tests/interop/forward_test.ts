/**
 * Store-and-forward with real peers: routing to storescp and Orthanc byte-identical, a destination
 * that is down then up (backoff visible), a permanent failure in the dead letter replayed after the
 * cause is fixed, and pause/resume.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { freePort, runDcmtk, skipReason, sleep, startOrthanc, startStorescp } from "../support/peers.ts";
import { agentCli, type AgentProcess, datasetBytes, listFiles, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { readPart10Header } from "@conduit/shared/dicom";

const skip = skipReason("storescp", "storescu", "Orthanc", "dcmodify");
if (skip) console.warn(`forward_test: skipped: ${skip}`);

const FAST_RETRY = { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 50 };

async function queueRows(agent: AgentProcess, state: string) {
  return await (await agent.http(`/queue?state=${state}&limit=10000`)).json() as {
    id: number;
    sopInstanceUid: string;
    destination: string;
    attempts: number;
    updatedAt: number;
    lastStatus: number | null;
  }[];
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function archived(agent: AgentProcess): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of await listFiles(path.join(agent.dataDir, "archive"))) out.set(path.basename(f, ".dcm"), f);
  return out;
}

Deno.test({
  name: "routes forward each object to storescp and Orthanc byte-identical; exclusions hold",
  ignore: !!skip,
  fn: async () => {
    const scpDir = await Deno.makeTempDir({ prefix: "fwd-scp-" });
    const scp = await startStorescp({ dir: scpDir, bitPreserving: true, extraArgs: ["-uf"] });
    const orthanc = await startOrthanc({ storageDir: await Deno.makeTempDir({ prefix: "fwd-orthanc-" }) });
    const agent = await startAgentProcess({
      config: {
        nodes: {
          archive: { aet: scp.aet, host: "127.0.0.1", port: scp.port },
          pacs: { aet: orthanc.aet, host: "127.0.0.1", port: orthanc.port },
        },
        routes: [
          { name: "everything", to: [{ node: "archive" }] },
          {
            name: "mr-to-pacs",
            match: { modality: ["MR"] },
            exclude: { sopClass: ["1.2.840.10008.5.1.4.1.1.88.*"] },
            to: [{ node: "pacs" }],
          },
        ],
      },
    });
    try {
      const ct = await writeGeneratedSeries(await Deno.makeTempDir(), {
        count: 4,
        rows: 64,
        columns: 64,
        modality: "CT",
        seed: "fwd-ct",
      });
      const mr = await writeGeneratedSeries(await Deno.makeTempDir(), {
        count: 3,
        rows: 64,
        columns: 64,
        modality: "MR",
        seed: "fwd-mr",
      });
      assert.equal((await storescu([...ct.paths, ...mr.paths], agent)).code, 0);
      await until("7 + 3 rows done", async () => (await queueRows(agent, "done")).length === 10);
      const mine = await archived(agent);
      const atScp = await listFiles(scpDir);
      assert.equal(atScp.length, 7);
      for (const f of atScp) {
        const sop = readPart10Header(await Deno.readFile(f)).sopInstanceUid!;
        assert.ok(
          Buffer.from(await datasetBytes(f)).equals(Buffer.from(await datasetBytes(mine.get(sop)!))),
          sop,
        );
      }
      const ids = await (await orthanc.rest("/instances")).json() as string[];
      assert.equal(ids.length, 3, "only the MR series goes to the PACS");
      for (const id of ids) {
        const file = new Uint8Array(await (await orthanc.rest(`/instances/${id}/file`)).arrayBuffer());
        const h = readPart10Header(file);
        const mineFile = await Deno.readFile(mine.get(h.sopInstanceUid!)!);
        assert.ok(
          Buffer.from(file.subarray(h.datasetOffset)).equals(
            Buffer.from(mineFile.subarray(readPart10Header(mineFile).datasetOffset)),
          ),
        );
      }
      const metrics = await (await agent.http("/metrics")).text();
      assert.match(metrics, /conduit_agent_forward_attempts_total\{destination="pacs",outcome="done"\} 3/);
      assert.match(metrics, /conduit_agent_queue_rows\{destination="archive",state="done"\} 7/);
    } finally {
      await agent.stop();
      await scp.stop();
      await orthanc.stop();
    }
  },
});

Deno.test({
  name: "a destination down for a while gets everything once it is up, after backing off",
  ignore: !!skip,
  fn: async () => {
    const port = freePort();
    const agent = await startAgentProcess({
      config: {
        nodes: { later: { aet: "LATER", host: "127.0.0.1", port } },
        routes: [{ name: "all", to: [{ node: "later" }] }],
        queue: FAST_RETRY,
      },
    });
    const scpDir = await Deno.makeTempDir({ prefix: "fwd-later-" });
    try {
      const series = await writeGeneratedSeries(await Deno.makeTempDir(), {
        count: 5,
        rows: 32,
        columns: 32,
        seed: "later",
      });
      assert.equal((await storescu(series.paths, agent)).code, 0);
      let failed: Awaited<ReturnType<typeof queueRows>> = [];
      await until("several failed attempts", async () => {
        failed = await queueRows(agent, "failed");
        return failed.length === 5 && failed.every((r) => r.attempts >= 3);
      });
      assert.ok(failed.every((r) => r.lastStatus === null), "association failures have no DIMSE status");
      // Backoff: with a 0.2 s base and a 1 s cap, a row tries about twice a second at most once capped;
      // without backoff the workers would retry as fast as a refused connection returns (hundreds).
      await sleep(2000);
      let later: typeof failed = [];
      await until(
        "all five failed again",
        async () => (later = await queueRows(agent, "failed")).length === 5,
      );
      for (const row of later) {
        const before = failed.find((r) => r.id === row.id)!;
        const tries = row.attempts - before.attempts;
        assert.ok(tries >= 1 && tries <= 12, `row ${row.id} tried ${tries} times in 2 s`);
        assert.ok(row.updatedAt > before.updatedAt, "each attempt is recorded with its time");
      }
      const scp = await startStorescp({ dir: scpDir, port, aet: "LATER", bitPreserving: true });
      try {
        await until("all delivered", async () => (await queueRows(agent, "done")).length === 5);
        assert.equal((await listFiles(scpDir)).length, 5);
        const done = await queueRows(agent, "done");
        assert.ok(done.every((r) => r.attempts >= 4), "each row counts its failed attempts and the last one");
      } finally {
        await scp.stop();
      }
      const metrics = await (await agent.http("/metrics")).text();
      assert.match(
        metrics,
        /conduit_agent_forward_failures_total\{destination="later",status="association"\} \d+/,
      );
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name: "a destination back up takes the rows it did not answer at once, not each at the end of its backoff",
  ignore: !!skip,
  fn: async () => {
    const port = freePort();
    // Backoff of up to a minute: without the prompt retry, five rows would go over the next 60 s.
    const agent = await startAgentProcess({
      config: {
        nodes: { back: { aet: "BACK", host: "127.0.0.1", port } },
        routes: [{ name: "all", to: [{ node: "back" }] }],
        queue: { backoffBaseSeconds: 60, backoffCapSeconds: 60, maxAttempts: 10 },
      },
    });
    const scpDir = await Deno.makeTempDir({ prefix: "fwd-back-" });
    try {
      const dir = await Deno.makeTempDir();
      const series = await writeGeneratedSeries(dir, { count: 6, rows: 16, columns: 16, seed: "back" });
      assert.equal((await storescu(series.paths.slice(0, 5), agent)).code, 0);
      await until("five refused once", async () => {
        const failed = await queueRows(agent, "failed");
        return failed.length === 5 && failed.every((r) => r.attempts === 1 && r.lastStatus === null);
      });
      const scp = await startStorescp({ dir: scpDir, port, aet: "BACK", bitPreserving: true });
      try {
        // A new object goes at once; its Success says the node is back, and the five follow it.
        assert.equal((await storescu(series.paths.slice(5), agent)).code, 0);
        await until("all six delivered", async () => (await queueRows(agent, "done")).length === 6, 15_000);
        assert.equal((await listFiles(scpDir)).length, 6);
      } finally {
        await scp.stop();
      }
    } finally {
      await agent.stop();
      await Deno.remove(scpDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "a permanent failure goes to the dead letter and is replayed once the cause is fixed; pause holds rows",
  ignore: !!skip,
  fn: async () => {
    const port = freePort();
    const scpDir = await Deno.makeTempDir({ prefix: "fwd-dead-" });
    // storescp without --promiscuous does not accept a private SOP class: our C-STORE gets 0x0122.
    let scp = await startStorescp({ dir: scpDir, port, promiscuous: false, bitPreserving: true });
    const agent = await startAgentProcess({
      config: {
        dimse: { acceptAnySopClass: true },
        nodes: { strict: { aet: scp.aet, host: "127.0.0.1", port } },
        routes: [{ name: "all", to: [{ node: "strict" }] }],
        queue: FAST_RETRY,
      },
    });
    try {
      const [file] = (await writeGeneratedSeries(await Deno.makeTempDir(), {
        count: 1,
        rows: 16,
        columns: 16,
        seed: "dead",
      })).paths;
      const privateCopy = file.replace(/\.dcm$/, "-private.dcm");
      await Deno.copyFile(file, privateCopy);
      const mod = await runDcmtk("dcmodify", ["-nb", "-m", "(0008,0016)=1.2.826.0.1.99999.1", privateCopy]);
      assert.equal(mod.code, 0, mod.stderr);
      const cfg = path.join(path.dirname(privateCopy), "storescu.cfg");
      await Deno.writeTextFile(
        cfg,
        `[[TransferSyntaxes]]\n[Uncompressed]\nTransferSyntax1 = LittleEndianExplicit\n[[PresentationContexts]]\n[Private]\nPresentationContext1 = 1.2.826.0.1.99999.1\\Uncompressed\n[[Profiles]]\n[Private]\nPresentationContexts = Private\n`,
      );
      const sent = await runDcmtk("storescu", [
        "-xf",
        cfg,
        "Private",
        "-aec",
        agent.aet,
        "127.0.0.1",
        String(agent.port),
        privateCopy,
      ]);
      assert.equal(sent.code, 0, sent.stderr);
      await until("the row is dead", async () => (await queueRows(agent, "dead")).length === 1);
      const [dead] = await queueRows(agent, "dead");
      assert.equal(dead.lastStatus, 0x0122);
      assert.equal(dead.attempts, 1, "a permanent failure is not retried");
      assert.equal((await listFiles(scpDir)).length, 0);

      // Fix the cause (accept any SOP class), pause, replay: nothing moves until resume.
      await scp.stop();
      scp = await startStorescp({ dir: scpDir, port, promiscuous: true, bitPreserving: true });
      await (await fetch(`http://127.0.0.1:${agent.httpPort}/queue/pause/strict`, { method: "POST" })).body
        ?.cancel();
      const cli = await agentCli([
        "queue",
        "replay",
        "--destination",
        "strict",
        "--http-port",
        String(agent.httpPort),
        "--json",
      ]);
      assert.equal(cli.code, 0, cli.stderr);
      const replay = JSON.parse(cli.stdout);
      assert.equal(replay.replayed, 1);
      await sleep(1500);
      assert.equal((await queueRows(agent, "pending")).length, 1, "paused: the replayed row waits");
      await (await fetch(`http://127.0.0.1:${agent.httpPort}/queue/resume/strict`, { method: "POST" })).body
        ?.cancel();
      await until("delivered after the fix", async () => (await queueRows(agent, "done")).length === 1);
      assert.equal((await listFiles(scpDir)).length, 1);
    } finally {
      await agent.stop();
      await scp.stop();
    }
  },
});

Deno.test({
  name: "retention removes forwarded files after the delay and keeps a tombstone; unrouted objects stay",
  ignore: !!skip,
  fn: async () => {
    const scpDir = await Deno.makeTempDir({ prefix: "fwd-retention-" });
    const scp = await startStorescp({ dir: scpDir, bitPreserving: true });
    const agent = await startAgentProcess({
      config: {
        nodes: { archive: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
        routes: [{ name: "ct-only", match: { modality: ["CT"] }, to: [{ node: "archive" }] }],
        archive: { removeAfterForwardSeconds: 1 },
      },
    });
    try {
      const ct = await writeGeneratedSeries(await Deno.makeTempDir(), {
        count: 3,
        rows: 16,
        columns: 16,
        modality: "CT",
        seed: "ret-ct",
      });
      const mr = await writeGeneratedSeries(await Deno.makeTempDir(), {
        count: 2,
        rows: 16,
        columns: 16,
        modality: "MR",
        seed: "ret-mr",
      });
      assert.equal((await storescu([...ct.paths, ...mr.paths], agent)).code, 0);
      await until("3 delivered", async () => (await queueRows(agent, "done")).length === 3);
      await until(
        "forwarded files removed",
        async () => (await listFiles(path.join(agent.dataDir, "archive"))).length === 2,
        10_000,
      );
      assert.equal((await listFiles(scpDir)).length, 3);
      const metrics = await (await agent.http("/metrics")).text();
      assert.match(metrics, /conduit_agent_objects_removed_total 3/);
      const health = await (await agent.http("/healthz")).json();
      const left = await listFiles(path.join(agent.dataDir, "archive"));
      let size = 0;
      for (const f of left) size += (await Deno.stat(f)).size;
      assert.equal(health.archiveBytes, size, "archive size counts only files still held");
      // A re-send of a removed object is recognised as already handled (stored once, not forwarded again).
      assert.equal((await storescu([ct.paths[0]], agent)).code, 0);
      await sleep(500);
      assert.equal((await queueRows(agent, "done")).length, 3);
    } finally {
      await agent.stop();
      await scp.stop();
    }
  },
});

Deno.test({
  name:
    "a forward worker keeps its association between batches while objects trickle in, and opens a new one for other contexts",
  ignore: !!skip,
  fn: async () => {
    const scpDir = await Deno.makeTempDir({ prefix: "fwd-held-" });
    const scp = await startStorescp({ dir: scpDir, bitPreserving: true, extraArgs: ["-uf", "-v"] });
    const agent = await startAgentProcess({
      config: {
        nodes: { archive: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
        routes: [{ name: "all", to: [{ node: "archive" }] }],
        queue: { concurrency: 1 },
      },
    });
    const associations = async () =>
      // Acknowledged, not Received: storescp also logs the harness's readiness probe as received.
      ((await Deno.readTextFile(scp.logFile)).match(/Association Acknowledged/g) ?? []).length;
    try {
      const ct = await writeGeneratedSeries(await Deno.makeTempDir(), {
        count: 6,
        rows: 32,
        columns: 32,
        seed: "held-ct",
      });
      // Three storescu runs, a few hundred ms apart: three or more batches, one association.
      for (let i = 0; i < 3; i++) {
        assert.equal((await storescu(ct.paths.slice(2 * i, 2 * i + 2), agent)).code, 0);
        await until(`pair ${i + 1} delivered`, async () => (await listFiles(scpDir)).length === 2 * (i + 1));
        await sleep(300);
      }
      await until("six delivered", async () => (await listFiles(scpDir)).length === 6);
      assert.equal(await associations(), 1, "one association for the three batches");
      // An MR object needs a context the held association lacks: a new association.
      const mr = await writeGeneratedSeries(await Deno.makeTempDir(), {
        count: 1,
        rows: 32,
        columns: 32,
        seed: "held-mr",
        modality: "MR",
      });
      assert.equal((await storescu(mr.paths, agent)).code, 0);
      await until("seven delivered", async () => (await listFiles(scpDir)).length === 7);
      assert.equal(await associations(), 2);
      // The CT association was released for the MR one; the MR one is released once idle for longer
      // than the hold (storescp logs each release).
      const releases = async () =>
        ((await Deno.readTextFile(scp.logFile)).match(/Association Release/g) ?? []).length;
      await until("both released", async () => (await releases()) === 2, 10_000);
    } finally {
      await agent.stop();
      await scp.stop();
    }
  },
});

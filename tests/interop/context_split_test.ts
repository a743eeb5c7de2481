/**
 * Sends whose objects need more than the 128 presentation contexts of one association go over several
 * (one per group of (SOP class, syntax) pairs) instead of being refused: a C-MOVE from the agent to
 * DCMTK's storescp, and a store to a node, of 130 objects of 130 SOP classes.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { skipReason, startStorescp } from "../support/peers.ts";
import { datasetBytes, listFiles, startAgentProcess } from "../support/agent.ts";
import { retrieveWith, storescu } from "../support/send.ts";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { readPart10Header } from "@conduit/shared/dicom";

const skip = skipReason("storescp", "storescu", "movescu", "/usr/bin/python3");
if (skip) console.warn(`context_split_test: skipped: ${skip}`);

const COUNT = 130;
/** The SOP class of object `i`: under the storage root, which the agent accepts; storescp takes it too. */
const classOf = (i: number) => `1.2.840.10008.5.1.4.1.1.${9100 + i}`;

/** Every object of the folder by SOP Instance UID, with its data set. */
async function bySop(dir: string): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const f of await listFiles(dir)) {
    const sop = readPart10Header(await Deno.readFile(f)).sopInstanceUid!;
    out.set(sop, await datasetBytes(f));
  }
  return out;
}

Deno.test({
  name: "C-MOVE and store of objects spanning 130 SOP classes: several associations, every object delivered",
  ignore: !!skip,
  fn: async () => {
    const scratch = await Deno.makeTempDir({ prefix: "context-split-" });
    const moveScp = await startStorescp({ dir: `${scratch}/moved`, bitPreserving: true, extraArgs: ["-uf"] });
    const storeScp = await startStorescp({
      dir: `${scratch}/stored`,
      aet: "STORED",
      bitPreserving: true,
      extraArgs: ["-uf"],
    });
    const agent = await startAgentProcess({
      config: {
        nodes: {
          archive: { aet: moveScp.aet, host: "127.0.0.1", port: moveScp.port },
          stored: { aet: storeScp.aet, host: "127.0.0.1", port: storeScp.port },
        },
      },
    });
    try {
      // One study of 130 objects, each given a SOP class of its own (under the storage root, which the
      // agent accepts; storescp takes unknown classes with --promiscuous).
      const specs = [...generateStudies({
        seed: "context-split",
        patients: 1,
        studiesPerPatient: 1,
        series: [{ modality: "CT", instances: COUNT }],
        rows: 8,
        columns: 8,
      })];
      const source = `${scratch}/source`;
      await Deno.mkdir(source);
      const files = await Promise.all(specs.map(async (spec, i) => {
        const file = path.join(source, `${String(i).padStart(3, "0")}.dcm`);
        await Deno.writeFile(file, generateInstance(spec));
        return file;
      }));
      const py = new Deno.Command("/usr/bin/python3", {
        args: [
          "-c",
          `import pydicom, sys
for i, f in enumerate(sys.argv[1:]):
    d = pydicom.dcmread(f)
    d.SOPClassUID = d.file_meta.MediaStorageSOPClassUID = "${classOf(0).slice(0, -4)}%d" % (9100 + i)
    d.save_as(f)`,
          ...files,
        ],
        stderr: "piped",
      });
      const out = await py.output();
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
      // Into the agent in batches that fit storescu's own associations (a configuration that lists the
      // classes: storescu refuses a class it does not know otherwise).
      const cfg = path.join(scratch, "storescu.cfg");
      const batches = Array.from(
        { length: Math.ceil(COUNT / 50) },
        (_, b) => files.slice(b * 50, b * 50 + 50),
      );
      await Deno.writeTextFile(
        cfg,
        [
          "[[TransferSyntaxes]]\n[Uncompressed]\nTransferSyntax1 = LittleEndianExplicit\n[[PresentationContexts]]",
          ...batches.map((batch, b) =>
            [
              `[Batch${b}]`,
              ...batch.map((_, i) => `PresentationContext${i + 1} = ${classOf(b * 50 + i)}\\Uncompressed`),
            ]
              .join("\n")
          ),
          "[[Profiles]]",
          ...batches.map((_, b) => `[Batch${b}]\nPresentationContexts = Batch${b}`),
        ].join("\n") + "\n",
      );
      for (const [b, batch] of batches.entries()) {
        const sent = await storescu(batch, agent, ["-xf", cfg, `Batch${b}`]);
        assert.equal(sent.code, 0, sent.stderr);
      }
      const sources = await bySop(source);

      // 1. C-MOVE the study to storescp: 130 (SOP class, syntax) pairs, two associations.
      const moved = await retrieveWith(
        "movescu",
        agent,
        ["QueryRetrieveLevel=STUDY", `StudyInstanceUID=${specs[0].studyInstanceUid}`],
        ["-S", "-aem", moveScp.aet],
      );
      assert.equal(moved.code, 0, moved.stderr);
      const got = await bySop(moveScp.dir);
      assert.equal(got.size, COUNT);
      for (const [sop, dataset] of sources) {
        assert.ok(Buffer.from(got.get(sop)!).equals(Buffer.from(dataset)), `${sop} moved changed`);
      }

      // 2. Store the study into a node: likewise.
      const res = await agent.http("/nodes/stored/store", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ studyInstanceUid: specs[0].studyInstanceUid }),
      });
      const report = await res.json();
      assert.deepEqual(report, { sent: COUNT, failed: [] });
      const stored = await bySop(storeScp.dir);
      assert.equal(stored.size, COUNT);
      for (const [sop, dataset] of sources) {
        assert.ok(Buffer.from(stored.get(sop)!).equals(Buffer.from(dataset)), `${sop} stored changed`);
      }

      const log = await Deno.readTextFile(agent.logFile);
      assert.match(log, /C-MOVE split over several associations.*"associations":2/);
    } finally {
      await agent.stop();
      await moveScp.stop();
      await storeScp.stop();
      await Deno.remove(scratch, { recursive: true }).catch(() => {});
    }
  },
});

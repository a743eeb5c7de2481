/**
 * A node retrieve by C-GET from a real Orthanc brings compressed objects back byte-exact: JPEG Baseline,
 * JPEG Extended, JPEG-LS, JPEG 2000 and MPEG-4 objects arrive in the syntax they were stored in, with the
 * same data set, also when one study holds one SOP class in two syntaxes (one context per class and
 * syntax, PS3.4 C.5.3: the SCP accepts one syntax per context, so one context listing all of them would
 * make Orthanc transcode every object but one, or fail the video it cannot transcode).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import {
  freePort,
  PYDICOM_TEST_FILES_DIR,
  runDcmtk,
  skipReason,
  startDcmqrscp,
  startOrthanc,
} from "../support/peers.ts";
import { listFiles, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { mpeg4Object } from "../support/video.ts";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { encodingOf, findElement, parseDataSet, PIXEL_DATA, readPart10Header } from "@conduit/shared/dicom";

const skip = skipReason("Orthanc", "dcmodify");
if (skip) console.warn(`get_syntaxes_test: skipped: ${skip}`);

/**
 * Transfer syntax, data set bytes and pixel data value (fragments and sequence delimiter) of a Part 10
 * file. (The JPEG-LS test file gives its pixel data VR OW, which Orthanc makes OB.)
 */
function split(file: Uint8Array): { transferSyntax: string; dataset: Uint8Array; pixelData: Uint8Array } {
  const header = readPart10Header(file);
  const dataset = file.subarray(header.datasetOffset);
  const pixels = findElement(parseDataSet(dataset, encodingOf(header.transferSyntax)).dataset, PIXEL_DATA);
  assert.ok(pixels, "no pixel data");
  return {
    transferSyntax: header.transferSyntax,
    dataset,
    pixelData: dataset.subarray(pixels.valueOffset, pixels.end),
  };
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

Deno.test({
  name: "C-GET from Orthanc: JPEG, JPEG-LS, JPEG 2000 and MPEG-4 objects arrive byte-exact in their syntax",
  ignore: !!skip,
  fn: async () => {
    const orthanc = await startOrthanc({ storageDir: await Deno.makeTempDir({ prefix: "orthanc-" }) });
    const agent = await startAgentProcess({
      port: freePort(),
      config: {
        nodes: { pacs: { aet: orthanc.aet, host: "127.0.0.1", port: orthanc.port, retrieve: "get" } },
      },
    });
    try {
      const read = (name: string) => Deno.readFile(path.join(PYDICOM_TEST_FILES_DIR, name));
      // JPEG2000.dcm and JPGExtended.dcm: one study, one series, both Secondary Capture; the video joins
      // them in that study.
      const sources: Uint8Array[] = [
        await read("SC_rgb_jpeg_dcmtk.dcm"), // JPEG Baseline
        await read("MR_small_jpeg_ls_lossless.dcm"), // JPEG-LS Lossless
        await read("JPEG2000.dcm"), // JPEG 2000
        await read("JPGExtended.dcm"), // JPEG Extended
      ];
      const jpegStudy = "1.3.6.1.4.1.5962.1.2.8.20040826185059.5457";
      sources.push(mpeg4Object(jpegStudy).bytes);
      const uids: { sop: string; study: string }[] = [];
      for (const body of sources) {
        const r = await orthanc.rest("/instances", { method: "POST", body: body as Uint8Array<ArrayBuffer> });
        if (r.status !== 200) assert.fail(await r.text());
        const id = (await r.json()).ID;
        const tags = await (await orthanc.rest(`/instances/${id}/simplified-tags`)).json();
        uids.push({ sop: tags.SOPInstanceUID, study: tags.StudyInstanceUID });
      }
      assert.equal(uids[4].study, jpegStudy);

      for (const study of new Set(uids.map((u) => u.study))) {
        const res = await fetch(`http://127.0.0.1:${agent.httpPort}/nodes/pacs/retrieve`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ studyInstanceUid: study }),
        });
        const report = await res.json();
        assert.equal(report.ok, true, JSON.stringify(report));
      }

      const archived = await listFiles(path.join(agent.dataDir, "archive"));
      for (const [i, source] of sources.entries()) {
        const file = archived.find((f) => f.endsWith(`/${uids[i].sop}.dcm`));
        assert.ok(file, `object ${i} not archived`);
        const got = split(await Deno.readFile(file));
        const sent = split(source);
        assert.equal(got.transferSyntax, sent.transferSyntax, `object ${i} changed syntax`);
        assert.ok(same(got.pixelData, sent.pixelData), `object ${i} changed pixel data`);
        // Orthanc (DCMTK) sends the others re-encoded (sequences given explicit lengths, trailing padding
        // dropped), but the generated video as it was stored.
        if (i === 4) assert.ok(same(got.dataset, sent.dataset), "the video's data set changed");
      }
    } finally {
      await agent.stop();
      await orthanc.stop();
    }
  },
});

Deno.test({
  name:
    "C-GET from Orthanc: classes whose contexts exceed one association come over several, series by series",
  ignore: !!skip,
  fn: async () => {
    const orthanc = await startOrthanc({ storageDir: await Deno.makeTempDir({ prefix: "orthanc-" }) });
    const agent = await startAgentProcess({
      port: freePort(),
      config: {
        nodes: { pacs: { aet: orthanc.aet, host: "127.0.0.1", port: orthanc.port, retrieve: "get" } },
      },
    });
    try {
      // One study of seven series, each of another image storage class: 7 × 20 contexts, above 127.
      const classes = ["2", "4", "7", "1", "1.1", "20", "128"].map((c) => `1.2.840.10008.5.1.4.1.1.${c}`);
      const specs = [...generateStudies({
        seed: "get-split",
        patients: 1,
        studiesPerPatient: 1,
        series: classes.map(() => ({ modality: "CT" as const, instances: 1 })),
        rows: 8,
        columns: 8,
      })];
      const dir = await Deno.makeTempDir({ prefix: "get-split-" });
      for (const [i, spec] of specs.entries()) {
        const file = path.join(dir, `${i}.dcm`);
        await Deno.writeFile(file, generateInstance(spec));
        const mod = await runDcmtk("dcmodify", ["-nb", "-m", `(0008,0016)=${classes[i]}`, file]);
        assert.equal(mod.code, 0, mod.stderr);
        const r = await orthanc.rest("/instances", { method: "POST", body: await Deno.readFile(file) });
        if (r.status !== 200) assert.fail(await r.text());
        await r.body?.cancel();
      }
      const res = await fetch(`http://127.0.0.1:${agent.httpPort}/nodes/pacs/retrieve`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ studyInstanceUid: specs[0].studyInstanceUid }),
      });
      const report = await res.json();
      assert.equal(report.ok, true, JSON.stringify(report));
      assert.equal(report.expected, 7);
      assert.equal(report.arrived, 7);
      assert.equal(report.completed, 7);
      const log = await Deno.readTextFile(agent.logFile);
      assert.match(log, /C-GET split over several associations.*"associations":2/);
      const archived = await listFiles(path.join(agent.dataDir, "archive"));
      for (const [i, spec] of specs.entries()) {
        const file = archived.find((f) => f.endsWith(`/${spec.sopInstanceUid}.dcm`));
        assert.ok(file, `object ${i} not archived`);
        assert.equal(readPart10Header(await Deno.readFile(file)).sopClassUid, classes[i]);
      }
    } finally {
      await agent.stop();
      await orthanc.stop();
    }
  },
});

Deno.test({
  name:
    "C-GET from another agent: it lists each instance's syntax, only those are proposed, objects arrive as stored",
  ignore: !!skipReason("storescu"),
  fn: async () => {
    const source = await startAgentProcess({ aet: "SOURCE" });
    const agent = await startAgentProcess({
      config: { nodes: { src: { aet: source.aet, host: "127.0.0.1", port: source.port, retrieve: "get" } } },
    });
    const dir = await Deno.makeTempDir({ prefix: "get-agent-" });
    try {
      // One study: a JPEG Extended object and an MPEG-4 video (Secondary Capture, Video Photographic).
      const jpeg = path.join(PYDICOM_TEST_FILES_DIR, "JPGExtended.dcm");
      const study = "1.3.6.1.4.1.5962.1.2.8.20040826185059.5457"; // the JPEG file's
      const video = path.join(dir, "video.dcm");
      await Deno.writeFile(video, mpeg4Object(study).bytes);
      for (const [file, extra] of [[jpeg, []], [video, ["-R", "-xn"]]] as const) {
        const sent = await storescu([file], source, [...extra]);
        assert.equal(sent.code, 0, `${file}: ${sent.stdout} ${sent.stderr}`);
      }
      const res = await agent.http("/nodes/src/retrieve", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ studyInstanceUid: study }),
      });
      const report = await res.json();
      assert.equal(report.ok, true, JSON.stringify(report));
      assert.equal(report.arrived, 2);
      // Per class, the uncompressed context and the one syntax the source listed: 4 in all, not 56.
      const finished = (await Deno.readTextFile(agent.logFile)).split("\n").find((l) =>
        l.includes("retrieve finished")
      );
      assert.match(finished ?? "", /"contexts":4\b/);
      const theirs = await listFiles(path.join(source.dataDir, "archive"));
      const ours = await listFiles(path.join(agent.dataDir, "archive"));
      assert.equal(ours.length, 2);
      for (const file of theirs) {
        const mine = ours.find((f) => path.basename(f) === path.basename(file));
        assert.ok(mine, `${path.basename(file)} not retrieved`);
        const [a, b] = [split(await Deno.readFile(file)), split(await Deno.readFile(mine))];
        assert.equal(b.transferSyntax, a.transferSyntax);
        assert.ok(same(a.dataset, b.dataset), `${path.basename(file)} changed`);
      }
    } finally {
      await agent.stop();
      await source.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "C-GET from DCMTK's dcmqrscp, which lists no SOP class: the common classes are proposed, objects arrive as stored",
  ignore: !!skipReason("dcmqrscp", "dcmqridx"),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "dcmqrscp-" });
    // dcmqrscp accepts one compressed syntax besides the uncompressed ones, the one it is told to prefer.
    const names = ["CT_small.dcm", "SC_rgb_jpeg_dcmtk.dcm"];
    const files = names.map((n) => path.join(PYDICOM_TEST_FILES_DIR, n));
    const qr = await startDcmqrscp({ dir, files, extraArgs: ["+xy"] });
    const agent = await startAgentProcess({
      config: { nodes: { qr: { aet: qr.aet, host: "127.0.0.1", port: qr.port, retrieve: "get" } } },
    });
    try {
      const sources = await Promise.all(files.map(async (f) => split(await Deno.readFile(f))));
      const sops = await Promise.all(
        files.map(async (f) => readPart10Header(await Deno.readFile(f)).sopInstanceUid!),
      );
      const studies = [
        "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322", // CT_small
        "1.2.826.0.1.3680043.8.498.12406831542731051035295345080039845114", // SC_rgb_jpeg_dcmtk
      ];
      for (const study of studies) {
        const res = await agent.http("/nodes/qr/retrieve", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ studyInstanceUid: study }),
        });
        const report = await res.json();
        assert.equal(report.ok, true, `${study}: ${JSON.stringify(report)}`);
      }
      // dcmqrscp sent the JPEG object on the uncompressed context first (and could not convert it), then,
      // asked again without it, as stored.
      assert.match(await Deno.readTextFile(agent.logFile), /C-GET of failed objects again/);
      const archived = await listFiles(path.join(agent.dataDir, "archive"));
      for (const [i, sop] of sops.entries()) {
        const file = archived.find((f) => f.endsWith(`/${sop}.dcm`));
        assert.ok(file, `${names[i]} not archived`);
        const got = split(await Deno.readFile(file));
        assert.equal(got.transferSyntax, sources[i].transferSyntax, `${names[i]} changed syntax`);
        assert.ok(same(got.pixelData, sources[i].pixelData), `${names[i]} changed pixel data`);
      }
    } finally {
      await agent.stop();
      await qr.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "C-GET from a dcmqrscp that takes no compressed syntax: the JPEG object is reported missing, the retrieve answers",
  ignore: !!skipReason("dcmqrscp", "dcmqridx"),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "dcmqrscp-" });
    const qr = await startDcmqrscp({
      dir,
      files: [path.join(PYDICOM_TEST_FILES_DIR, "SC_rgb_jpeg_dcmtk.dcm")],
    });
    const agent = await startAgentProcess({
      config: { nodes: { qr: { aet: qr.aet, host: "127.0.0.1", port: qr.port, retrieve: "get" } } },
    });
    try {
      const res = await agent.http("/nodes/qr/retrieve", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          studyInstanceUid: "1.2.826.0.1.3680043.8.498.12406831542731051035295345080039845114",
        }),
      });
      assert.equal(res.status, 200);
      const report = await res.json();
      // The second pass offers only compressed contexts, which it refuses all: the object fails again.
      assert.deepEqual(
        { ok: report.ok, expected: report.expected, arrived: report.arrived, failed: report.failed },
        { ok: false, expected: 1, arrived: 0, failed: 1 },
      );
      assert.match(await Deno.readTextFile(agent.logFile), /C-GET of failed objects again/);
    } finally {
      await agent.stop();
      await qr.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

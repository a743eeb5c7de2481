/**
 * C-FIND, C-MOVE and C-GET against the agent with DCMTK's findscu, movescu and getscu.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, runDcmtk, skipReason, startStorescp } from "../support/peers.ts";
import { type AgentProcess, datasetBytes, listFiles, startAgentProcess } from "../support/agent.ts";
import { retrieveWith, storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import {
  encodingOf,
  findElement,
  instanceAttributes,
  parseDataSet,
  readPart10Header,
  stringValue,
} from "@conduit/shared/dicom";
import { readFileHeader } from "../../agent/part10/header.ts";

const skip = skipReason("storescp", "storescu", "findscu", "movescu", "getscu");
if (skip) console.warn(`dcmtk_qr_test: skipped: ${skip}`);

// CT_small: patient "CompressedSamples^CT1", study 20040119; MR_small: "CompressedSamples^MR1", 20040826.
const FILES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "rtstruct.dcm"].map((f) =>
  path.join(PYDICOM_TEST_FILES_DIR, f)
);

interface Response {
  [keyword: string]: string | undefined;
}

/** Runs findscu with -X and returns each response identifier as keyword -> value. */
async function findscu(agent: AgentProcess, model: "-P" | "-S", keys: string[]): Promise<Response[]> {
  const dir = await Deno.makeTempDir({ prefix: "findscu-" });
  const args = [model, "-X", "-od", dir, "-aec", agent.aet, "127.0.0.1", String(agent.port)];
  for (const k of keys) args.push("-k", k);
  const r = await runDcmtk("findscu", args);
  assert.equal(r.code, 0, r.stderr);
  const out: Response[] = [];
  for (const file of (await listFiles(dir)).sort()) {
    const bytes = await Deno.readFile(file);
    const header = readPart10Header(bytes);
    const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), {
      start: header.datasetOffset,
    });
    const attrs = instanceAttributes(bytes, dataset);
    const row: Response = {};
    for (const [k, v] of Object.entries(attrs)) if (v) row[k] = v;
    for (const [k, tag] of Object.entries(EXTRA)) {
      const el = findElement(dataset, tag);
      row[k] = el ? stringValue(bytes, el) : undefined;
    }
    out.push(row);
  }
  return out;
}

const EXTRA: Record<string, number> = {
  QueryRetrieveLevel: 0x00080052,
  ModalitiesInStudy: 0x00080061,
  NumberOfStudyRelatedInstances: 0x00201208,
  NumberOfStudyRelatedSeries: 0x00201206,
  NumberOfSeriesRelatedInstances: 0x00201209,
  AccessionNumberPresent: 0x00080050,
  RetrieveAETitle: 0x00080054,
};

/** The data set the agent archived for a pydicom test file (found by SOP Instance UID). */
async function archived(agent: AgentProcess, name: string): Promise<Uint8Array> {
  const h = await readFileHeader(path.join(PYDICOM_TEST_FILES_DIR, name));
  const sop = instanceAttributes(h.bytes, h.dataset).sopInstanceUid;
  const file = (await listFiles(path.join(agent.dataDir, "archive"))).find((f) => f.endsWith(`/${sop}.dcm`));
  assert.ok(file, `${name} not archived`);
  return datasetBytes(file);
}

async function seeded(): Promise<{ agent: AgentProcess; stop: () => Promise<void>; storescpDir: string }> {
  const storescpDir = await Deno.makeTempDir({ prefix: "qr-storescp-" });
  const scp = await startStorescp({ dir: storescpDir, bitPreserving: true, extraArgs: ["-uf"] });
  const agent = await startAgentProcess({
    config: { nodes: { archive: { aet: scp.aet, host: "127.0.0.1", port: scp.port } } },
  });
  for (const f of FILES) {
    const r = await storescu([f], agent);
    assert.equal(r.code, 0, r.stderr);
  }
  return {
    agent,
    storescpDir,
    stop: async () => {
      await agent.stop();
      await scp.stop();
    },
  };
}

Deno.test({
  name: "C-FIND at every level, with wildcards, ranges, UID lists and empty return keys",
  ignore: !!skip,
  fn: async () => {
    const { agent, stop } = await seeded();
    try {
      // PATIENT level, Patient Root, wildcard on the name
      const patients = await findscu(agent, "-P", [
        "QueryRetrieveLevel=PATIENT",
        "PatientName=Compressed*",
        "PatientID",
      ]);
      assert.equal(patients.length, 2);
      assert.ok(patients.every((p) => p.patientName?.startsWith("CompressedSamples^")));

      // '?' wildcard, case-insensitive person name
      const one = await findscu(agent, "-P", [
        "QueryRetrieveLevel=PATIENT",
        "PatientName=compressedsamples^?T1",
      ]);
      assert.deepEqual(one.map((p) => p.patientName), ["CompressedSamples^CT1"]);

      // STUDY level, Study Root, date range; requested empty keys come back present
      const studies = await findscu(agent, "-S", [
        "QueryRetrieveLevel=STUDY",
        "StudyDate=20040101-20041231",
        "StudyInstanceUID",
        "AccessionNumber",
        "ModalitiesInStudy",
        "NumberOfStudyRelatedInstances",
        "NumberOfStudyRelatedSeries",
      ]);
      assert.equal(studies.length, 2, JSON.stringify(studies));
      for (const s of studies) {
        assert.equal(s.QueryRetrieveLevel, "STUDY");
        assert.equal(s.RetrieveAETitle, agent.aet);
        assert.equal(s.NumberOfStudyRelatedInstances, "1");
        assert.equal(s.NumberOfStudyRelatedSeries, "1");
        assert.ok(s.AccessionNumberPresent !== undefined, "empty AccessionNumber must still be returned");
        assert.ok(["CT", "MR"].includes(s.ModalitiesInStudy!));
      }
      // open-ended ranges
      const after = await findscu(agent, "-S", ["QueryRetrieveLevel=STUDY", "StudyDate=20040501-"]);
      assert.ok(after.length >= 1 && after.every((s) => s.studyDate! >= "20040501"), JSON.stringify(after));
      const before = await findscu(agent, "-S", ["QueryRetrieveLevel=STUDY", "StudyDate=-20040501"]);
      assert.ok(
        before.length >= 1 && before.every((s) => s.studyDate! <= "20040501"),
        JSON.stringify(before),
      );
      assert.equal(after.length + before.length, 3); // rtstruct has no StudyDate: no range matches it
      // ModalitiesInStudy matching
      const mr = await findscu(agent, "-S", [
        "QueryRetrieveLevel=STUDY",
        "ModalitiesInStudy=MR",
        "StudyInstanceUID",
      ]);
      assert.equal(mr.length, 1);

      // UID list matching
      const uids = studies.map((s) => s.studyInstanceUid!);
      const listed = await findscu(agent, "-S", [
        "QueryRetrieveLevel=STUDY",
        `StudyInstanceUID=${uids.join("\\")}`,
      ]);
      assert.equal(listed.length, 2);

      // SERIES level under one study
      const series = await findscu(agent, "-S", [
        "QueryRetrieveLevel=SERIES",
        `StudyInstanceUID=${mr[0].studyInstanceUid}`,
        "SeriesInstanceUID",
        "Modality",
        "NumberOfSeriesRelatedInstances",
      ]);
      assert.equal(series.length, 1);
      assert.equal(series[0].modality, "MR");
      assert.equal(series[0].NumberOfSeriesRelatedInstances, "1");

      // IMAGE level
      const images = await findscu(agent, "-S", [
        "QueryRetrieveLevel=IMAGE",
        `StudyInstanceUID=${mr[0].studyInstanceUid}`,
        `SeriesInstanceUID=${series[0].seriesInstanceUid}`,
        "SOPInstanceUID",
        "SOPClassUID",
        "InstanceNumber",
      ]);
      assert.equal(images.length, 1);
      assert.equal(images[0].sopClassUid, "1.2.840.10008.5.1.4.1.1.4");

      // No match at all
      assert.equal((await findscu(agent, "-S", ["QueryRetrieveLevel=STUDY", "PatientID=NOBODY"])).length, 0);
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "C-MOVE sends a study to a configured node byte-identical; an unknown destination gets 0xA801",
  ignore: !!skip,
  fn: async () => {
    const { agent, stop, storescpDir } = await seeded();
    try {
      const [study] = await findscu(agent, "-S", [
        "QueryRetrieveLevel=STUDY",
        "ModalitiesInStudy=CT",
        "StudyInstanceUID",
      ]);
      const studyKeys = ["QueryRetrieveLevel=STUDY", `StudyInstanceUID=${study.studyInstanceUid}`];
      const r = await retrieveWith("movescu", agent, studyKeys, ["-S", "-aem", "STORESCP"]);
      assert.equal(r.code, 0, r.stderr);
      const moved = await listFiles(storescpDir);
      assert.equal(moved.length, 1);
      const original = await archived(agent, "CT_small.dcm");
      assert.ok(Buffer.from(await datasetBytes(moved[0])).equals(Buffer.from(original)));

      const bad = await retrieveWith("movescu", agent, studyKeys, ["-v", "-S", "-aem", "NOWHERE"]);
      assert.match(bad.stdout + bad.stderr, /MoveDestinationUnknown/);
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "C-GET returns the stored objects byte-identical over the same association",
  ignore: !!skip,
  fn: async () => {
    const { agent, stop } = await seeded();
    try {
      const [study] = await findscu(agent, "-S", [
        "QueryRetrieveLevel=STUDY",
        "ModalitiesInStudy=MR",
        "StudyInstanceUID",
      ]);
      const dir = await Deno.makeTempDir({ prefix: "getscu-" });
      const r = await retrieveWith(
        "getscu",
        agent,
        ["QueryRetrieveLevel=STUDY", `StudyInstanceUID=${study.studyInstanceUid}`],
        ["-S", "+B", "-od", dir],
      );
      assert.equal(r.code, 0, r.stderr);
      const got = await listFiles(dir);
      assert.equal(got.length, 1);
      const original = await archived(agent, "MR_small.dcm");
      assert.ok(Buffer.from(await datasetBytes(got[0])).equals(Buffer.from(original)));
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "Patient Root: C-MOVE and C-GET of a patient; a C-CANCEL stops a long C-FIND",
  ignore: !!skip,
  fn: async () => {
    const { agent, stop, storescpDir } = await seeded();
    try {
      const [patient] = await findscu(agent, "-P", [
        "QueryRetrieveLevel=PATIENT",
        "PatientName=*CT1",
        "PatientID",
      ]);
      assert.ok(patient?.patientId, "CT_small's patient");
      const patientKeys = ["QueryRetrieveLevel=PATIENT", `PatientID=${patient.patientId}`];
      const moved = await retrieveWith("movescu", agent, patientKeys, ["-P", "-aem", "STORESCP"]);
      assert.equal(moved.code, 0, moved.stderr);
      assert.equal((await listFiles(storescpDir)).length, 1, "the patient's one object was moved");

      const dir = await Deno.makeTempDir({ prefix: "getscu-patient-" });
      const got = await retrieveWith("getscu", agent, patientKeys, ["-P", "+B", "-od", dir]);
      assert.equal(got.code, 0, got.stderr);
      const [file] = await listFiles(dir);
      assert.ok(
        Buffer.from(await datasetBytes(file)).equals(Buffer.from(await archived(agent, "CT_small.dcm"))),
      );

      // C-CANCEL after the first of 1000 matches: the agent stops early and answers Cancel. (With 300, a
      // findscu waiting for a core on a loaded machine sent its cancel after the agent had sent them all.)
      const series = await writeGeneratedSeries(await Deno.makeTempDir(), {
        count: 1000,
        rows: 8,
        columns: 8,
        seed: "cancel",
      });
      assert.equal((await storescu(series.paths, agent)).code, 0);
      const canceled = await runDcmtk("findscu", [
        "-v",
        "-S",
        "--cancel",
        "1",
        "-aec",
        agent.aet,
        "-k",
        "QueryRetrieveLevel=IMAGE",
        "-k",
        `StudyInstanceUID=${series.studyUid}`,
        "-k",
        "SOPInstanceUID",
        "127.0.0.1",
        String(agent.port),
      ]);
      const log = canceled.stdout + canceled.stderr;
      const pending = (log.match(/Find Response: \d+ \(Pending\)/g) ?? []).length;
      assert.ok(pending >= 1 && pending < 1000, `${pending} matches sent before the cancel took effect`);
      assert.match(log, /Received Final Find Response \(Cancel/, log.slice(-500));
    } finally {
      await stop();
    }
  },
});

Deno.test({
  name: "maxFindResults: the first matches, then 0xA700 (refine the query)",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess({ config: { dimse: { maxFindResults: 2 } } });
    try {
      for (const f of FILES) assert.equal((await storescu([f], agent)).code, 0);
      const r = await runDcmtk("findscu", [
        "-v",
        "-S",
        "-aec",
        agent.aet,
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "StudyInstanceUID",
        "127.0.0.1",
        String(agent.port),
      ]);
      const log = r.stdout + r.stderr;
      assert.equal((log.match(/Find Response: \d+ \(Pending\)/g) ?? []).length, 2, log);
      assert.match(log, /Out ?of ?Resources|a700/i);
    } finally {
      await agent.stop();
    }
  },
});

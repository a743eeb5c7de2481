/**
 * Sending on to peers that accept only some transfer syntaxes (conformance statement, section 5): objects go
 * as stored when the peer takes that syntax; Implicit and Explicit VR Little Endian are re-encoded into each
 * other when the peer takes only the other (DCMTK `storescp +xi` takes Implicit VR Little Endian only;
 * `getscu` proposes its storage contexts with Explicit VR first, so the agent accepts that); Deflated, Big
 * Endian and compressed objects the agent can decode go uncompressed; anything else fails its
 * sub-operation, and the requester is told in the counts, the Failed SOP Instance UID List and the reason.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { inflateRawSync } from "node:zlib";
import {
  hasTool,
  PYDICOM_TEST_FILES_DIR,
  runDcmtk,
  skipReason,
  startOrthanc,
  startStorescp,
  type StorescpPeer,
} from "../support/peers.ts";
import { type AgentProcess, datasetBytes, listFiles, startAgentProcess } from "../support/agent.ts";
import { retrieveWith, storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { encodingOf, parseDataSet, readPart10Header, TransferSyntax } from "@conduit/shared/dicom";
import type { DataSet } from "@conduit/shared/dicom";
import { queueRows } from "../support/crash.ts";
import { eventually } from "../support/hub.ts";
import { MPEG4, mpeg4Object } from "../support/video.ts";

const skip = skipReason("storescp", "storescu", "movescu", "getscu");
if (skip) console.warn(`send_syntaxes_test: skipped: ${skip}`);

/** Every element of a file's data set as `tag path = value bytes (hex)`, items in order. */
async function elements(file: string): Promise<{ syntax: string; lines: string[] }> {
  const bytes = await Deno.readFile(file);
  const meta = readPart10Header(bytes);
  const stored = await datasetBytes(file);
  // A Deflated data set is compared inflated (Explicit VR Little Endian).
  const deflated = meta.transferSyntax === TransferSyntax.DeflatedExplicitVRLittleEndian;
  const data = deflated ? new Uint8Array(inflateRawSync(stored)) : stored;
  const { dataset } = parseDataSet(
    data,
    encodingOf(deflated ? TransferSyntax.ExplicitVRLittleEndian : meta.transferSyntax!),
  );
  const lines: string[] = [];
  const walk = (ds: DataSet, prefix: string) => {
    for (const el of ds.elements) {
      const tag = `${prefix}${el.tag.toString(16).padStart(8, "0")}`;
      if (el.items) {
        lines.push(`${tag} items ${el.items.length}`);
        el.items.forEach((item, i) => walk(item, `${tag}/${i}/`));
      } else {
        lines.push(
          `${tag} = ${
            Buffer.from(data.subarray(el.valueOffset, el.valueOffset + el.length)).toString("hex")
          }`,
        );
      }
    }
  };
  walk(dataset, "");
  return { syntax: meta.transferSyntax!, lines };
}

function sopOf(file: string): string {
  return readPart10Header(Deno.readFileSync(file)).sopInstanceUid!;
}

/**
 * Runs `fn` with a scratch folder, a `storescp` that takes Implicit VR Little Endian only (AE IMPLONLY), and
 * an agent whose node `implonly` it is (`config` added to the agent's); stops both and removes the folder.
 */
async function withImplicitOnlyNode(
  prefix: string,
  fn: (r: { scratch: string; scp: StorescpPeer; agent: AgentProcess }) => Promise<void>,
  config: Record<string, unknown> = {},
): Promise<void> {
  const scratch = await Deno.makeTempDir({ prefix });
  const scp = await startStorescp({ dir: `${scratch}/scp`, aet: "IMPLONLY", extraArgs: ["+xi"] });
  const agent = await startAgentProcess({
    config: { nodes: { implonly: { aet: scp.aet, host: "127.0.0.1", port: scp.port } }, ...config },
  });
  try {
    await fn({ scratch, scp, agent });
  } finally {
    await agent.stop();
    await scp.stop();
    await Deno.remove(scratch, { recursive: true });
  }
}

Deno.test({
  name:
    "C-MOVE to a node taking only Implicit VR LE: objects stored in Explicit VR LE arrive re-encoded, same elements and values",
  ignore: !!skip,
  fn: () =>
    withImplicitOnlyNode("move-syntaxes-", async ({ scratch, scp, agent }) => {
      const series = await writeGeneratedSeries(`${scratch}/in`, {
        count: 3,
        rows: 8,
        columns: 8,
        seed: "il",
      });
      // rtstruct.dcm: nested sequences, to be re-encoded with undefined lengths.
      const rtstruct = path.join(PYDICOM_TEST_FILES_DIR, "rtstruct.dcm");
      for (const files of [series.paths, [rtstruct]]) {
        const sent = await storescu(files, agent);
        assert.equal(sent.code, 0, sent.stderr);
      }
      const archived = await listFiles(path.join(agent.dataDir, "archive"));
      for (const f of archived) {
        assert.equal(
          readPart10Header(await Deno.readFile(f)).transferSyntax,
          TransferSyntax.ExplicitVRLittleEndian,
        );
      }
      const rtStudy = (await elements(rtstruct)).lines.find((l) => l.startsWith("0020000d"))!;
      const rtStudyUid = new TextDecoder().decode(
        Uint8Array.from(Buffer.from(rtStudy.split(" = ")[1], "hex")),
      ).replace(/\0$/, "");
      for (const study of [series.studyUid, rtStudyUid]) {
        const moved = await retrieveWith("movescu", agent, [
          "QueryRetrieveLevel=STUDY",
          `StudyInstanceUID=${study}`,
        ], ["-S", "-aem", scp.aet]);
        assert.equal(moved.code, 0, moved.stdout + moved.stderr);
      }
      const received = await listFiles(`${scratch}/scp`);
      assert.equal(received.length, 4);
      for (const file of received) {
        const stored = archived.find((f) => f.endsWith(`/${sopOf(file)}.dcm`))!;
        const got = await elements(file);
        assert.equal(got.syntax, TransferSyntax.ImplicitVRLittleEndian);
        assert.deepEqual(got.lines, (await elements(stored)).lines, path.basename(file));
      }
    }),
});

Deno.test({
  name: "C-GET with getscu's default contexts returns an object stored in Implicit VR LE, re-encoded",
  ignore: !!skip,
  fn: async () => {
    const scratch = await Deno.makeTempDir({ prefix: "get-syntaxes-" });
    const agent = await startAgentProcess();
    try {
      const series = await writeGeneratedSeries(`${scratch}/in`, {
        count: 2,
        rows: 8,
        columns: 8,
        seed: "el",
      });
      // `-xi`: Implicit VR Little Endian only, as many modalities propose it.
      const sent = await storescu(series.paths, agent, ["-xi"]);
      assert.equal(sent.code, 0, sent.stderr);
      const archived = await listFiles(path.join(agent.dataDir, "archive"));
      assert.equal(archived.length, 2);
      await Deno.mkdir(`${scratch}/get`);
      const got = await retrieveWith("getscu", agent, [
        "QueryRetrieveLevel=STUDY",
        `StudyInstanceUID=${series.studyUid}`,
      ], ["-od", `${scratch}/get`]);
      assert.equal(got.code, 0, got.stdout + got.stderr);
      const received = await listFiles(`${scratch}/get`);
      assert.equal(received.length, 2);
      for (const file of received) {
        const stored = archived.find((f) => f.endsWith(`/${sopOf(file)}.dcm`))!;
        const mine = await elements(stored);
        assert.equal(mine.syntax, TransferSyntax.ImplicitVRLittleEndian);
        const theirs = await elements(file);
        assert.equal(theirs.syntax, TransferSyntax.ExplicitVRLittleEndian);
        assert.deepEqual(theirs.lines, mine.lines);
      }
      // waveform_ecg.dcm has private elements: their creators must come back LO (PS3.5 7.8.1), as DCMTK
      // reads them from Implicit VR, not UN.
      const ecg = path.join(PYDICOM_TEST_FILES_DIR, "waveform_ecg.dcm");
      assert.equal((await storescu([ecg], agent, ["-xi"])).code, 0);
      const stored = (await listFiles(path.join(agent.dataDir, "archive"))).find((f) =>
        !archived.includes(f)
      )!;
      const study = path.basename(path.dirname(path.dirname(stored)));
      await Deno.mkdir(`${scratch}/ecg`);
      const ecgGot = await retrieveWith("getscu", agent, [
        "QueryRetrieveLevel=STUDY",
        `StudyInstanceUID=${study}`,
      ], [
        "-od",
        `${scratch}/ecg`,
      ]);
      assert.equal(ecgGot.code, 0, ecgGot.stdout + ecgGot.stderr);
      const [ecgFile] = await listFiles(`${scratch}/ecg`);
      const theirs = await dumped(ecgFile);
      assert.ok(theirs.some((l) => /^\(1455,0010\) LO \[Mortara/.test(l)), "the private creator is not LO");
      // DCMTK shows a private element of unknown VR read from Implicit VR as "??": it travels as UN.
      assert.deepEqual(
        theirs,
        (await dumped(stored)).map((l) => l.replace(/^(\s*\([0-9a-f]{4},[0-9a-f]{4}\)) \?\? /, "$1 UN ")),
      );
    } finally {
      await agent.stop();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "C-MOVE to a node that accepts none of the stored syntaxes: every sub-operation counted failed and listed, with the reason",
  ignore: !!skip,
  fn: () =>
    withImplicitOnlyNode("move-syntaxes-", async ({ scratch, scp, agent }) => {
      // MPEG-4 video, stored as such: nothing here decodes it, so it goes as stored or not at all. (JPEG
      // Extended was that object until its frames could be decoded at the site.)
      const jpeg = `${scratch}/video.dcm`;
      await Deno.writeFile(jpeg, mpeg4Object(`2.25.${Date.now()}`).bytes);
      const sent = await storescu([jpeg], agent, ["-R", "-xn"]);
      assert.equal(sent.code, 0, sent.stderr);
      const [stored] = await listFiles(path.join(agent.dataDir, "archive"));
      const study = path.basename(path.dirname(path.dirname(stored)));
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
      assert.match(final, /DIMSE Status\s*: 0xa702/);
      assert.match(final, /Failed Suboperations\s*: 1\b/, final);
      assert.ok(final.includes(sopOf(stored)), "the object is not in the failed list");
      assert.match(
        final,
        /\[IMPLONLY accepted no context for 1\.2\.840\.10008\.1\.2\.4\.102\] .*ErrorComment/,
        final,
      );
      assert.deepEqual(await listFiles(`${scratch}/scp`), []);
    }),
});

Deno.test({
  name:
    "forwarding to a node taking only Implicit VR LE delivers objects stored in Explicit VR LE, re-encoded",
  ignore: !!skip,
  fn: () =>
    withImplicitOnlyNode("fwd-syntaxes-", async ({ scratch, agent }) => {
      const series = await writeGeneratedSeries(`${scratch}/in`, {
        count: 3,
        rows: 8,
        columns: 8,
        seed: "fw",
      });
      const sent = await storescu(series.paths, agent);
      assert.equal(sent.code, 0, sent.stderr);
      await eventually("every row delivered", async () => (await queueRows(agent, "done")).length === 3);
      assert.deepEqual(await queueRows(agent, "dead"), []);
      const archived = await listFiles(path.join(agent.dataDir, "archive"));
      const received = await listFiles(`${scratch}/scp`);
      assert.equal(received.length, 3);
      for (const file of received) {
        const stored = archived.find((f) => f.endsWith(`/${sopOf(file)}.dcm`))!;
        const got = await elements(file);
        assert.equal(got.syntax, TransferSyntax.ImplicitVRLittleEndian);
        assert.deepEqual(got.lines, (await elements(stored)).lines);
      }
    }, { routes: [{ name: "all", to: [{ node: "implonly" }] }] }),
});

Deno.test({
  name:
    "C-MOVE to Orthanc accepting only Implicit VR LE: objects stored in Explicit VR LE arrive, same values",
  ignore: !!skip || !hasTool("Orthanc"),
  fn: async () => {
    const scratch = await Deno.makeTempDir({ prefix: "orthanc-syntaxes-" });
    const orthanc = await startOrthanc({
      storageDir: `${scratch}/orthanc`,
      extraConfig: { AcceptedTransferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian] },
    });
    const agent = await startAgentProcess({
      config: { nodes: { orthanc: { aet: orthanc.aet, host: "127.0.0.1", port: orthanc.port } } },
    });
    try {
      const series = await writeGeneratedSeries(`${scratch}/in`, {
        count: 2,
        rows: 8,
        columns: 8,
        seed: "or",
      });
      const sent = await storescu(series.paths, agent);
      assert.equal(sent.code, 0, sent.stderr);
      const moved = await retrieveWith("movescu", agent, [
        "QueryRetrieveLevel=STUDY",
        `StudyInstanceUID=${series.studyUid}`,
      ], ["-S", "-aem", orthanc.aet]);
      assert.equal(moved.code, 0, moved.stdout + moved.stderr);
      const ids = await (await orthanc.rest("/instances")).json() as string[];
      assert.equal(ids.length, 2);
      const archived = await listFiles(path.join(agent.dataDir, "archive"));
      for (const id of ids) {
        const file = `${scratch}/${id}.dcm`;
        await Deno.writeFile(
          file,
          new Uint8Array(await (await orthanc.rest(`/instances/${id}/file`)).arrayBuffer()),
        );
        const got = await elements(file);
        assert.equal(got.syntax, TransferSyntax.ImplicitVRLittleEndian);
        const stored = archived.find((f) => f.endsWith(`/${sopOf(file)}.dcm`))!;
        assert.deepEqual(got.lines, (await elements(stored)).lines);
      }
    } finally {
      await agent.stop();
      await orthanc.stop();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a Deflated object goes inflated: getscu gets the inflated data set byte for byte, storescp +xi the same values",
  ignore: !!skip,
  fn: () =>
    withImplicitOnlyNode("deflated-syntaxes-", async ({ scratch, scp, agent }) => {
      // image_dfl.dcm: Deflated Explicit VR Little Endian, proposed alone (-xd -R): stored deflated.
      const file = path.join(PYDICOM_TEST_FILES_DIR, "image_dfl.dcm");
      const sent = await storescu([file], agent);
      assert.equal(sent.code, 0, sent.stderr);
      const [stored] = await listFiles(path.join(agent.dataDir, "archive"));
      assert.equal(
        readPart10Header(await Deno.readFile(stored)).transferSyntax,
        TransferSyntax.DeflatedExplicitVRLittleEndian,
      );
      const study = path.basename(path.dirname(path.dirname(stored)));
      const keys = ["QueryRetrieveLevel=STUDY", `StudyInstanceUID=${study}`];
      await Deno.mkdir(`${scratch}/get`);
      const got = await retrieveWith("getscu", agent, keys, ["-od", `${scratch}/get`]);
      assert.equal(got.code, 0, got.stdout + got.stderr);
      const [fromGet] = await listFiles(`${scratch}/get`);
      assert.equal(
        readPart10Header(await Deno.readFile(fromGet)).transferSyntax,
        TransferSyntax.ExplicitVRLittleEndian,
      );
      assert.ok(
        Buffer.from(await datasetBytes(fromGet)).equals(inflateRawSync(await datasetBytes(stored))),
        "getscu's data set is not the stored one inflated",
      );
      const moved = await retrieveWith("movescu", agent, keys, ["-S", "-aem", scp.aet]);
      assert.equal(moved.code, 0, moved.stdout + moved.stderr);
      const [fromMove] = await listFiles(`${scratch}/scp`);
      const mine = await elements(stored);
      const theirs = await elements(fromMove);
      assert.equal(theirs.syntax, TransferSyntax.ImplicitVRLittleEndian);
      assert.deepEqual(theirs.lines, mine.lines);
    }),
});

/** dcmdump's rendering of a file's data set (values as numbers and text), group 0002 and comments left out. */
async function dumped(file: string): Promise<string[]> {
  const r = await runDcmtk("dcmdump", ["+L", "-q", file]);
  assert.equal(r.code, 0, r.stderr);
  // Sequences and items are written with undefined lengths: their delimiters and length kinds are left out.
  return r.stdout.split("\n")
    .filter((l) => /^\s*\(/.test(l) && !/^\(0002,|\(fffe,e00d\)|\(fffe,e0dd\)/.test(l))
    .map((l) => l.replace(/\s+#.*$/, "").replace(/with (explicit|undefined) length/, ""));
}

Deno.test({
  name:
    "objects stored in Explicit VR Big Endian go byte-swapped: getscu gets the same values in Explicit VR LE",
  ignore: !!skip || !hasTool("dcmdump"),
  fn: async () => {
    const scratch = await Deno.makeTempDir({ prefix: "big-endian-syntaxes-" });
    const agent = await startAgentProcess();
    try {
      // Proposed alone (-xb -R), each is stored big endian; rtdose_expb.dcm has sequences and 32-bit doses.
      const files = ["MR_small_bigendian.dcm", "rtdose_expb.dcm"].map((f) =>
        path.join(PYDICOM_TEST_FILES_DIR, f)
      );
      for (const file of files) {
        const sent = await storescu([file], agent);
        assert.equal(sent.code, 0, sent.stderr);
      }
      const archived = await listFiles(path.join(agent.dataDir, "archive"));
      assert.equal(archived.length, 2);
      await Deno.mkdir(`${scratch}/get`);
      for (const stored of archived) {
        assert.equal(
          readPart10Header(await Deno.readFile(stored)).transferSyntax,
          TransferSyntax.ExplicitVRBigEndian,
        );
        const study = path.basename(path.dirname(path.dirname(stored)));
        const got = await retrieveWith("getscu", agent, [
          "QueryRetrieveLevel=STUDY",
          `StudyInstanceUID=${study}`,
        ], [
          "-od",
          `${scratch}/get`,
        ]);
        assert.equal(got.code, 0, got.stdout + got.stderr);
      }
      const received = await listFiles(`${scratch}/get`);
      assert.equal(received.length, 2);
      for (const file of received) {
        assert.equal(
          readPart10Header(await Deno.readFile(file)).transferSyntax,
          TransferSyntax.ExplicitVRLittleEndian,
        );
        const stored = archived.find((f) => f.endsWith(`/${sopOf(file)}.dcm`))!;
        assert.deepEqual(await dumped(file), await dumped(stored), path.basename(stored));
      }
    } finally {
      await agent.stop();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});

/** The Pixel Data value of a Part 10 file. */
async function pixelBytes(file: string): Promise<Uint8Array> {
  const bytes = await Deno.readFile(file);
  const header = readPart10Header(bytes);
  const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), { start: header.datasetOffset });
  const el = dataset.elements.find((e) => e.tag === 0x7fe00010)!;
  return bytes.subarray(el.valueOffset, el.valueOffset + el.length);
}

Deno.test({
  name:
    "a 32-bit big endian object reaches DCMTK forwarded, C-MOVEd and C-GET with its little endian twin's pixel bytes",
  ignore: !!skip || !hasTool("dcmconv"),
  fn: () =>
    withImplicitOnlyNode("big-endian-32-", async ({ scratch, scp, agent }) => {
      // rtdose.dcm's 32-bit doses made big endian by DCMTK as PS3.5 8.2 encodes them in OW (low word, high
      // word, each big endian): every path must give rtdose.dcm's bytes back, not each sample reversed.
      const twin = path.join(PYDICOM_TEST_FILES_DIR, "rtdose.dcm");
      const big = `${scratch}/dose-be.dcm`;
      assert.equal((await runDcmtk("dcmconv", ["+tb", twin, big])).code, 0);
      const expected = await pixelBytes(twin);
      assert.notDeepEqual(await pixelBytes(big), expected);
      const sent = await storescu([big], agent);
      assert.equal(sent.code, 0, sent.stderr);
      const [stored] = await listFiles(path.join(agent.dataDir, "archive"));
      assert.equal(
        readPart10Header(await Deno.readFile(stored)).transferSyntax,
        TransferSyntax.ExplicitVRBigEndian,
      );
      await eventually("forwarded", async () => (await queueRows(agent, "done")).length === 1);
      const [forwarded] = await listFiles(`${scratch}/scp`);
      assert.deepEqual(await pixelBytes(forwarded), expected, "forwarded");
      await Deno.remove(forwarded);
      const study = path.basename(path.dirname(path.dirname(stored)));
      const keys = ["QueryRetrieveLevel=STUDY", `StudyInstanceUID=${study}`];
      const moved = await retrieveWith("movescu", agent, keys, ["-aem", scp.aet]);
      assert.equal(moved.code, 0, moved.stdout + moved.stderr);
      const [arrived] = await listFiles(`${scratch}/scp`);
      assert.equal(
        readPart10Header(await Deno.readFile(arrived)).transferSyntax,
        TransferSyntax.ImplicitVRLittleEndian,
      );
      assert.deepEqual(await pixelBytes(arrived), expected, "C-MOVE");
      await Deno.mkdir(`${scratch}/get`);
      const got = await retrieveWith("getscu", agent, keys, ["-od", `${scratch}/get`]);
      assert.equal(got.code, 0, got.stdout + got.stderr);
      const [received] = await listFiles(`${scratch}/get`);
      assert.equal(
        readPart10Header(await Deno.readFile(received)).transferSyntax,
        TransferSyntax.ExplicitVRLittleEndian,
      );
      assert.deepEqual(await pixelBytes(received), expected, "C-GET");
    }, { routes: [{ name: "all", to: [{ node: "implonly" }] }] }),
});

Deno.test({
  name:
    "C-MOVE and C-GET of a study partly in a syntax the peer lacks: the rest goes, the final response says why",
  ignore: !!skip,
  fn: () =>
    withImplicitOnlyNode("partial-syntaxes-", async ({ scratch, scp, agent }) => {
      // One study: MR_small.dcm (Explicit VR LE) and an MPEG-4 video (never converted: nothing here
      // decodes it) in MR_small's study.
      const mr = path.join(PYDICOM_TEST_FILES_DIR, "MR_small.dcm");
      const mrStudy = (await elements(mr)).lines.find((l) => l.startsWith("0020000d"))!;
      const studyUid = new TextDecoder().decode(Uint8Array.from(Buffer.from(mrStudy.split(" = ")[1], "hex")))
        .replace(/\0$/, "");
      const copy = `${scratch}/video.dcm`;
      await Deno.writeFile(copy, mpeg4Object(studyUid).bytes);
      for (const file of [mr, copy]) {
        const sent = await storescu([file], agent, file === copy ? ["-R", "-xn"] : []);
        assert.equal(sent.code, 0, sent.stderr);
      }
      const archived = await listFiles(path.join(agent.dataDir, "archive"));
      assert.equal(archived.length, 2);
      const jpeg = archived.find((f) => readPart10Header(Deno.readFileSync(f)).transferSyntax === MPEG4)!;
      const study = path.basename(path.dirname(path.dirname(jpeg)));
      const keys = ["QueryRetrieveLevel=STUDY", `StudyInstanceUID=${study}`];
      const final = (out: string, field: string) => out.slice(out.lastIndexOf(field));
      const moved = await retrieveWith("movescu", agent, keys, ["-d", "-S", "-aem", scp.aet]);
      const move = final(moved.stdout + moved.stderr, "C-MOVE RSP");
      assert.match(move, /DIMSE Status\s*: 0xb000/, move);
      assert.match(move, /Completed Suboperations\s*: 1\b/, move);
      assert.match(move, /Failed Suboperations\s*: 1\b/, move);
      assert.ok(move.includes(sopOf(jpeg)), "the JPEG object is not in the failed list");
      assert.match(
        move,
        /\[1 not accepted by IMPLONLY: 1\.2\.840\.10008\.1\.2\.4\.102\] .*ErrorComment/,
        move,
      );
      assert.equal((await listFiles(`${scratch}/scp`)).length, 1);

      await Deno.mkdir(`${scratch}/get`);
      const got = await retrieveWith("getscu", agent, keys, [
        "-d",
        "-aet",
        "GETSCU",
        "-od",
        `${scratch}/get`,
      ]);
      const get = final(got.stdout + got.stderr, "C-GET RSP");
      assert.match(get, /Completed Suboperations\s*: 1\b/, get);
      assert.match(get, /Failed Suboperations\s*: 1\b/, get);
      assert.match(get, /\[1 not accepted by GETSCU: 1\.2\.840\.10008\.1\.2\.4\.102\] .*ErrorComment/, get);
      assert.equal((await listFiles(`${scratch}/get`)).length, 1);
    }),
});

Deno.test({
  name: "compressed objects go decoded to a node taking only Implicit VR LE: RLE and JPEG-LS pixels exact",
  ignore: !!skip,
  fn: async () => {
    const scratch = await Deno.makeTempDir({ prefix: "decoded-syntaxes-" });
    const scp = await startStorescp({ dir: `${scratch}/scp`, aet: "IMPLONLY", extraArgs: ["+xi"] });
    // MR_small.dcm's pixels, the same image as its RLE and JPEG-LS Lossless copies.
    const reference = await elements(path.join(PYDICOM_TEST_FILES_DIR, "MR_small.dcm"));
    const pixels = (lines: string[]) => lines.find((l) => l.startsWith("7fe00010"));
    try {
      for (const name of ["MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm"]) {
        // The copies share MR_small's SOP Instance UID: one agent each.
        const agent = await startAgentProcess({
          config: { nodes: { implonly: { aet: scp.aet, host: "127.0.0.1", port: scp.port } } },
        });
        try {
          await Deno.remove(`${scratch}/scp`, { recursive: true }).catch(() => {});
          await Deno.mkdir(`${scratch}/scp`);
          const sent = await storescu([path.join(PYDICOM_TEST_FILES_DIR, name)], agent);
          assert.equal(sent.code, 0, sent.stderr);
          const [stored] = await listFiles(path.join(agent.dataDir, "archive"));
          const study = path.basename(path.dirname(path.dirname(stored)));
          const moved = await retrieveWith("movescu", agent, [
            "QueryRetrieveLevel=STUDY",
            `StudyInstanceUID=${study}`,
          ], ["-S", "-aem", scp.aet]);
          assert.equal(moved.code, 0, moved.stdout + moved.stderr);
          const [received] = await listFiles(`${scratch}/scp`);
          assert.ok(received, `${name}: nothing arrived`);
          const got = await elements(received);
          assert.equal(got.syntax, TransferSyntax.ImplicitVRLittleEndian, name);
          assert.equal(pixels(got.lines), pixels(reference.lines), `${name}: pixels differ`);
        } finally {
          await agent.stop();
        }
      }
    } finally {
      await scp.stop();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});

/**
 * Objects cut short: a C-STORE whose data set ends inside Pixel Data (native or encapsulated) or
 * inside any element, and a STOW-RS part cut the same way, are refused (0xC000 / a failed part), and
 * nothing of them reaches the archive or the index. The whole object sent afterwards is stored.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import {
  buildFileMeta,
  encodingOf,
  parseDataSet,
  readPart10Header,
  SopClass,
  TransferSyntax,
} from "@conduit/shared/dicom";
import { generateInstance, uidFromKey } from "@conduit/shared/testing";
import { PYDICOM_TEST_FILES_DIR, skipReason, sleep } from "../support/peers.ts";
import { type AgentProcess, listFiles, startAgentProcess } from "../support/agent.ts";
import { associate, cStore, hexStatus, release } from "../support/pdu.ts";
import { readDbSnapshot } from "../support/crash.ts";
import { partialFiles } from "../support/faults.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";

const JPEG_FILE = path.join(PYDICOM_TEST_FILES_DIR, "JPEG2000.dcm");
const skip = skipReason("echoscu") ||
  (hasFile(JPEG_FILE) ? false : "needs pydicom's JPEG2000.dcm (apt-get install python3-pydicom)");
if (skip) console.warn(`truncated_test: skipped: ${skip}`);

function hasFile(p: string): boolean {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}

interface Sample {
  what: string;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntax: string;
  dataset: Uint8Array;
  /** Offsets inside elements where the data set is cut. */
  cuts: { where: string; at: number }[];
}

/** A generated CT object in explicit or implicit VR little endian, with cuts inside its elements. */
function generated(key: string, transferSyntax: string): Sample {
  const sopInstanceUid = uidFromKey(`truncated/sop/${key}`);
  const bytes = generateInstance({
    modality: "CT",
    patientName: "TRUNCATED^OBJECT",
    patientId: "TRUNC-1",
    studyInstanceUid: uidFromKey(`truncated/study/${key}`),
    seriesInstanceUid: uidFromKey(`truncated/series/${key}`),
    sopInstanceUid,
    instanceNumber: 1,
    rows: 128,
    columns: 128,
  });
  let dataset = bytes.subarray(readPart10Header(bytes).datasetOffset);
  if (transferSyntax === TransferSyntax.ImplicitVRLittleEndian) dataset = toImplicit(dataset);
  const parsed = parseDataSet(dataset, encodingOf(transferSyntax)).dataset;
  const pixels = parsed.elements.find((e) => e.tag === 0x7fe00010)!;
  const name = parsed.elements.find((e) => e.tag === 0x00100010)!;
  return {
    what: `generated CT, ${transferSyntax}`,
    sopClassUid: SopClass.CtImage,
    sopInstanceUid,
    transferSyntax,
    dataset,
    cuts: [
      { where: "in the middle of Pixel Data", at: pixels.valueOffset + Math.floor(pixels.length / 2) },
      { where: "one byte short of the end of Pixel Data", at: dataset.length - 1 },
      { where: "inside the Pixel Data header", at: pixels.offset + 6 },
      { where: "inside Patient's Name", at: name.valueOffset + 2 },
    ],
  };
}

/** Rewrites an explicit VR little endian data set without sequences as implicit VR little endian. */
function toImplicit(explicitBytes: Uint8Array): Uint8Array {
  const { elements } = parseDataSet(explicitBytes, encodingOf(TransferSyntax.ExplicitVRLittleEndian)).dataset;
  const out: Uint8Array[] = [];
  for (const el of elements) {
    assert.ok(!el.items && el.length >= 0, "generated objects have no sequences");
    const head = new Uint8Array(8);
    const v = new DataView(head.buffer);
    v.setUint16(0, el.tag >>> 16, true);
    v.setUint16(2, el.tag & 0xffff, true);
    v.setUint32(4, el.length, true);
    out.push(head, explicitBytes.subarray(el.valueOffset, el.valueOffset + el.length));
  }
  const all = new Uint8Array(out.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of out) all.set(b, at), at += b.length;
  return all;
}

/** pydicom's JPEG 2000 object: encapsulated Pixel Data, cut inside a fragment and before its delimiter. */
function encapsulated(): Sample {
  const bytes = Deno.readFileSync(JPEG_FILE);
  const header = readPart10Header(bytes);
  const dataset = bytes.subarray(header.datasetOffset);
  const parsed = parseDataSet(dataset, encodingOf(header.transferSyntax)).dataset;
  const pixels = parsed.elements.find((e) => e.tag === 0x7fe00010)!;
  const last = pixels.fragments!.at(-1)!;
  assert.equal(pixels.end, dataset.length, "Pixel Data is the last element");
  return {
    what: "pydicom JPEG2000.dcm",
    sopClassUid: header.sopClassUid!,
    sopInstanceUid: header.sopInstanceUid!,
    transferSyntax: header.transferSyntax,
    dataset,
    cuts: [
      { where: "inside the last fragment", at: last.valueOffset + Math.floor(last.length / 2) },
      { where: "before the sequence delimiter", at: dataset.length - 8 },
      { where: "inside a fragment's item header", at: last.valueOffset - 3 },
    ],
  };
}

async function archived(agent: AgentProcess): Promise<string[]> {
  try {
    return (await listFiles(path.join(agent.dataDir, "archive"))).map((f) => path.basename(f)).sort();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

async function parts(agent: AgentProcess): Promise<string[]> {
  try {
    return await partialFiles(agent.dataDir);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

function indexed(agent: AgentProcess): Set<string> {
  return readDbSnapshot(path.join(agent.dataDir, "agent.db")).instances;
}

Deno.test({
  name: "truncated C-STORE: a data set ending inside Pixel Data or any element is refused with 0xC000",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess();
    try {
      const samples = [
        generated("explicit", TransferSyntax.ExplicitVRLittleEndian),
        generated("implicit", TransferSyntax.ImplicitVRLittleEndian),
        encapsulated(),
      ];
      const contexts = samples.map((s, i) => ({
        id: 2 * i + 1,
        abstractSyntax: s.sopClassUid,
        transferSyntaxes: [s.transferSyntax],
      }));
      const { socket, ac } = await associate(agent.port, {
        calledAet: agent.aet,
        callingAet: "TRUNC",
        contexts,
      });
      let messageId = 1;
      try {
        for (const [i, sample] of samples.entries()) {
          for (const cut of sample.cuts) {
            const status = await cStore(socket, {
              contextId: 2 * i + 1,
              messageId: messageId++,
              sopClassUid: sample.sopClassUid,
              sopInstanceUid: sample.sopInstanceUid,
              dataset: sample.dataset.subarray(0, cut.at),
              maxPduLength: ac.maxPduLength,
            });
            assert.equal(hexStatus(status), "0xC000", `${sample.what}, cut ${cut.where} (byte ${cut.at})`);
          }
        }
        assert.deepEqual(await archived(agent), [], "nothing cut short reaches the archive");
        assert.deepEqual([...indexed(agent)], [], "nothing cut short reaches the index");
        // the whole objects are stored as they are
        for (const [i, sample] of samples.entries()) {
          const status = await cStore(socket, {
            contextId: 2 * i + 1,
            messageId: messageId++,
            sopClassUid: sample.sopClassUid,
            sopInstanceUid: sample.sopInstanceUid,
            dataset: sample.dataset,
            maxPduLength: ac.maxPduLength,
          });
          assert.equal(hexStatus(status), "0x0000", `${sample.what}, whole`);
        }
        await release(socket);
      } finally {
        await socket.close();
      }
      assert.deepEqual(
        await archived(agent),
        samples.map((s) => `${s.sopInstanceUid}.dcm`).sort(),
        "the whole objects are archived",
      );
      assert.deepEqual([...indexed(agent)].sort(), samples.map((s) => s.sopInstanceUid).sort());
      for (let i = 0; i < 30 && (await parts(agent)).length; i++) await sleep(100);
      assert.deepEqual(await parts(agent), [], "no partial file is left");
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name: "truncated STOW-RS part: a part ending inside Pixel Data is a failed part, the whole one is stored",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const hub = await startTestHub();
    const agent = await startAgentProcess({ aet: "NORTH", args: await siteArgs(hub, "north") });
    try {
      await eventually("north online", () => hub.sessions.get("north"));
      const token = (await hub.tokens.create("truncated", "operator")).token;
      const sample = generated("stow", TransferSyntax.ExplicitVRLittleEndian);
      const meta = buildFileMeta({
        sopClassUid: sample.sopClassUid,
        sopInstanceUid: sample.sopInstanceUid,
        transferSyntax: sample.transferSyntax,
      });
      const part10 = (dataset: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array([...meta, ...dataset]);
      const boundary = "tRuNcAtEd";
      const enc = new TextEncoder();
      const stow = async (objects: Uint8Array<ArrayBuffer>[]) => {
        const pieces: BlobPart[] = [];
        for (const o of objects) {
          pieces.push(
            enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
            o,
            enc.encode("\r\n"),
          );
        }
        pieces.push(enc.encode(`--${boundary}--\r\n`));
        const res = await fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies`, {
          method: "POST",
          body: new Blob(pieces),
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": `multipart/related; type="application/dicom"; boundary=${boundary}`,
          },
        });
        return { status: res.status, body: await res.json() as Record<string, { Value?: unknown[] }> };
      };
      const cut = sample.cuts[0];
      const refused = await stow([part10(sample.dataset.subarray(0, cut.at))]);
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      const failed = refused.body["00081198"]?.Value as Record<string, { Value: unknown[] }>[];
      assert.equal(failed?.length, 1, JSON.stringify(refused.body));
      assert.equal(failed[0]["00081197"].Value[0], 0xc000, "FailureReason");
      assert.equal(refused.body["00081199"], undefined, "nothing is listed as stored");
      assert.deepEqual(await archived(agent), [], "nothing cut short reaches the archive");
      assert.deepEqual([...indexed(agent)], [], "nothing cut short reaches the index");

      const stored = await stow([part10(sample.dataset)]);
      assert.equal(stored.status, 200, JSON.stringify(stored.body));
      assert.deepEqual(await archived(agent), [`${sample.sopInstanceUid}.dcm`]);
      assert.deepEqual([...indexed(agent)], [sample.sopInstanceUid]);
    } finally {
      await agent.stop();
      await hub.stop();
    }
  },
});

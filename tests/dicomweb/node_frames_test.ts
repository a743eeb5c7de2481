/**
 * Frames and bulk data of an instance at a site's node (`/sites/{site}/nodes/{node}/...`): a viewer that
 * reads a study on a PACS behind a site asks its frames straight from the metadata's BulkDataURIs. Until
 * 2026-12-04 the site looked only in its own archive, so an instance the PACS held and the site did not
 * was 404; now the site retrieves it from the node first (C-GET here), then serves it, and keeps serving
 * it from its archive. Orthanc is the PACS.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, skipReason, startOrthanc } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { readPart10Header } from "@conduit/shared/dicom";

const skip = skipReason("/usr/sbin/Orthanc");
if (skip) console.warn(`node_frames_test: skipped: ${skip}`);

const CT = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
const CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";
const CT_SERIES = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322";

Deno.test({
  name: "PS3.18 10.4 frames and bulk data of an instance at a site's node: retrieved from the node first",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    const pacs = await startOrthanc({
      aet: "PACS",
      storageDir: await Deno.makeTempDir({ prefix: "orthanc-" }),
    });
    const agent = await startAgentProcess({
      aet: "EAST",
      config: { nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port, retrieve: "get" } } },
      args: await siteArgs(hub, "east"),
    });
    try {
      const bytes = await Deno.readFile(CT);
      const res = await pacs.rest("/instances", { method: "POST", body: bytes });
      assert.equal(res.status, 200, await res.text());
      const sop = readPart10Header(bytes).sopInstanceUid;
      await eventually("east online", () => hub.sessions.get("east"));
      const auth = { authorization: `Bearer ${(await hub.tokens.create("viewer", "viewer")).token}` };
      const base = `http://127.0.0.1:${hub.port}/dicomweb/sites/east`;
      const at = `/studies/${CT_STUDY}/series/${CT_SERIES}/instances/${sop}`;
      const archived = async () =>
        (await (await fetch(`${base}/instances?SOPInstanceUID=${sop}`, { headers: auth })).json()).length;

      assert.equal(await archived(), 0, "the site's archive does not hold the instance");
      // Under another series of the study, the node has nothing: 404, and nothing retrieved.
      const elsewhere = await fetch(
        `${base}/nodes/pacs/studies/${CT_STUDY}/series/1.2.3/instances/${sop}/frames/1`,
        {
          headers: auth,
        },
      );
      assert.equal(elsewhere.status, 404, await elsewhere.text());

      const frame = await fetch(`${base}/nodes/pacs${at}/frames/1`, { headers: auth });
      assert.equal(frame.status, 200, await frame.clone().text());
      const body = new Uint8Array(await frame.arrayBuffer());
      // CT_small: 128 × 128 × 16 bits, one frame, inside one multipart part.
      assert.ok(
        body.byteLength > 128 * 128 * 2 && body.byteLength < 128 * 128 * 2 + 400,
        `${body.byteLength}`,
      );
      assert.equal(await archived(), 1, "the instance was retrieved from the node into the site's archive");

      const bulk = await fetch(`${base}/nodes/pacs${at}/bulkdata/7FE00010`, { headers: auth });
      assert.equal(bulk.status, 200, await bulk.clone().text());
      assert.ok((await bulk.arrayBuffer()).byteLength > 128 * 128 * 2);
    } finally {
      await agent.stop();
      await pacs.stop();
      await hub.stop();
    }
  },
});

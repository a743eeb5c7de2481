/**
 * DICOMweb through the hub with Orthanc on both sides: a site whose node is an Orthanc PACS
 * (QIDO, WADO and STOW reach it through the agent by C-FIND, C-GET and C-STORE), and Orthanc's own
 * DICOMweb client (`DicomWeb.Servers`) using the hub as a remote server: search, retrieve into
 * Orthanc, and STOW from Orthanc into a site.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import {
  freePort,
  type OrthancPeer,
  PYDICOM_TEST_FILES_DIR,
  skipReason,
  startOrthanc,
} from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub, type TestHub } from "../support/hub.ts";
import { readPart10Header } from "@conduit/shared/dicom";

const skip = skipReason("/usr/sbin/Orthanc", "/usr/share/orthanc/plugins/libOrthancDicomWeb.so");
if (skip) console.warn(`orthanc_test: skipped: ${skip}`);

const CT = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
const MR = path.join(PYDICOM_TEST_FILES_DIR, "MR_small.dcm");
const CT_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";

async function upload(o: OrthancPeer, file: string) {
  const res = await o.rest("/instances", { method: "POST", body: await Deno.readFile(file) });
  assert.equal(res.status, 200, await res.text());
}

Deno.test({
  name:
    "PS3.18 10.4-10.6 through the hub to a site whose node is Orthanc, and from Orthanc's DICOMweb client",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub: TestHub = await startTestHub();
    const pacs = await startOrthanc({
      aet: "PACS",
      storageDir: await Deno.makeTempDir({ prefix: "orthanc-pacs-" }),
      // The site as the PACS knows it, at a port where nothing listens: its C-MOVEs back to it fail.
      modalities: { east: { aet: "EAST", host: "127.0.0.1", port: freePort() } },
    });
    let agent: AgentProcess | undefined;
    let client: OrthancPeer | undefined;
    try {
      await upload(pacs, CT);
      agent = await startAgentProcess({
        aet: "EAST",
        config: {
          nodes: {
            pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port, retrieve: "get" },
            pacsmove: { aet: "PACS", host: "127.0.0.1", port: pacs.port, retrieve: "move" },
          },
        },
        args: await siteArgs(hub, "east"),
      });
      await eventually("east online", () => hub.sessions.get("east"));
      const token = (await hub.tokens.create("orthanc", "operator")).token;
      const auth = { authorization: `Bearer ${token}` };
      const node = `http://127.0.0.1:${hub.port}/dicomweb/sites/east/nodes/pacs`;

      // A node whose C-MOVE back to the site fails (the PACS has the wrong port for it): the study is found,
      // its retrieve fails, and that is a 502 with the node's status, not 404 "no such study" (until
      // 2026-12-08). Asked first, while the site's archive holds nothing of the study.
      const moved = `http://127.0.0.1:${hub.port}/dicomweb/sites/east/nodes/pacsmove`;
      const listed = await (await fetch(`${moved}/studies?StudyInstanceUID=${CT_STUDY}`, { headers: auth }))
        .json();
      assert.equal(listed.length, 1, "QIDO on the node finds the study");
      for (const what of ["metadata", ""]) {
        const res = await fetch(`${moved}/studies/${CT_STUDY}/${what}`, {
          headers: {
            ...auth,
            accept: what ? "application/dicom+json" : 'multipart/related; type="application/dicom"',
          },
        });
        const body = await res.text();
        assert.equal(res.status, 502, `${what || "WADO"}: ${body}`);
        assert.match(
          body,
          /the node pacsmove listed 1 object\(s\) and sent none: its C-MOVE ended with status 0x[0-9A-F]{4}/,
        );
        assert.match(body, /check that the node has this agent's AE title, host and port/);
      }

      // QIDO, metadata and WADO against the node (C-FIND, then C-GET into the agent, then streamed).
      const studies = await (await fetch(`${node}/studies?PatientID=1CT1`, { headers: auth })).json();
      assert.equal(studies.length, 1);
      assert.equal(studies[0]["0020000D"].Value[0], CT_STUDY);
      const meta = await (await fetch(`${node}/studies/${CT_STUDY}/metadata`, { headers: auth })).json();
      assert.equal(meta.length, 1);
      assert.equal(meta[0]["00100020"].Value[0], "1CT1");
      const wado = await fetch(`${node}/studies/${CT_STUDY}`, {
        headers: { ...auth, accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
      });
      assert.equal(wado.status, 200);
      assert.ok((await wado.arrayBuffer()).byteLength > 38_000);

      // STOW into the node: Orthanc now holds MR_small too.
      const boundary = "xyz";
      const enc = new TextEncoder();
      const stowed = await fetch(`${node}/studies`, {
        method: "POST",
        headers: {
          ...auth,
          "content-type": `multipart/related; type="application/dicom"; boundary=${boundary}`,
        },
        body: new Blob([
          enc.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`),
          await Deno.readFile(MR),
          enc.encode(`\r\n--${boundary}--\r\n`),
        ]),
      });
      assert.equal(stowed.status, 200, await stowed.clone().text());
      await stowed.body?.cancel();
      assert.equal((await pacs.instances()).length, 2);

      // Orthanc's DICOMweb client with the hub (the east site's archive) as a remote server.
      client = await startOrthanc({
        aet: "CLIENT",
        storageDir: await Deno.makeTempDir({ prefix: "orthanc-client-" }),
        dicomweb: true,
        dicomwebServers: { hub: { url: `http://127.0.0.1:${hub.port}/dicomweb/sites/east/`, headers: auth } },
      });
      const found = await client.rest("/dicom-web/servers/hub/get", {
        method: "POST",
        body: JSON.stringify({ Uri: "/studies" }),
      });
      assert.equal(found.status, 200);
      const list = await found.json();
      assert.ok(list.some((s: Record<string, { Value: string[] }>) => s["0020000D"].Value[0] === CT_STUDY));
      const retrieved = await client.rest("/dicom-web/servers/hub/retrieve", {
        method: "POST",
        body: JSON.stringify({ Resources: [{ Study: CT_STUDY }] }),
      });
      assert.equal(retrieved.status, 200, await retrieved.clone().text());
      await retrieved.body?.cancel();
      assert.equal((await client.instances()).length, 1, "Orthanc retrieved the study through the hub");
      // And back: STOW from Orthanc into the site, a new object.
      const upload2 = await client.rest("/instances", {
        method: "POST",
        body: await Deno.readFile(path.join(PYDICOM_TEST_FILES_DIR, "rtplan.dcm")),
      });
      const id = (await upload2.json()).ID;
      const stow = await client.rest("/dicom-web/servers/hub/stow", {
        method: "POST",
        body: JSON.stringify({ Resources: [id] }),
      });
      assert.equal(stow.status, 200, await stow.clone().text());
      await stow.body?.cancel();
      // rtplan.dcm's File Meta group names another SOP Instance UID than its data set: ask by class.
      const rtPlanStorage =
        readPart10Header(await Deno.readFile(path.join(PYDICOM_TEST_FILES_DIR, "rtplan.dcm")))
          .sopClassUid;
      const check = await fetch(
        `http://127.0.0.1:${hub.port}/dicomweb/sites/east/instances?SOPClassUID=${rtPlanStorage}`,
        { headers: auth },
      );
      assert.equal((await check.json()).length, 1, "the object Orthanc sent is in the site's archive");
    } finally {
      await client?.stop();
      await agent?.stop();
      await pacs.stop();
      await hub.stop();
    }
  },
});

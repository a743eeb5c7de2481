/**
 * Orthanc as the site's PACS: Orthanc C-STOREs into the agent; the agent C-FINDs, C-GETs, C-MOVEs
 * from Orthanc and C-STOREs into it. Objects must arrive byte-identical both ways.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { freePort, PYDICOM_TEST_FILES_DIR, skipReason, startOrthanc } from "../support/peers.ts";
import { agentCli, datasetBytes, listFiles, startAgentProcess } from "../support/agent.ts";
import { retrieveWith, storescu } from "../support/send.ts";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { readPart10Header } from "@conduit/shared/dicom";

const skip = skipReason("Orthanc", "storescu", "getscu");
if (skip) console.warn(`orthanc_test: skipped: ${skip}`);

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

/** The data set bytes of the object Orthanc stored, by SOP Instance UID. */
async function orthancDataset(rest: (p: string, init?: RequestInit) => Promise<Response>, sop: string) {
  const found = await (await rest("/tools/find", {
    method: "POST",
    body: JSON.stringify({ Level: "Instance", Query: { SOPInstanceUID: sop } }),
  })).json() as string[];
  assert.equal(found.length, 1, `Orthanc has ${found.length} instances with that UID`);
  const file = new Uint8Array(await (await rest(`/instances/${found[0]}/file`)).arrayBuffer());
  return file.subarray(readPart10Header(file).datasetOffset);
}

async function agentDataset(dataDir: string, sop: string): Promise<Uint8Array> {
  const file = (await listFiles(path.join(dataDir, "archive"))).find((f) => f.endsWith(`/${sop}.dcm`));
  assert.ok(file, `agent has no ${sop}`);
  return datasetBytes(file);
}

Deno.test({
  name: "agent and Orthanc exchange objects byte-identical: store, find, get, move, store back",
  ignore: !!skip,
  fn: async () => {
    const agentPort = freePort();
    const orthancDir = await Deno.makeTempDir({ prefix: "orthanc-" });
    const orthanc = await startOrthanc({
      storageDir: orthancDir,
      modalities: { conduit: { aet: "CONDUIT", host: "127.0.0.1", port: agentPort } },
    });
    const node = { aet: orthanc.aet, host: "127.0.0.1", port: orthanc.port };
    const agent = await startAgentProcess({
      port: agentPort,
      config: { nodes: { pacs: { ...node, retrieve: "get" }, pacsmove: { ...node, retrieve: "move" } } },
    });
    const api = (p: string, body: unknown) =>
      fetch(`http://127.0.0.1:${agent.httpPort}${p}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    try {
      // Seed Orthanc through its REST API. Orthanc (DCMTK) re-encodes some objects when it sends them
      // (sequence lengths made explicit, trailing padding dropped), so a pydicom object is compared with
      // what DCMTK's getscu --bit-preserving receives from Orthanc, and generated objects (which it sends
      // as stored) with Orthanc's own file.
      const [pushedSpec, movedSpec] = generateStudies({
        seed: "orthanc-push",
        patients: 2,
        studiesPerPatient: 1,
        series: [{ modality: "MR", instances: 1 }],
        rows: 32,
        columns: 32,
      });
      const ids: Record<string, string> = {};
      const seeds: Record<string, Uint8Array> = {
        "CT_small.dcm": await Deno.readFile(path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm")),
        "moved.dcm": generateInstance(movedSpec),
        "generated.dcm": generateInstance(pushedSpec),
      };
      for (const [name, body] of Object.entries(seeds)) {
        const r = await orthanc.rest("/instances", { method: "POST", body: body as Uint8Array<ArrayBuffer> });
        if (r.status !== 200) assert.fail(await r.text());
        ids[name] = (await r.json()).ID;
      }
      const tags = async (
        id: string,
      ) => (await (await orthanc.rest(`/instances/${id}/simplified-tags`)).json());

      // 1. Orthanc C-STOREs an object into the agent.
      const rt = await tags(ids["generated.dcm"]);
      const pushed = await orthanc.rest("/modalities/conduit/store", {
        method: "POST",
        body: JSON.stringify({ Resources: [ids["generated.dcm"]], Synchronous: true }),
      });
      if (pushed.status !== 200) assert.fail(await pushed.text());
      assert.ok(
        equalBytes(
          await agentDataset(agent.dataDir, rt.SOPInstanceUID),
          await orthancDataset(orthanc.rest, rt.SOPInstanceUID),
        ),
      );

      // 2. The agent C-FINDs Orthanc (results stream as JSON lines).
      const find = await api("/nodes/pacs/find", {
        level: "STUDY",
        keys: { StudyInstanceUID: "", PatientName: "Compressed*" },
      });
      const matches = (await find.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l));
      assert.equal(matches.length, 1, JSON.stringify(matches));
      assert.ok(matches.every((m) => m.StudyInstanceUID));

      // 3. C-GET the CT study from Orthanc into the agent.
      const ct = await tags(ids["CT_small.dcm"]);
      const got = await (await api("/nodes/pacs/retrieve", { studyInstanceUid: ct.StudyInstanceUID })).json();
      assert.equal(got.method, "get");
      assert.equal(got.ok, true, JSON.stringify(got));
      assert.equal(got.expected, 1);
      assert.equal(got.arrived, 1);
      const refDir = await Deno.makeTempDir({ prefix: "getscu-ref-" });
      const ref = await retrieveWith(
        "getscu",
        orthanc,
        ["QueryRetrieveLevel=STUDY", `StudyInstanceUID=${ct.StudyInstanceUID}`],
        ["-S", "+B", "-od", refDir],
      );
      assert.equal(ref.code, 0, ref.stderr);
      const [refFile] = await listFiles(refDir);
      assert.ok(
        equalBytes(await agentDataset(agent.dataDir, ct.SOPInstanceUID), await datasetBytes(refFile)),
      );

      // 4. C-MOVE the MR study from Orthanc to the agent.
      const mr = await tags(ids["moved.dcm"]);
      const moved = await (await api("/nodes/pacsmove/retrieve", { studyInstanceUid: mr.StudyInstanceUID }))
        .json();
      assert.equal(moved.method, "move");
      assert.equal(moved.ok, true, JSON.stringify(moved));
      assert.equal(moved.arrived, 1);
      assert.ok(
        equalBytes(
          await agentDataset(agent.dataDir, mr.SOPInstanceUID),
          await orthancDataset(orthanc.rest, mr.SOPInstanceUID),
        ),
      );

      // 5. The agent C-STOREs objects Orthanc lacks (two generated CT objects, sent by storescu first).
      const dir = await Deno.makeTempDir({ prefix: "gen-" });
      const specs = [
        ...generateStudies({
          seed: "orthanc-test",
          patients: 1,
          studiesPerPatient: 1,
          series: [{ modality: "CT", instances: 2 }],
          rows: 64,
          columns: 64,
        }),
      ];
      const files = [];
      for (const [i, spec] of specs.entries()) {
        const f = path.join(dir, `${i}.dcm`);
        await Deno.writeFile(f, generateInstance(spec));
        files.push(f);
      }
      const sent = await storescu(files, agent);
      assert.equal(sent.code, 0, sent.stderr);
      const stored = await (await api("/nodes/pacs/store", { studyInstanceUid: specs[0].studyInstanceUid }))
        .json();
      assert.deepEqual(stored, { sent: 2, failed: [] });
      for (const spec of specs) {
        assert.ok(
          equalBytes(
            await agentDataset(agent.dataDir, spec.sopInstanceUid),
            await orthancDataset(orthanc.rest, spec.sopInstanceUid),
          ),
        );
      }

      // An echo through the HTTP API and through the CLI, which calls the same API.
      const echo = await (await api("/nodes/pacs/echo", {})).json();
      assert.equal(echo.status, 0);
      const cli = await agentCli(["node", "echo", "pacs", "--http-port", String(agent.httpPort), "--json"]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(JSON.parse(cli.stdout).status, 0);
    } finally {
      await agent.stop();
      await orthanc.stop();
    }
  },
});

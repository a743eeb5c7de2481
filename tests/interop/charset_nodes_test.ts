/**
 * Names beyond ASCII between the agent and its PACS nodes: the agent's C-FIND keys reach the node declared
 * (Specific Character Set ISO_IR 192, as the library writes them in UTF-8), and answers in the stored
 * character sets (DCMTK's dcmqrscp answers as stored: ISO_IR 126, ISO 2022 IR 87 and 149 with code
 * extensions) are read right. Orthanc keeps its default DefaultEncoding (Latin1): it reads an undeclared key
 * in it, and answers these names with the letters Latin-1 lacks dropped (its choice), so only its matches
 * are compared.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import {
  freePort,
  PYDICOM_TEST_FILES_DIR,
  skipReason,
  startDcmqrscp,
  startOrthanc,
} from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";

const skip = skipReason("Orthanc", "dcmqrscp", "dcmqridx");
if (skip) console.warn(`charset_nodes_test: skipped: ${skip}`);

const CHARSETS = path.join(PYDICOM_TEST_FILES_DIR, "../charset_files");
/** Διονυσιος (ISO_IR 126), Yamada^Tarou=山田^太郎=やまだ^たろう (\ISO 2022 IR 87), 김희중 (\ISO 2022 IR 149). */
const FILES = ["chrGreek.dcm", "chrH31.dcm", "chrKoreanMulti.dcm"].map((n) => path.join(CHARSETS, n));

/** The node's matches for `keys` at STUDY level, through the agent's `POST /nodes/{node}/find`. */
async function find(agent: AgentProcess, node: string, keys: Record<string, string>) {
  const r = await agent.http(`/nodes/${node}/find`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ level: "STUDY", keys: { PatientID: "", PatientName: "", ...keys } }),
  });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l)) as {
    PatientID: string;
    PatientName: Record<string, string>[];
  }[];
}

const ids = (matches: { PatientID: string }[]) => matches.map((m) => m.PatientID).sort();

Deno.test({
  name: "the agent's C-FIND to a node declares its keys' character set and reads answers in theirs",
  ignore: !!skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "charset-nodes-" });
    const orthanc = await startOrthanc({ storageDir: path.join(dir, "orthanc") });
    const qr = await startDcmqrscp({ dir: path.join(dir, "dcmqrscp"), files: FILES });
    const agent = await startAgentProcess({
      port: freePort(),
      config: {
        nodes: {
          orthanc: { aet: orthanc.aet, host: "127.0.0.1", port: orthanc.port },
          dcmtk: { aet: qr.aet, host: "127.0.0.1", port: qr.port },
        },
      },
    });
    try {
      for (const file of FILES) {
        const r = await orthanc.rest("/instances", { method: "POST", body: await Deno.readFile(file) });
        assert.equal(r.status, 200, await r.text());
      }
      for (const node of ["orthanc", "dcmtk"]) {
        // Keys beyond ASCII match at the node: sent undeclared, Orthanc read them as Latin-1 and matched nothing.
        assert.deepEqual(ids(await find(agent, node, { PatientName: "Διον*" })), ["SCSGREEK"], node);
        assert.deepEqual(ids(await find(agent, node, { PatientName: "김희중" })), ["2008-3"], node);
      }
      // Names come back whole, in whatever character set the node answered.
      const names = Object.fromEntries(
        (await find(agent, "dcmtk", {})).map((m) => [m.PatientID, m.PatientName]),
      );
      assert.deepEqual(names, {
        SCSGREEK: [{ Alphabetic: "Διονυσιος" }],
        H31EXAMPLE: [{ Alphabetic: "Yamada^Tarou", Ideographic: "山田^太郎", Phonetic: "やまだ^たろう" }],
        "2008-3": [{ Alphabetic: "김희중" }],
      });
    } finally {
      await agent.stop();
      await qr.stop();
      await orthanc.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

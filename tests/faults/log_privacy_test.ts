/**
 * No PHI in logs: an object whose patient name and ID also sit in private tags goes through the paths
 * that decode it (C-STORE, QIDO-RS by patient, WADO-RS metadata, WADO-RS transcoded by dcmjs-codecs,
 * frames, a retrieve whose archived file has gone), with agent and hub as processes logging at debug
 * level. No line either writes (stdout or stderr) holds the names, the IDs, or a full study, series or
 * SOP Instance UID of the object.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { encodingOf, parseDataSet, readPart10Header, SopClass } from "@conduit/shared/dicom";
import { generateInstance, uidFromKey } from "@conduit/shared/testing";
import { skipReason } from "../support/peers.ts";
import { type AgentProcess, listFiles, startAgentProcess } from "../support/agent.ts";
import { eventually, hubAdmin, type HubProcess, startHubProcess } from "../support/hub.ts";
import { cStore, hexStatus, release } from "../support/pdu.ts";
import { associateForCt } from "../support/faults.ts";
import { responseParts } from "../support/multipart.ts";

const skip = skipReason("echoscu");
if (skip) console.warn(`log_privacy_test: skipped: ${skip}`);

const JPEG_LS = "1.2.840.10008.1.2.4.80";
const PHI = {
  patientName: "PRIVACYNAME^STANDARD",
  patientId: "PRIVACYID4711",
  privateName: "PRIVACYNAME^INPRIVATETAG",
  privateId: "PRIVACYID0815",
};

/** One explicit VR little endian element. */
function element(group: number, elem: number, vr: string, text: string): Uint8Array {
  const value = new TextEncoder().encode(text.length % 2 ? `${text} ` : text);
  const out = new Uint8Array(8 + value.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, group, true);
  v.setUint16(2, elem, true);
  out[4] = vr.charCodeAt(0);
  out[5] = vr.charCodeAt(1);
  v.setUint16(6, value.length, true);
  out.set(value, 8);
  return out;
}

/** A generated CT object with the patient's name and ID repeated in a private block of group 0011. */
function objectWithPrivateTags(key: string) {
  const spec = {
    modality: "CT" as const,
    patientName: PHI.patientName,
    patientId: PHI.patientId,
    studyInstanceUid: uidFromKey(`privacy/study/${key}`),
    seriesInstanceUid: uidFromKey(`privacy/series/${key}`),
    sopInstanceUid: uidFromKey(`privacy/sop/${key}`),
    instanceNumber: 1,
    rows: 64,
    columns: 64,
  };
  const bytes = generateInstance(spec);
  const header = readPart10Header(bytes);
  const { dataset } = parseDataSet(bytes, encodingOf(header.transferSyntax), { start: header.datasetOffset });
  const at = dataset.elements.find((e) => e.tag >>> 16 > 0x0011)!.offset;
  const block = [
    element(0x0011, 0x0010, "LO", "CONDUIT PRIVACY TEST"),
    element(0x0011, 0x1001, "PN", PHI.privateName),
    element(0x0011, 0x1002, "LO", PHI.privateId),
  ];
  const parts = [bytes.subarray(0, at), ...block, bytes.subarray(at)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), o += p.length;
  return { ...spec, part10: out, dataset: out.subarray(header.datasetOffset) };
}

async function logOf(p: { logFile: string }): Promise<string[]> {
  return (await Deno.readTextFile(p.logFile)).split("\n").filter((l) => l.trim());
}

Deno.test({
  name: "no patient name, ID (standard or in a private tag) or full UID in any log line of agent or hub",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let hub: HubProcess | undefined;
    let agent: AgentProcess | undefined;
    try {
      hub = await startHubProcess({ args: ["--log-level", "debug"] });
      const token = String(
        (await hubAdmin(hub.dataDir, ["token", "create", "t", "--role", "viewer", "--json"])).json!.token,
      );
      const enroll = String(
        (await hubAdmin(hub.dataDir, ["site", "add", "north", "--json"])).json!.enrollmentToken,
      );
      agent = await startAgentProcess({
        aet: "NORTH",
        config: { log: { level: "debug" } },
        args: ["--site", "north", "--hub", hub.tunnelUrl, "--enroll", enroll],
      });
      const objects = [objectWithPrivateTags("a"), objectWithPrivateTags("b")];
      const { socket, ac } = await associateForCt(agent, "PRIVACY");
      try {
        for (const [i, o] of objects.entries()) {
          const status = await cStore(socket, {
            contextId: 1,
            messageId: i + 1,
            sopClassUid: SopClass.CtImage,
            sopInstanceUid: o.sopInstanceUid,
            dataset: o.dataset,
            maxPduLength: ac.maxPduLength,
          });
          assert.equal(hexStatus(status), "0x0000");
        }
        await release(socket);
      } finally {
        await socket.close();
      }
      const hubPort = hub.port;
      await eventually("north online", async () => {
        const r = await fetch(`http://127.0.0.1:${hubPort}/healthz`);
        return (await r.json()).sites === 1 || undefined;
      });
      const get = (url: string, accept = "application/dicom+json") =>
        fetch(`http://127.0.0.1:${hubPort}/dicomweb/sites/north${url}`, {
          headers: { authorization: `Bearer ${token}`, accept },
        });
      const [a, b] = objects;
      const instance = (o: typeof a) =>
        `/studies/${o.studyInstanceUid}/series/${o.seriesInstanceUid}/instances/${o.sopInstanceUid}`;

      // QIDO by the patient's name and ID
      for (const q of [`PatientName=${PHI.patientName}`, `PatientID=${PHI.patientId}`]) {
        const res = await get(`/studies?${q}`);
        assert.equal(res.status, 200, await res.clone().text());
        assert.equal((await res.json() as unknown[]).length, 2, q);
      }
      // metadata (the private elements travel as JSON)
      const meta = await get(`${instance(a)}/metadata`);
      assert.equal(meta.status, 200);
      assert.match(await meta.text(), new RegExp(PHI.privateName.replace("^", "\\^")));
      // the whole object transcoded by dcmjs-codecs (dcmjs printed every private value here)
      const transcoded = await get(
        instance(a),
        `multipart/related; type="application/dicom"; transfer-syntax=${JPEG_LS}`,
      );
      assert.equal(transcoded.status, 200, await transcoded.clone().text());
      const [part] = await responseParts(transcoded);
      assert.equal(readPart10Header(part.body).transferSyntax, JPEG_LS);
      // a frame transcoded the same way
      const frame = await get(`${instance(a)}/frames/1`, `multipart/related; type="image/jls"`);
      await frame.body?.cancel();
      // a retrieve whose archived file has gone: the error names its path, built from the UIDs
      const archived = (await listFiles(path.join(agent.dataDir, "archive"))).find((f) =>
        f.endsWith(`${b.sopInstanceUid}.dcm`)
      )!;
      await Deno.remove(archived);
      const gone = await get(instance(b), `multipart/related; type="application/dicom"; transfer-syntax=*`);
      await gone.body?.cancel();
      const goneMeta = await get(`${instance(b)}/metadata`);
      await goneMeta.body?.cancel();

      await agent.stop();
      await hub.stop();
      const lines = [
        ...(await logOf(agent)).map((l) => `agent: ${l}`),
        ...(await logOf(hub)).map((l) => `hub: ${l}`),
      ];
      assert.ok(lines.length > 10, `only ${lines.length} log lines`);
      const secrets = [
        ...Object.values(PHI),
        ...Object.values(PHI).map((v) => v.split("^")[0]),
        ...objects.flatMap((o) => [o.studyInstanceUid, o.seriesInstanceUid, o.sopInstanceUid]),
      ];
      const leaks = lines.filter((l) => secrets.some((s) => l.toUpperCase().includes(s.toUpperCase())));
      assert.deepEqual(leaks, [], `log lines with PHI or full UIDs:\n${leaks.slice(0, 20).join("\n")}`);
    } finally {
      await agent?.stop();
      await hub?.stop();
    }
  },
});

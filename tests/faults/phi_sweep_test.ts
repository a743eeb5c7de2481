/**
 * No PHI in logs, swept across the paths that log: objects whose patient name, ID, birth date, other IDs,
 * address, accession number and study description carry marker strings go through C-STORE (stored, again,
 * again with other bytes, with a command that does not match, truncated), forwarding to a destination that
 * is down and to one that refuses the association, C-FIND, C-MOVE and C-GET keyed on those values,
 * QIDO-RS by patient, WADO-RS, STOW-RS (whole and broken), batches of both kinds with those values in their
 * rows (and a patient no site has), tRPC queries and errors, WADO-RS rendered, thumbnails and frames,
 * transfers refused and failing (with a pseudonym table), a login as the patient's name, `agent deid` (plain,
 * --json, a file it cannot parse), `agent check` and `hub admin` lists and audit. Hub and two
 * agents as processes, all at debug level; the objects also carry the name and ID in a private block. None
 * of the markers (case-folded), nor a full UID of the objects, is in any line of the hub's or either agent's
 * standard output and error, the CLIs' output, either /metrics, or the audit table; the agent's lines show
 * the paths were taken.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { toBase64 } from "@conduit/shared/base64";
import { generateInstance, uidFromKey } from "@conduit/shared/testing";
import { runDcmtk, skipReason, startStorescp } from "../support/peers.ts";
import { agentCli, type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { eventually, hubAdmin, type HubProcess, startHubProcess } from "../support/hub.ts";
import { retrieveWith, storescu } from "../support/send.ts";
import { freePort } from "../support/ports.ts";
import { privateFixturesSkip } from "../support/private_fixtures.ts";
import { cStore, release } from "../support/pdu.ts";
import { associateForCt } from "../support/faults.ts";
import { readPart10Header, SopClass } from "@conduit/shared/dicom";
import { createConduitClient } from "../../hub/client/mod.ts";

const skip = skipReason("storescu", "storescp", "findscu", "movescu", "getscu") ||
  await privateFixturesSkip();
if (skip) console.warn(`phi_sweep_test: skipped: ${skip}`);

const MARKERS = {
  patientName: "Zyxwvut^Qwertyname",
  patientId: "PHI-ID-8472913",
  birthDate: "19230417",
  otherIds: "PHI-OTHER-5531977",
  address: "Markerweg 77 Phistadt",
  accession: "ACCPHI339912",
  studyDescription: "STUDYDESCPHI Knee",
  unknownPatient: "PHI-ID-NOSUCH-6610",
};
const FOLDED = [
  ...Object.values(MARKERS),
  "Zyxwvut",
  "Qwertyname",
  "Markerweg",
  "Phistadt",
  "STUDYDESCPHI",
].map((s) => s.toLowerCase());

function instance(key: string, extra: { sopInstanceUid?: string; seriesDescription?: string } = {}) {
  return {
    modality: "CT" as const,
    patientName: MARKERS.patientName,
    patientId: MARKERS.patientId,
    patientBirthDate: MARKERS.birthDate,
    accessionNumber: MARKERS.accession,
    studyDescription: MARKERS.studyDescription,
    studyInstanceUid: uidFromKey(`phi/study`),
    seriesInstanceUid: uidFromKey(`phi/series`),
    sopInstanceUid: extra.sopInstanceUid ?? uidFromKey(`phi/sop/${key}`),
    seriesDescription: extra.seriesDescription,
    instanceNumber: 1,
    rows: 16,
    columns: 16,
  };
}

/** Adds Other Patient IDs, the patient's address, and the name and ID again in a private block. */
const ADD_PHI = `
import sys, pydicom
f, other, address, name, pid = sys.argv[1:6]
ds = pydicom.dcmread(f)
ds.OtherPatientIDs = other
ds.PatientAddress = address
block = ds.private_block(0x0011, "CONDUIT SWEEP", create=True)
block.add_new(0x01, "PN", name)
block.add_new(0x02, "LO", pid)
ds.save_as(f)
`;

/** A Part 10 file of {@link instance} with the attributes of {@link ADD_PHI}. */
async function writeInstance(dir: string, key: string, extra?: Parameters<typeof instance>[1]) {
  const spec = instance(key, extra);
  const file = path.join(dir, `${key}.dcm`);
  await Deno.writeFile(file, generateInstance(spec));
  const mod = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", ADD_PHI, file, MARKERS.otherIds, MARKERS.address, MARKERS.patientName, MARKERS.patientId],
    stderr: "piped",
  }).output();
  assert.equal(mod.code, 0, new TextDecoder().decode(mod.stderr));
  return { file, spec };
}

function leaks(where: string, text: string, uids: string[]): string[] {
  return text.split("\n").filter((l) => {
    const low = l.toLowerCase();
    return FOLDED.some((m) => low.includes(m)) || uids.some((u) => l.includes(u));
  }).map((l) => `${where}: ${l.slice(0, 400)}`);
}

Deno.test({
  name: "no PHI marker nor full UID in any log, CLI output, metric or audit row along the paths that log",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "phi-sweep-" });
    const found: string[] = [];
    let hub: HubProcess | undefined;
    const agents: AgentProcess[] = [];
    const refusing = await startStorescp({
      aet: "REFUSER",
      dir: path.join(dir, "refuser"),
      extraArgs: ["--refuse"],
    });
    const pacs = await startStorescp({ aet: "PACS", dir: path.join(dir, "pacs") });
    try {
      const hubMetrics = freePort();
      hub = await startHubProcess({ args: ["--log-level", "debug", "--metrics-port", String(hubMetrics)] });
      const hubDir = hub.dataDir;
      const enrol = async (site: string) => [
        "--site",
        site,
        "--hub",
        hub!.tunnelUrl,
        "--enroll",
        String((await hubAdmin(hubDir, ["site", "add", site, "--json"])).json!.enrollmentToken),
      ];
      const downPort = freePort();
      const config = (nodes: Record<string, unknown>, routes: unknown[], keyFile?: string) => ({
        log: { level: "debug" },
        ...(keyFile ? { deid: { keyFile } } : {}),
        queue: { backoffBaseSeconds: 0.1, backoffCapSeconds: 0.2, maxAttempts: 2 },
        hub: { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 1 },
        nodes,
        routes,
      });
      const keyFile = path.join(dir, "deid.key");
      await Deno.writeFile(keyFile, crypto.getRandomValues(new Uint8Array(32)));
      const north = await startAgentProcess({
        aet: "NORTH",
        config: config(
          {
            down: { aet: "DOWN", host: "127.0.0.1", port: downPort },
            refuser: { aet: "REFUSER", host: "127.0.0.1", port: refusing.port },
          },
          [{ name: "out", to: [{ node: "down" }, { node: "refuser" }] }],
          keyFile,
        ),
        args: await enrol("north"),
      });
      agents.push(north);
      const south = await startAgentProcess({
        aet: "SOUTH",
        config: config({ pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port } }, []),
        args: await enrol("south"),
      });
      agents.push(south);
      await eventually("both online", async () => {
        const r = await fetch(`http://127.0.0.1:${hub!.port}/healthz`);
        return (await r.json()).sites === 2 || undefined;
      });

      // C-STORE: two objects, the first again (the same bytes), then other bytes under its SOP UID.
      const a = await writeInstance(dir, "a");
      const b = await writeInstance(dir, "b");
      const c = await writeInstance(dir, "c", {
        sopInstanceUid: a.spec.sopInstanceUid,
        seriesDescription: "X",
      });
      const uids = [
        a.spec.studyInstanceUid,
        a.spec.seriesInstanceUid,
        a.spec.sopInstanceUid,
        b.spec.sopInstanceUid,
      ];
      for (const files of [[a.file, b.file], [a.file], [c.file]]) {
        const sent = await storescu(files, north);
        found.push(...leaks("storescu", sent.stdout + sent.stderr, []));
      }
      // raw C-STOREs: a data set cut short, one whose SOP Instance UID is not the command's, noise
      const e = await writeInstance(dir, "e");
      const eBytes = await Deno.readFile(e.file);
      const eSet = eBytes.subarray(readPart10Header(eBytes).datasetOffset);
      uids.push(e.spec.sopInstanceUid);
      const { socket, ac } = await associateForCt(north, "RAWSCU");
      try {
        for (
          const [i, [sop, dataset]] of [
            [e.spec.sopInstanceUid, eSet.subarray(0, eSet.length - 300)],
            [uidFromKey("phi/other-sop"), eSet],
            [e.spec.sopInstanceUid, eSet.subarray(0, 40)],
          ].entries() as Iterable<[number, [string, Uint8Array]]>
        ) {
          await cStore(socket, {
            contextId: 1,
            messageId: i + 1,
            sopClassUid: SopClass.CtImage,
            sopInstanceUid: sop,
            dataset,
            maxPduLength: ac.maxPduLength,
          });
        }
        await release(socket);
      } finally {
        await socket.close();
      }

      // C-FIND, C-MOVE, C-GET with the markers as keys; a move to an AE nobody knows.
      const keys = [
        `PatientName=${MARKERS.patientName}`,
        `PatientID=${MARKERS.patientId}`,
        `PatientBirthDate=${MARKERS.birthDate}`,
        `AccessionNumber=${MARKERS.accession}`,
      ];
      await runDcmtk("findscu", [
        "-S",
        "-aec",
        "NORTH",
        "-k",
        "QueryRetrieveLevel=STUDY",
        ...keys.flatMap((k) => ["-k", k]),
        "-k",
        "StudyDescription",
        "127.0.0.1",
        String(north.port),
      ]);
      await runDcmtk("findscu", [
        "-P",
        "-aec",
        "NORTH",
        "-k",
        "QueryRetrieveLevel=PATIENT",
        "-k",
        `PatientBirthDate=${MARKERS.birthDate}-bad`,
        "-k",
        `PatientID=${MARKERS.patientId}`,
        "127.0.0.1",
        String(north.port),
      ]);
      await retrieveWith("movescu", north, ["QueryRetrieveLevel=PATIENT", `PatientID=${MARKERS.patientId}`], [
        "-P",
        "-aem",
        "NOWHERE",
      ]);
      await retrieveWith("getscu", north, ["QueryRetrieveLevel=STUDY", `PatientID=${MARKERS.patientId}`], [
        "-S",
        "-od",
        await Deno.makeTempDir({ dir }),
      ]);

      // forwarding: a destination down, one refusing: both dead-lettered after their attempts
      await eventually("forwarding given up", async () => {
        const r = await north.http("/queue?limit=100");
        const rows = await r.json() as { state: string }[];
        return rows.length >= 4 && rows.every((x) => x.state === "dead") || undefined;
      }, 60_000);

      // DICOMweb through the hub
      const token = String(
        (await hubAdmin(hubDir, ["token", "create", "sweep", "--role", "operator", "--json"])).json!.token,
      );
      const web = (p: string, init: RequestInit = {}) =>
        fetch(`http://127.0.0.1:${hub!.port}/dicomweb/sites/north${p}`, {
          ...init,
          headers: { authorization: `Bearer ${token}`, accept: "application/dicom+json", ...init.headers },
        });
      const statuses: number[] = [];
      for (
        const q of [
          `PatientName=${MARKERS.patientName}`,
          `PatientID=${MARKERS.patientId}`,
          `PatientBirthDate=${MARKERS.birthDate}`,
          `PatientBirthDate=${MARKERS.birthDate}x`,
          `AccessionNumber=${MARKERS.accession}&includefield=PatientAddress`,
          `Zyxwvut=1`,
          // a pattern longer than a PN component group may be (PS3.5): refused before the site is asked
          `PatientName=${MARKERS.patientName}*${"x".repeat(50_001)}*`,
        ]
      ) {
        const res = await web(`/studies?${q}`);
        statuses.push(res.status);
        await res.body?.cancel();
      }
      // found by the patient's name, ID and birth date; the bad date, the unknown key and the long pattern refused
      assert.deepEqual(statuses, [200, 200, 200, 400, 200, 400, 400]);
      // a query the site takes and fails (its node refuses the association): north logs the failure
      const atNode = await web(`/nodes/refuser/studies?PatientName=${MARKERS.patientName}`);
      await atNode.body?.cancel();
      assert.equal(atNode.status, 502);
      const st = a.spec;
      await (await web(
        `/studies/${st.studyInstanceUid}/series/${st.seriesInstanceUid}/instances/${st.sopInstanceUid}/metadata`,
      )).body?.cancel();
      await (await web(`/studies/${st.studyInstanceUid}`, {
        headers: { accept: "multipart/related; type=application/dicom" },
      })).body?.cancel();
      const inst =
        `/studies/${st.studyInstanceUid}/series/${st.seriesInstanceUid}/instances/${st.sopInstanceUid}`;
      for (
        const [p, accept] of [
          [`${inst}/rendered`, "image/jpeg"],
          [`${inst}/thumbnail`, "image/png"],
          [`${inst}/frames/1`, "multipart/related; type=application/octet-stream"],
          [`${inst}/frames/1/rendered?window=1,2,LINEAR`, "image/jpeg"],
          [`${inst}/rendered?quality=Zyxwvut`, "image/jpeg"],
          [
            `/studies/${st.studyInstanceUid}/series/${st.seriesInstanceUid}/instances/${
              uidFromKey("phi/none")
            }/metadata`,
            "application/dicom+json",
          ],
          [`/studies/${st.studyInstanceUid}/${MARKERS.patientId}`, "application/dicom+json"],
          [`${inst}`, 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80'],
        ]
      ) {
        const res = await web(p, { headers: { accept } });
        await res.body?.cancel();
      }
      const stow = (body: Uint8Array<ArrayBuffer>) =>
        web(`/studies`, {
          method: "POST",
          headers: { "content-type": 'multipart/related; type="application/dicom"; boundary=XYZ' },
          body,
        });
      const enc = new TextEncoder();
      const partOf = (bytes: Uint8Array, end = true) => {
        const head = enc.encode("--XYZ\r\nContent-Type: application/dicom\r\n\r\n");
        const tail = enc.encode(end ? "\r\n--XYZ--\r\n" : "");
        const out = new Uint8Array(new ArrayBuffer(head.length + bytes.length + tail.length));
        out.set(head);
        out.set(bytes, head.length);
        out.set(tail, head.length + bytes.length);
        return out;
      };
      const d = await writeInstance(dir, "d");
      await (await stow(partOf(await Deno.readFile(d.file)))).body?.cancel();
      const dBytes = await Deno.readFile(d.file);
      await (await stow(partOf(dBytes.subarray(0, dBytes.length - 200)))).body?.cancel();
      await (await stow(partOf(dBytes.subarray(0, 600), false))).body?.cancel();
      await (await stow(partOf(enc.encode(`not dicom ${MARKERS.patientName}`)))).body?.cancel();
      uids.push(d.spec.sopInstanceUid);

      // tRPC: queries with the markers, a batch of each kind naming them, one unknown patient
      const client = createConduitClient({ url: `http://127.0.0.1:${hub.port}`, token });
      await client.query.studies.query({ site: "north", filters: { PatientID: MARKERS.patientId } }).catch(
        () => {},
      );
      await client.query.studies.query({
        site: "north",
        filters: { PatientBirthDate: `${MARKERS.birthDate}zz` },
      })
        .catch(() => {});
      await client.query.studies.query({ site: "north", filters: { [MARKERS.patientId]: "x" } }).catch(
        () => {},
      );
      const csv = (rows: string[]) => toBase64(enc.encode(rows.join("\n") + "\n"));
      const batchFile = csv([
        "Patient ID,Patient Name,Birth Date,Accession Number,Pseudonym",
        `${MARKERS.patientId},${MARKERS.patientName},${MARKERS.birthDate},${MARKERS.accession},PSEUDO-1`,
        `${MARKERS.unknownPatient},,,,PSEUDO-2`,
        `${MARKERS.patientId},,notadate-${MARKERS.birthDate},,`,
      ]);
      await client.batch.preview.mutate({ filename: "phi.csv", contentBase64: batchFile }).catch(() => {});
      const q = await client.batch.upload.mutate({
        kind: "query",
        filename: "phi.csv",
        contentBase64: batchFile,
        sites: ["north"],
      });
      const t = await client.batch.upload.mutate({
        kind: "transfer",
        filename: "phi-transfer.csv",
        contentBase64: batchFile,
        sites: ["north"],
        destination: { site: "south", node: "pacs" },
        deid: { profile: "basic" },
      }).catch((e) => ({ id: undefined, e }));
      for (const id of [q.id, t.id]) {
        if (!id) continue;
        await eventually(`batch ${id} ended`, async () => {
          const s = await client.batch.status.query({ id });
          return s.status !== "running" || undefined;
        }, 60_000);
      }
      await client.batch.upload.mutate({
        kind: "query",
        filename: "phi.csv",
        contentBase64: toBase64(enc.encode(`\u0000garbage ${MARKERS.patientName}`)),
        sites: ["north"],
      }).catch(() => {});
      // a transfer naming a patient's ID where a study UID goes, and one of a study the source lacks
      const refused = await client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south" },
        studies: [MARKERS.patientId],
      }).then(() => "made", (e: Error) => e.message);
      assert.match(refused, /not a DICOM UID/);
      const missing = await client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "pacs" },
        studies: [uidFromKey("phi/no-such-study")],
        deid: { profile: "basic", pseudonyms: { [MARKERS.patientId]: "PSEUDO-9" } },
      });
      await eventually("the missing study's transfer ended", async () => {
        const t = await client.transfers.get.query({ id: missing.id });
        return ["success", "warning", "failure", "canceled"].includes(t.status) || undefined;
      }, 60_000);
      // a login as the patient's name (a password typed in the user field, say)
      const login = await fetch(`http://127.0.0.1:${hub.port}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: MARKERS.patientName, password: MARKERS.patientId }),
      });
      assert.equal(login.status, 401);
      await login.body?.cancel();

      // agent deid: plain and --json, and a file it cannot parse
      const bad = path.join(dir, "in", "bad.dcm");
      await Deno.mkdir(path.dirname(bad));
      await Deno.copyFile(a.file, path.join(dir, "in", "a.dcm"));
      await Deno.writeFile(bad, (await Deno.readFile(a.file)).subarray(0, 700));
      for (const json of [[], ["--json"]]) {
        const out = await agentCli([
          "deid",
          "--profile",
          "basic",
          "--key-file",
          keyFile,
          "--in",
          path.join(dir, "in"),
          "--out",
          await Deno.makeTempDir({ dir }),
          ...json,
        ]);
        assert.equal(out.code, 1, "one file de-identified, one failed");
        found.push(...leaks(`agent deid ${json}`, out.stdout + out.stderr, uids));
      }

      for (const [i, agent] of agents.entries()) {
        const metrics = await (await agent.http("/metrics")).text();
        found.push(...leaks(`agent ${i} /metrics`, metrics, uids));
      }
      found.push(
        ...leaks("hub /metrics", await (await fetch(`http://127.0.0.1:${hubMetrics}/metrics`)).text(), uids),
      );
      for (const args of [["site", "list"], ["token", "list"], ["user", "list"]]) {
        const out = await hubAdmin(hubDir, args);
        found.push(...leaks(`hub admin ${args.join(" ")}`, out.stdout + out.stderr, uids));
      }
      const audit = await hubAdmin(hub.dataDir, ["audit", "--json", "--limit", "all"]);
      assert.match(audit.stdout, /transfer\.create/);
      assert.match(audit.stdout, /login\.failed/);
      found.push(...leaks("audit", audit.stdout + audit.stderr, uids));
      const check = await agentCli([
        "check",
        "--config",
        path.join(north.dataDir, "agent.yaml"),
        "--data",
        north.dataDir,
      ]);
      assert.match(check.stdout, /node refuser/);
      found.push(...leaks("agent check", check.stdout + check.stderr, uids));
      for (const agent of agents) await agent.stop();
      await hub.stop();
      found.push(...leaks("hub log", await Deno.readTextFile(hub.logFile), uids));
      const northLog = await Deno.readTextFile(north.logFile);
      found.push(...leaks("north log", northLog, uids));
      found.push(...leaks("south log", await Deno.readTextFile(south.logFile), uids));
      // the paths were taken (their lines are there)
      for (
        const line of [
          "instance received again with different bytes",
          "C-STORE payload does not parse to its end",
          "data set does not match its C-STORE command",
          "cannot open an association",
          "C-FIND done",
          "C-MOVE failed",
          "C-GET failed",
          "rendered",
          "object stored from the tunnel",
          "tunnel request failed",
        ]
      ) assert.ok(northLog.includes(`"msg":"${line}"`), `north logged no ${line}`);
      assert.deepEqual(found, [], `PHI or full UIDs found:\n${found.slice(0, 40).join("\n")}`);
    } finally {
      for (const agent of agents) await agent.stop();
      await hub?.stop();
      await refusing.stop();
      await pacs.stop();
    }
  },
});

/**
 * DICOM over TLS (PS3.15 B.1/B.9) against real peers, with certificates made by `openssl` here: DCMTK's
 * echoscu, storescu and findscu `+tls` into the agent's TLS port (client certificates required), the
 * agent into DCMTK's `storescp +tls` (echo and store), and agent and Orthanc both ways (echo, store,
 * find, get). Clients without a trusted certificate, TLS below 1.2 and suites outside BCP 195 are
 * refused.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { generateInstance, uidFromKey } from "@conduit/shared/testing";
import { freePort, runDcmtk, skipReason, startOrthanc, startStorescp, toolPath } from "../support/peers.ts";
import { type AgentProcess, datasetBytes, listFiles, startAgentProcess } from "../support/agent.ts";
import { assertServing } from "../support/faults.ts";
import { eventually } from "../support/hub.ts";
import { makeExpiredCert, makeTestPki, type Party, type TestPki } from "../support/pki.ts";
import { DENO_RUN_FLAGS } from "../support/processes.ts";

const skip = skipReason("echoscu", "storescu", "findscu", "storescp") ||
  (toolPath("openssl") ? false : "needs openssl");
if (skip) console.warn(`dimse_tls_test: skipped: ${skip}`);
const orthancSkip = skip || skipReason("/usr/sbin/Orthanc");

let pki: Promise<TestPki> | undefined;
const testPki = () => pki ??= makeTestPki(["agent", "dcmtk", "orthanc"]);

/** A generated CT object written to a temporary file; its path and UIDs. */
async function sample(key: string) {
  const spec = {
    modality: "CT" as const,
    patientName: "TLS^TEST",
    patientId: `TLS-${key}`,
    studyInstanceUid: uidFromKey(`tls/study/${key}`),
    seriesInstanceUid: uidFromKey(`tls/series/${key}`),
    sopInstanceUid: uidFromKey(`tls/sop/${key}`),
    instanceNumber: 1,
    rows: 64,
    columns: 64,
  };
  const file = await Deno.makeTempFile({ prefix: "conduit-tls-", suffix: ".dcm" });
  await Deno.writeFile(file, generateInstance(spec));
  return { file, ...spec };
}

/** `+tls key cert +cf ca` for a DCMTK tool presenting `party`. */
const dcmtkTls = (p: TestPki, party: Party) => ["+tls", party.key, party.cert, "+cf", p.ca];

/** The archived data set of `sop` in an agent, or undefined. */
async function archived(agent: AgentProcess, sop: string): Promise<Uint8Array | undefined> {
  const file = (await listFiles(path.join(agent.dataDir, "archive"))).find((f) => f.endsWith(`${sop}.dcm`));
  return file ? await datasetBytes(file) : undefined;
}

async function agentApi(agent: AgentProcess, p: string, body?: unknown): Promise<Response> {
  return await agent.http(p, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
}

/** Runs the agent to its exit (a config that is refused) or for 30 s at most (one that was not). */
async function agentStart(args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      ...DENO_RUN_FLAGS,
      "--frozen",
      path.join(import.meta.dirname!, "../../agent/main.ts"),
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** Whether an `openssl s_client` handshake with these arguments succeeds against the port. */
async function handshake(port: number, args: string[]): Promise<boolean> {
  const child = new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  await child.stdin.close();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout);
  return /^(New|Reused), TLSv1\.[23]/m.test(text) && !/Cipher is \(NONE\)/.test(text);
}

Deno.test({
  name:
    "DICOM over TLS into the agent: echoscu, storescu, findscu +tls; untrusted or missing client certificates refused",
  ignore: !!skip,
  fn: async () => {
    const p = await testPki();
    const tlsPort = freePort();
    const agent = await startAgentProcess({
      aet: "TLSAGENT",
      config: {
        dimse: {
          tls: {
            port: tlsPort,
            cert: p.parties.agent.cert,
            key: p.parties.agent.key,
            ca: p.ca,
            requireClientCert: true,
          },
        },
      },
    });
    const object = await sample("into-agent");
    const to = ["-aec", agent.aet, "127.0.0.1", String(tlsPort)];
    try {
      const echo = await runDcmtk("echoscu", [...dcmtkTls(p, p.parties.dcmtk), ...to]);
      assert.equal(echo.code, 0, `echoscu +tls: ${echo.stdout}${echo.stderr}`);

      const store = await runDcmtk("storescu", [...dcmtkTls(p, p.parties.dcmtk), ...to, object.file]);
      assert.equal(store.code, 0, `storescu +tls: ${store.stdout}${store.stderr}`);
      assert.deepEqual(await archived(agent, object.sopInstanceUid), await datasetBytes(object.file));

      const find = await runDcmtk("findscu", [
        ...dcmtkTls(p, p.parties.dcmtk),
        "-v",
        "-S",
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        "StudyInstanceUID",
        "-k",
        "PatientID=TLS-into-agent",
        ...to,
      ]);
      assert.equal(find.code, 0, `findscu +tls: ${find.stdout}${find.stderr}`);
      const output = find.stdout + find.stderr;
      assert.equal((output.match(/Find Response: \d+ \(Pending\)/g) ?? []).length, 1, output);
      assert.ok(output.includes(object.studyInstanceUid), output);

      // refused: no client certificate, one no trusted CA issued, an expired one, and plain DICOM on the TLS
      // port; each logged with its reason and the peer's address (until 2026-12-08 the three certificate
      // faults all read "socket hang up", and every refusal `remote: ""`)
      const expired = await makeExpiredCert(p.dir, "expired-client");
      const refusals: [string, string[], RegExp][] = [
        ["anonymous TLS (no client certificate)", ["+tla", "+cf", p.ca], /^the client sent no certificate$/],
        [
          "a self-signed client certificate",
          dcmtkTls(p, p.rogue),
          /^the client's certificate "CN=.*" was issued by "CN=.*", not by a CA of dimse\.tls\.ca$/,
        ],
        ["an expired client certificate", dcmtkTls(p, expired), /expired 2020-01-01T00:00:00Z$/],
        ["no TLS at all", [], /./],
      ];
      for (const [what, args] of refusals) {
        const r = await runDcmtk("echoscu", [...args, ...to], { timeoutMs: 20_000 });
        assert.notEqual(r.code, 0, `${what}: echoscu succeeded`);
      }
      // The last refusal may reach the log just after its client has given up.
      const refusedLines = async () =>
        (await Deno.readTextFile(agent.logFile)).split("\n").filter((l) =>
          l.includes('"TLS handshake refused"')
        )
          .map((l) => JSON.parse(l) as { reason: string; remote: string });
      await eventually(
        "every refusal logged",
        async () => (await refusedLines()).length >= refusals.length || undefined,
      );
      const logged = await refusedLines();
      assert.equal(logged.length, refusals.length, JSON.stringify(logged));
      refusals.forEach(([what, , reason], i) => {
        assert.match(logged[i].reason, reason, what);
        assert.equal(logged[i].remote, "127.0.0.1", what);
      });
      // TLS 1.2 and 1.3 only, AEAD suites with forward secrecy only
      const client = ["-CAfile", p.ca, "-cert", p.parties.dcmtk.cert, "-key", p.parties.dcmtk.key];
      const suites: [string[], boolean][] = [
        [["-tls1_3"], true],
        [["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"], true],
        [["-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384"], true],
        [["-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA256"], false],
        [["-tls1_2", "-cipher", "AES128-GCM-SHA256"], false],
        [["-tls1_2", "-cipher", "DHE-RSA-AES128-GCM-SHA256"], false],
        [["-tls1_1"], false],
      ];
      for (const [args, ok] of suites) {
        assert.equal(
          await handshake(tlsPort, [...client, ...args]),
          ok,
          `openssl s_client ${args.join(" ")}`,
        );
      }
      const metrics = await (await agent.http("/metrics")).text();
      const refused = Number(
        /failures_total\{operation="association",status="tls-refused"\} (\d+)/.exec(metrics)?.[1],
      );
      assert.ok(refused >= 3, `tls-refused counted ${refused} times`);
      await assertServing(agent);
      const again = await runDcmtk("echoscu", [...dcmtkTls(p, p.parties.dcmtk), ...to]);
      assert.equal(again.code, 0, "the TLS port still serves");
    } finally {
      await agent.stop();
      await Deno.remove(object.file);
    }
  },
});

Deno.test({
  name:
    "the agent over TLS to DCMTK storescp +tls: echo and store; an untrusted node or a missing client certificate fails",
  ignore: !!skip,
  fn: async () => {
    const p = await testPki();
    const dir = await Deno.makeTempDir({ prefix: "conduit-tls-scp-" });
    const scp = await startStorescp({
      dir,
      aet: "TLSSCP",
      bitPreserving: true,
      extraArgs: ["+tls", p.parties.dcmtk.key, p.parties.dcmtk.cert, "+cf", p.ca],
    });
    const node = { aet: "TLSSCP", host: "127.0.0.1", port: scp.port };
    const agent = await startAgentProcess({
      config: {
        nodes: {
          scp: { ...node, tls: { ca: p.ca, cert: p.parties.agent.cert, key: p.parties.agent.key } },
          anonymous: { ...node, tls: { ca: p.ca } },
          untrusted: {
            ...node,
            tls: { ca: p.rogue.cert, cert: p.parties.agent.cert, key: p.parties.agent.key },
          },
          plain: node,
        },
      },
    });
    const object = await sample("to-storescp");
    try {
      const echo = await agentApi(agent, "/nodes/scp/echo");
      assert.equal(echo.status, 200, await echo.clone().text());
      assert.equal((await echo.json()).status, 0);
      const sent = await runDcmtk("storescu", [
        "-aec",
        agent.aet,
        "127.0.0.1",
        String(agent.port),
        object.file,
      ]);
      assert.equal(sent.code, 0, sent.stderr);
      const store = await agentApi(agent, "/nodes/scp/store", { sopInstanceUids: [object.sopInstanceUid] });
      assert.deepEqual(await store.json(), { sent: 1, failed: [] });
      const received = await listFiles(dir);
      assert.equal(received.length, 1);
      assert.deepEqual(await datasetBytes(received[0]), await datasetBytes(object.file), "byte-identical");
      for (
        const [name, why] of [["anonymous", /certificate/i], ["untrusted", /certificate/i], [
          "plain",
          /./,
        ]] as const
      ) {
        const r = await agentApi(agent, `/nodes/${name}/echo`);
        const body = await r.json();
        assert.equal(r.status, 502, `${name}: ${JSON.stringify(body)}`);
        assert.match(body.error, why, name);
      }
    } finally {
      await agent.stop();
      await scp.stop();
      await Deno.remove(object.file);
    }
  },
});

Deno.test({
  name:
    "agent and Orthanc over TLS both ways: Orthanc echoes and stores into the agent; the agent echoes, finds, stores, gets",
  ignore: !!orthancSkip,
  sanitizeResources: false,
  fn: async () => {
    const p = await testPki();
    const tlsPort = freePort();
    const orthancPort = freePort();
    const agentTls = { ca: p.ca, cert: p.parties.agent.cert, key: p.parties.agent.key };
    const agent = await startAgentProcess({
      aet: "CONDUIT",
      config: {
        dimse: { tls: { port: tlsPort, ...agentTls, requireClientCert: true } },
        nodes: {
          pacs: { aet: "ORTHANC", host: "127.0.0.1", port: orthancPort, retrieve: "get", tls: agentTls },
        },
      },
    });
    const orthanc = await startOrthanc({
      storageDir: await Deno.makeTempDir({ prefix: "conduit-tls-orthanc-" }),
      dicomPort: orthancPort,
      modalities: { conduit: { aet: "CONDUIT", host: "127.0.0.1", port: tlsPort, useTls: true } },
      extraConfig: {
        DicomTlsEnabled: true,
        DicomTlsCertificate: p.parties.orthanc.cert,
        DicomTlsPrivateKey: p.parties.orthanc.key,
        DicomTlsTrustedCertificates: p.ca,
        DicomTlsRemoteCertificateRequired: true,
      },
    });
    const pushed = await sample("orthanc-pushes");
    const found = await sample("orthanc-holds");
    const stored = await sample("agent-stores");
    try {
      // Orthanc -> agent
      const echo = await orthanc.rest("/modalities/conduit/echo", { method: "POST", body: "{}" });
      assert.equal(echo.status, 200, await echo.text());
      const ids: string[] = [];
      for (const o of [pushed, found]) {
        const r = await orthanc.rest("/instances", { method: "POST", body: await Deno.readFile(o.file) });
        assert.equal(r.status, 200);
        ids.push((await r.json()).ID);
      }
      const store = await orthanc.rest("/modalities/conduit/store", {
        method: "POST",
        body: JSON.stringify({ Resources: [ids[0]], Synchronous: true }),
      });
      assert.equal(store.status, 200, await store.text());
      assert.ok(await archived(agent, pushed.sopInstanceUid), "the object Orthanc stored is archived");

      // agent -> Orthanc
      const ours = await agentApi(agent, "/nodes/pacs/echo");
      assert.equal((await ours.json()).status, 0);
      const find = await agentApi(agent, "/nodes/pacs/find", {
        level: "STUDY",
        keys: { StudyInstanceUID: "", PatientID: "TLS-orthanc-holds" },
      });
      const matches = (await find.text()).split("\n").filter(Boolean).map((l) => JSON.parse(l));
      assert.deepEqual(
        matches.map((m) => m.StudyInstanceUID),
        [found.studyInstanceUid],
        JSON.stringify(matches),
      );
      const got =
        await (await agentApi(agent, "/nodes/pacs/retrieve", { studyInstanceUid: found.studyInstanceUid }))
          .json();
      assert.equal(got.ok, true, JSON.stringify(got));
      assert.equal(got.arrived, 1);
      assert.ok(await archived(agent, found.sopInstanceUid), "the C-GET brought the object");
      const sent = await runDcmtk("storescu", [
        "-aec",
        agent.aet,
        "127.0.0.1",
        String(agent.port),
        stored.file,
      ]);
      assert.equal(sent.code, 0, sent.stderr);
      const out = await agentApi(agent, "/nodes/pacs/store", { sopInstanceUids: [stored.sopInstanceUid] });
      assert.deepEqual(await out.json(), { sent: 1, failed: [] });
      const there = await orthanc.rest("/tools/find", {
        method: "POST",
        body: JSON.stringify({ Level: "Instance", Query: { SOPInstanceUID: stored.sopInstanceUid } }),
      });
      assert.equal((await there.json()).length, 1, "Orthanc holds the object the agent stored");
    } finally {
      await agent.stop();
      await orthanc.stop();
      for (const o of [pushed, found, stored]) await Deno.remove(o.file);
    }
  },
});

Deno.test({
  name:
    "a TLS file that is missing, not PEM, or not the certificate's key stops the agent with the key and the file",
  ignore: !!skip,
  fn: async () => {
    const p = await testPki();
    const dir = await Deno.makeTempDir({ prefix: "conduit-tls-config-" });
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { dimse: { tls: { port: 2762, cert: path.join(dir, "missing.pem"), key: p.parties.agent.key } } },
        /dimse\.tls\.cert: cannot read .*missing\.pem: no such file/,
      ],
      [
        { dimse: { tls: { port: 2762, cert: p.parties.agent.key, key: p.parties.agent.key } } },
        /dimse\.tls\.cert: .* is not a PEM certificate/,
      ],
      [
        { dimse: { tls: { port: 2762, cert: p.parties.agent.cert, key: p.parties.dcmtk.key } } },
        /dimse\.tls\.key: .*dcmtk\.key is not the key of/,
      ],
      [{
        dimse: {
          tls: { port: 2762, cert: p.parties.agent.cert, key: p.parties.agent.key, requireClientCert: true },
        },
      }, /ca/],
      [{
        nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: 104, tls: { cert: p.parties.agent.cert } } },
      }, /cert and key go together/],
      [
        { nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: 104, tls: { ca: p.parties.agent.key } } } },
        /nodes\.pacs\.tls\.ca: .* is not a PEM certificate/,
      ],
    ];
    for (const [i, [config, expected]] of cases.entries()) {
      const file = path.join(dir, `agent-${i}.yaml`);
      await Deno.writeTextFile(file, JSON.stringify(config));
      const r = await agentStart([
        "--config",
        file,
        "--data",
        path.join(dir, `data-${i}`),
        "--port",
        "0",
        "--http-port",
        "0",
      ]);
      assert.equal(r.code, 2, `case ${i}: exit ${r.code}: ${r.stderr}`);
      assert.match(r.stderr, expected, `case ${i}`);
    }
  },
});

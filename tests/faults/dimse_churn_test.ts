/**
 * No leak under churn on the DIMSE ports: associations that end badly in every way a peer can make them
 * (closed before, inside and between PDUs, inside a C-STORE's data set, aborted, never released, never
 * negotiated, TLS handshakes that fail) leave the agent's file descriptors, sockets, partial files and
 * resident memory where they were, and it still answers and stores. A peer that stops reading what the
 * agent sends (a C-GET whose C-STOREs it never reads) loses its association at the idle timeout, socket
 * and slot included, while it still holds its end.
 */
import assert from "node:assert/strict";
import { SopClass, TransferSyntax } from "@conduit/shared/dicom";
import { freePort, type Held, held, openFiles, runDcmtk, skipReason } from "../support/peers.ts";
import { type AgentProcess, datasetBytes, listFiles, startAgentProcess } from "../support/agent.ts";
import {
  abortPdu,
  associate,
  associateRq,
  pdataTf,
  PduSocket,
  sendCStore,
  studyGet,
} from "../support/pdu.ts";
import {
  agentLog,
  agentMetric,
  assertNoLeftovers,
  assertServing,
  ctObject,
  partialFiles,
} from "../support/faults.ts";
import { makeTestPki, type TestPki } from "../support/pki.ts";
import { eventually } from "../support/hub.ts";

const skip = skipReason("echoscu") || skipReason("storescu") || skipReason("openssl");
if (skip) console.warn(`dimse_churn_test: skipped: ${skip}`);

const EXPLICIT_LE = TransferSyntax.ExplicitVRLittleEndian;
const IMPLICIT_LE = TransferSyntax.ImplicitVRLittleEndian;
/**
 * ARTIM, idle timeout and TLS handshake timeout of the agents here. ARTIM (and the first-byte timer, at most
 * ARTIM) also bounds how long a live requester's A-ASSOCIATE-RQ may wait to be read: at 2 s, the fresh-clone
 * CI's loaded machine once closed one before the agent read it (association not accepted: connection closed).
 */
const TIMEOUTS = { idleTimeoutSeconds: 2, artimTimeoutSeconds: 5 };

const contexts = [
  { id: 1, abstractSyntax: SopClass.Verification, transferSyntaxes: [IMPLICIT_LE] },
  { id: 3, abstractSyntax: SopClass.CtImage, transferSyntaxes: [EXPLICIT_LE] },
];

const active = (agent: AgentProcess) => agentMetric(agent, "conduit_agent_associations_active");

/** Connects to `port`, lets `act` misbehave, and closes our end whatever happened. */
async function raw(port: number, act: (socket: PduSocket) => Promise<unknown>): Promise<void> {
  const socket = await PduSocket.connect(port);
  try {
    await act(socket);
  } finally {
    await socket.close();
  }
}

/** Every bad ending, by name: each opens one connection to the agent and ends it so. */
function badEndings(agent: AgentProcess, tlsPort: number, pki: TestPki, file: string) {
  const object = ctObject("churn", { rows: 128, columns: 128 });
  const store = { contextId: 3, maxPduLength: 16_384, ...object };
  const open = () => associate(agent.port, { calledAet: agent.aet, callingAet: "CHURN", contexts });
  const to = ["-aec", agent.aet, "127.0.0.1"];
  return {
    "TCP close before any PDU": () => raw(agent.port, () => Promise.resolve()),
    "close inside the A-ASSOCIATE-RQ": () =>
      raw(
        agent.port,
        (s) =>
          s.trySend(associateRq({ calledAet: agent.aet, callingAet: "CHURN", contexts }).subarray(0, 40)),
      ),
    "never a PDU (ARTIM)": () => raw(agent.port, (s) => s.untilClosed(15_000)),
    "close inside a C-STORE's data set": async () => {
      const { socket } = await open();
      await sendCStore(socket, store, 20_000).catch(() => {});
      await socket.close();
    },
    "A-ABORT inside a C-STORE's data set": async () => {
      const { socket } = await open();
      await sendCStore(socket, store, 20_000).catch(() => {});
      await socket.trySend(abortPdu(0, 0));
      await socket.close();
    },
    "A-ABORT, connection kept open": async () => {
      const { socket } = await open();
      await socket.trySend(abortPdu(0, 0));
      await socket.untilClosed(15_000);
      await socket.close();
    },
    "never released (idle timeout)": async () => {
      const { socket } = await open();
      await socket.untilClosed(15_000);
      await socket.close();
    },
    "storescu --abort": () => runDcmtk("storescu", ["--abort", ...to, String(agent.port), file]),
    "TLS: nothing sent (handshake timeout)": () => raw(tlsPort, (s) => s.untilClosed(15_000)),
    "TLS: not TLS": () =>
      raw(tlsPort, async (s) => {
        await s.trySend(new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n"));
        await s.untilClosed(15_000);
      }),
    "TLS: close inside the ClientHello": () =>
      raw(tlsPort, (s) => s.trySend(new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]))),
    "TLS: no client certificate": () => runDcmtk("echoscu", ["+tla", "+cf", pki.ca, ...to, String(tlsPort)]),
    "TLS: untrusted client certificate": () =>
      runDcmtk("echoscu", ["+tls", pki.rogue.key, pki.rogue.cert, "+cf", pki.ca, ...to, String(tlsPort)]),
  } satisfies Record<string, () => Promise<unknown>>;
}

/** Runs `tasks` with at most `width` at once. */
async function pooled(tasks: (() => Promise<unknown>)[], width: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < tasks.length) await tasks[next++]();
  }));
}

/** Waits until no association is open, no partial file is left and the counts are at most `limit`'s. */
async function settled(agent: AgentProcess, limit?: Held, tolerance = { fds: 2, sockets: 0 }): Promise<Held> {
  let last: Held | undefined;
  try {
    return await eventually("the agent to settle", async () => {
      last = held(agent.pid);
      if ((await active(agent)) !== 0 || (await partialFiles(agent.dataDir)).length > 0) return undefined;
      if (!limit) return last;
      const ok = last.fds <= limit.fds + tolerance.fds && last.sockets <= limit.sockets + tolerance.sockets;
      return ok ? last : undefined;
    }, 20_000);
  } catch (err) {
    const files = openFiles(agent.pid);
    throw new Error(
      `${(err as Error).message}: now ${JSON.stringify(last)}, before ${JSON.stringify(limit)}; ` +
        `active ${await active(agent)}, partial files ${(await partialFiles(agent.dataDir)).join(", ")}\n` +
        `open: ${files.sort().join(" ")}${await agentLog(agent)}`,
    );
  }
}

Deno.test({
  name:
    "DIMSE churn: 195 associations ending badly in 13 ways leave descriptors, sockets, files and RSS as they were",
  ignore: !!skip,
  fn: async () => {
    const pki = await makeTestPki(["agent"]);
    const tlsPort = freePort();
    const agent = await startAgentProcess({
      config: {
        dimse: {
          ...TIMEOUTS,
          maxAssociations: 64,
          tls: {
            port: tlsPort,
            cert: pki.parties.agent.cert,
            key: pki.parties.agent.key,
            ca: pki.ca,
            requireClientCert: true,
          },
        },
      },
    });
    const sent = ctObject("churn-sent", { rows: 64, columns: 64 });
    const file = await Deno.makeTempFile({ prefix: "conduit-churn-", suffix: ".dcm" });
    const after = ctObject("churn-after", { rows: 64, columns: 64 });
    const afterFile = await Deno.makeTempFile({ prefix: "conduit-churn-", suffix: ".dcm" });
    try {
      await Deno.writeFile(file, sent.bytes);
      await Deno.writeFile(afterFile, after.bytes);
      // A bad ending that fails on our side says which it was, with the agent's log (why it closed on us).
      const endings = Object.entries(badEndings(agent, tlsPort, pki, file)).map(([name, end]) =>
        [name, () =>
          end().catch(async (err) => {
            throw new Error(`${name}: ${(err as Error).message}${await agentLog(agent)}`);
          })] as const
      );
      // Once each first: what the first connections load (the association code, TLS, buffers) is in the baseline.
      await pooled(endings.map(([, end]) => end), endings.length);
      const before = await settled(agent);
      const rounds = 15;
      const tasks = Array.from({ length: rounds }, () => endings.map(([, end]) => end)).flat();
      // 40 at once (below maxAssociations, 64): each round holds two connections for ARTIM (5 s) and one for
      // the idle timeout (2 s), so the rounds' waits overlap more than at 24.
      await pooled(tasks, 40);
      const now = await settled(agent, before);
      // Memory given back, within what the heap's own growth and buffers kept for reuse account for.
      assert.ok(
        now.rssBytes < before.rssBytes + 64 * 1024 * 1024,
        `RSS ${now.rssBytes} after ${tasks.length} bad endings, ${before.rssBytes} before`,
      );
      await assertServing(agent, "CHURN");
      const store = await runDcmtk("storescu", [
        "-aec",
        agent.aet,
        "127.0.0.1",
        String(agent.port),
        afterFile,
      ]);
      assert.equal(
        store.code,
        0,
        `storescu after the churn: ${store.stdout}${store.stderr}${await agentLog(agent)}`,
      );
      // storescu --abort sends the object before its A-ABORT: it was stored each time, once.
      await assertNoLeftovers(agent, [sent.sopInstanceUid, after.sopInstanceUid]);
      const stored = (await listFiles(`${agent.dataDir}/archive`)).find((f) =>
        f.endsWith(`${after.sopInstanceUid}.dcm`)
      );
      assert.deepEqual(
        await datasetBytes(stored!),
        after.dataset,
        "the object stored after the churn, byte for byte",
      );
    } finally {
      await agent.stop();
      await Deno.remove(file).catch(() => {});
      await Deno.remove(afterFile).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "DIMSE churn: a C-GET requestor that reads nothing loses its association at the idle timeout, socket and slot",
  ignore: !!skip,
  fn: async () => {
    // The object is made and written while the agent starts.
    const starting = startAgentProcess({ config: { dimse: TIMEOUTS } });
    const file = await Deno.makeTempFile({ prefix: "conduit-churn-", suffix: ".dcm" });
    // Larger than what the kernel buffers on both ends of a loopback connection take in (some 10 MB).
    const object = ctObject("stalled-get", { rows: 4096, columns: 4096 });
    const written = Deno.writeFile(file, object.bytes);
    const agent = await starting;
    let socket: PduSocket | undefined;
    try {
      await written;
      const store = await runDcmtk("storescu", ["-aec", agent.aet, "127.0.0.1", String(agent.port), file]);
      assert.equal(store.code, 0, `storescu: ${store.stdout}${store.stderr}`);
      const before = await settled(agent);
      const timedOut = await agentMetric(agent, 'conduit_agent_associations_total{outcome="timed-out"}') ?? 0;
      ({ socket } = await associate(agent.port, {
        calledAet: agent.aet,
        callingAet: "STALLED",
        contexts: [
          { id: 1, abstractSyntax: SopClass.StudyRootGet, transferSyntaxes: [IMPLICIT_LE] },
          { id: 3, abstractSyntax: SopClass.CtImage, transferSyntaxes: [EXPLICIT_LE, IMPLICIT_LE] },
        ],
        scpRoles: [SopClass.CtImage],
      }));
      const { command, identifier } = studyGet(object.studyInstanceUid);
      await socket.send(pdataTf([{ contextId: 1, command: true, last: true, value: command }]));
      await socket.send(pdataTf([{ contextId: 1, command: false, last: true, value: identifier }]));
      // From here on nothing is read: the agent's C-STORE sub-operation fills both ends' buffers and stalls.
      await eventually(
        "the association to time out",
        async () =>
          (await agentMetric(agent, 'conduit_agent_associations_total{outcome="timed-out"}') ?? 0) > timedOut,
      );
      // The peer still holds its end, reading nothing: the agent lets go of the association all the same.
      await settled(agent, before);
      await assertServing(agent, "STALLED");
    } finally {
      await socket?.close();
      await agent.stop();
      await Deno.remove(file).catch(() => {});
    }
  },
});

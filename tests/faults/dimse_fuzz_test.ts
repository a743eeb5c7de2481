/**
 * Fuzzing the DIMSE port, on loopback only: a bounded number of conversations (and a time budget),
 * each either random bytes, random PDUs, or a valid conversation (association, C-ECHO, C-STORE of an
 * object the archive already holds, C-FIND, release or abort) with a few mutations: bit flips, bytes
 * set, length fields rewritten, PDUs cut, dropped, repeated, swapped, replaced, noise between them.
 * Afterwards the agent is alive, answers C-ECHO, has no uncaught error in its log, dropped every
 * connection, left no partial file, and its archive and index are what they were.
 *
 * The run is deterministic: CONDUIT_FUZZ_SEED (default fixed) seeds it, and a failure names the seed;
 * CONDUIT_FUZZ_CASES sets how many cases (default 400, within a minute).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { SopClass, TransferSyntax } from "@conduit/shared/dicom";
import { skipReason, sleep } from "../support/peers.ts";
import { type AgentProcess, listFiles, startAgentProcess } from "../support/agent.ts";
import {
  abortPdu,
  associateRq,
  cEchoRq,
  commandSet,
  CommandTag,
  cStore,
  cStoreRq,
  hexStatus,
  pdataTf,
  PduSocket,
  release,
  releaseRq,
} from "../support/pdu.ts";
import { readDbSnapshot } from "../support/crash.ts";
import { agentLog, assertServing, associateForCt, ctObject, partialFiles } from "../support/faults.ts";

const skip = skipReason("echoscu");
if (skip) console.warn(`dimse_fuzz_test: skipped: ${skip}`);

const SEED = Number(Deno.env.get("CONDUIT_FUZZ_SEED") ?? 0x14d1f5e);
/** More cases (and time) for a longer hunt: CONDUIT_FUZZ_CASES=5000. */
const MAX_CASES = Number(Deno.env.get("CONDUIT_FUZZ_CASES") ?? 400);
const BUDGET_MS = Math.max(60_000, MAX_CASES * 150);
const PARALLEL = 8;
const TIMEOUTS = { artimTimeoutSeconds: 2, idleTimeoutSeconds: 2 };
const AET = "FUZZ";

/** mulberry32: a small seeded generator, so a run can be replayed. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, bytes, pick };
}
type Rng = ReturnType<typeof rng>;

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
}

/** An implicit VR little endian element (identifiers of C-FIND). */
function implicit(tag: number, text: string): Uint8Array {
  const value = new TextEncoder().encode(text.length % 2 ? `${text} ` : text);
  const out = new Uint8Array(8 + value.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, tag >>> 16, true);
  v.setUint16(2, tag & 0xffff, true);
  v.setUint32(4, value.length, true);
  out.set(value, 8);
  return out;
}

/** The valid conversations mutations start from; each a list of PDUs. */
function corpus(object: ReturnType<typeof ctObject>): Uint8Array[][] {
  const rq = associateRq({
    calledAet: AET,
    callingAet: "FUZZER",
    maxPduLength: 16384,
    contexts: [
      {
        id: 1,
        abstractSyntax: SopClass.Verification,
        transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian],
      },
      { id: 3, abstractSyntax: SopClass.CtImage, transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian] },
      {
        id: 5,
        abstractSyntax: SopClass.StudyRootFind,
        transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian],
      },
    ],
  });
  const command = (contextId: number, value: Uint8Array) =>
    pdataTf([{ contextId, command: true, last: true, value }]);
  const store = [
    command(
      3,
      cStoreRq({ messageId: 2, sopClassUid: object.sopClassUid, sopInstanceUid: object.sopInstanceUid }),
    ),
  ];
  const chunk = 16384 - 12;
  for (let at = 0; at < object.dataset.length; at += chunk) {
    const end = Math.min(object.dataset.length, at + chunk);
    store.push(
      pdataTf([{
        contextId: 3,
        command: false,
        last: end === object.dataset.length,
        value: object.dataset.subarray(at, end),
      }]),
    );
  }
  const find = [
    command(
      5,
      commandSet({
        [CommandTag.AffectedSopClassUid]: { uid: SopClass.StudyRootFind },
        [CommandTag.CommandField]: { us: 0x0020 },
        [CommandTag.MessageId]: { us: 3 },
        [CommandTag.Priority]: { us: 0 },
        [CommandTag.CommandDataSetType]: { us: 0 },
      }),
    ),
    pdataTf([{
      contextId: 5,
      command: false,
      last: true,
      value: concat([implicit(0x00080052, "STUDY"), implicit(0x00100010, "*"), implicit(0x0020000d, "")]),
    }]),
  ];
  return [
    [rq, command(1, cEchoRq(1)), releaseRq()],
    [rq, ...store, releaseRq()],
    [rq, ...find, releaseRq()],
    [rq, command(1, cEchoRq(1)), ...store, ...find, abortPdu(0, 0)],
  ];
}

/** Lengths that break parsers. */
const EVIL_LENGTHS = [0, 1, 2, 5, 6, 0x7f, 0xff, 0xffff, 0x10000, 0x7fffffff, 0xfffffffe, 0xffffffff];

function mutate(r: Rng, conversation: Uint8Array[]): Uint8Array[] {
  const pdus: Uint8Array[] = conversation.map((p) => p.slice());
  const n = 1 + r.int(3);
  for (let i = 0; i < n && pdus.length; i++) {
    const k = r.int(pdus.length);
    const p = pdus[k];
    switch (r.int(10)) {
      case 0: // bit flip
        p[r.int(p.length)] ^= 1 << r.int(8);
        break;
      case 1: // a byte set
        p[r.int(p.length)] = r.pick([0, 0xff, 0x7f, 0x80, r.int(256)]);
        break;
      case 2: // the PDU's length field
        if (p.length >= 6) {
          const length = r.pick([...EVIL_LENGTHS, p.length - 6 + r.int(9) - 4]) >>> 0;
          new DataView(p.buffer, p.byteOffset, p.byteLength).setUint32(2, length, false);
        }
        break;
      case 3: // a length field inside (PDV, item, element): a 16- or 32-bit little or big endian value
        if (p.length > 12) {
          const at = 6 + r.int(p.length - 10);
          const v = new DataView(p.buffer, p.byteOffset, p.byteLength);
          const value = r.pick(EVIL_LENGTHS);
          if (r.int(2)) v.setUint32(at, value >>> 0, r.int(2) === 0);
          else v.setUint16(at, value & 0xffff, r.int(2) === 0);
        }
        break;
      case 4: // cut short
        pdus[k] = p.subarray(0, r.int(p.length));
        break;
      case 5: // dropped
        pdus.splice(k, 1);
        break;
      case 6: // repeated
        pdus.splice(k, 0, p.slice());
        break;
      case 7: { // swapped with another
        const j = r.int(pdus.length);
        [pdus[k], pdus[j]] = [pdus[j], pdus[k]];
        break;
      }
      case 8: // noise before it
        pdus.splice(k, 0, r.bytes(1 + r.int(64)));
        break;
      default: // replaced by a random PDU with a consistent header
        pdus[k] = randomPdu(r);
    }
  }
  return pdus;
}

function randomPdu(r: Rng): Uint8Array {
  const body = r.bytes(r.int(r.int(2) ? 32 : 2048));
  const out = new Uint8Array(6 + body.length);
  out[0] = r.int(4) ? 1 + r.int(7) : r.int(256);
  new DataView(out.buffer).setUint32(2, body.length, false);
  out.set(body, 6);
  return out;
}

/** One case: what to send. */
function fuzzCase(r: Rng, conversations: Uint8Array[][]): Uint8Array[] {
  const kind = r.next();
  if (kind < 0.08) return [r.bytes(1 + r.int(8192))];
  if (kind < 0.16) return Array.from({ length: 1 + r.int(6) }, () => randomPdu(r));
  return mutate(r, r.pick(conversations));
}

/** Sends the PDUs (in pieces, with pauses now and then), reads what comes back, then hangs up. */
async function play(port: number, r: Rng, pdus: Uint8Array[]): Promise<void> {
  const socket = await PduSocket.connect(port);
  try {
    for (const p of pdus) {
      const cut = r.int(4) === 0 ? r.int(p.length + 1) : p.length;
      if (!(await socket.trySend(p.subarray(0, cut)))) return;
      if (cut < p.length && !(await socket.trySend(p.subarray(cut)))) return;
      if (r.int(6) === 0) await sleep(r.int(30));
    }
    // read answers until the agent closes, or goes quiet for a moment
    for (let i = 0; i < 40; i++) {
      const got = await socket.read(r.int(3) === 0 ? 300 : 50);
      if (got.kind !== "pdu") break;
    }
  } finally {
    await socket.close();
  }
}

/** Every archived file with its SHA-256, and the index's instances. */
async function archiveState(agent: AgentProcess) {
  const files: Record<string, string> = {};
  for (const f of await listFiles(path.join(agent.dataDir, "archive")).catch(() => [])) {
    files[path.relative(agent.dataDir, f)] = createHash("sha256").update(await Deno.readFile(f)).digest(
      "hex",
    );
  }
  const indexed = [...readDbSnapshot(path.join(agent.dataDir, "agent.db")).instances].sort();
  return { files, indexed };
}

async function metric(agent: AgentProcess, name: string): Promise<number> {
  const text = await (await agent.http("/metrics")).text();
  return Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1] ?? NaN);
}

Deno.test({
  name: `fuzzing the DIMSE port (seed 0x${
    SEED.toString(16)
  }): the agent lives, answers C-ECHO, its archive is unchanged`,
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess({
      aet: AET,
      config: { dimse: { ...TIMEOUTS, maxAssociations: 64 } },
    });
    const object = ctObject("fuzz", { rows: 64, columns: 64 });
    const r = rng(SEED);
    try {
      // the archive holds the object the conversations store: a valid C-STORE changes nothing
      const { socket, ac } = await associateForCt(agent, "SEEDER");
      const seeded = await cStore(socket, { contextId: 1, ...object, maxPduLength: ac.maxPduLength });
      assert.equal(hexStatus(seeded), "0x0000");
      await release(socket);
      const before = await archiveState(agent);
      assert.equal(before.indexed.length, 1);

      const conversations = corpus(object);
      const deadline = Date.now() + BUDGET_MS;
      let cases = 0;
      while (cases < MAX_CASES && Date.now() < deadline) {
        const batch = Array.from({ length: PARALLEL }, () => fuzzCase(r, conversations));
        const seeds = batch.map(() => r.int(2 ** 31));
        await Promise.all(batch.map((pdus, i) => play(agent.port, rng(seeds[i]), pdus)));
        cases += batch.length;
        assert.ok(
          !agent.exited(),
          `the agent died after ${cases} cases (seed 0x${SEED.toString(16)})${await agentLog(agent)}`,
        );
      }
      assert.ok(cases >= 100, `only ${cases} cases in ${BUDGET_MS} ms`);

      // every connection is dropped (peers that stalled: after ARTIM or the idle timeout)
      const settle = Date.now() + (TIMEOUTS.artimTimeoutSeconds + TIMEOUTS.idleTimeoutSeconds) * 1000 + 5_000;
      let active = await metric(agent, "conduit_agent_associations_active");
      while (active !== 0 && Date.now() < settle) {
        await sleep(200);
        active = await metric(agent, "conduit_agent_associations_active");
      }
      assert.equal(active, 0, `associations still open after the fuzzing${await agentLog(agent)}`);
      const parts = await partialFiles(agent.dataDir);
      assert.deepEqual(parts, [], "partial files left");
      await assertServing(agent);
      const after = await archiveState(agent);
      assert.deepEqual(after, before, `the archive or index changed (seed 0x${SEED.toString(16)})`);
      const seen = (await (await agent.http("/metrics")).text()).split("\n")
        .filter((l) =>
          /^conduit_agent_(objects_received|associations|operations|objects_conflict)_total/.test(l)
        )
        .map((l) => l.replace(/^conduit_agent_/, ""));
      console.log(`dimse_fuzz_test: ${cases} cases, seed 0x${SEED.toString(16)}: ${seen.join(", ")}`);
    } finally {
      await agent.stop();
    }
  },
});

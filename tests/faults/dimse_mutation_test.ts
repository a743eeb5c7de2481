/**
 * A deterministic mutation fuzzer on the agent's DICOM ports, with what the agent acknowledged checked
 * after every case. Each case is one valid conversation (an A-ASSOCIATE-RQ proposing four contexts, a
 * C-STORE of its own small generated object in several P-DATA-TF PDUs, an A-RELEASE-RQ; built from PS3.8 by
 * tests/support/mutation.ts) with up to three named mutations (lengths that lie in PDUs, PDVs, items, the
 * command set and the data set; VRs changed; the data set cut, changed, in implicit VR, behind File Meta
 * elements; bytes flipped; PDUs cut, dropped, repeated, swapped, of the wrong type), written in pieces cut
 * at odd places over a new connection (one case in eight over DICOM TLS). After each case the agent
 * answers echoscu, an object it answered Success for is in its archive byte for byte as sent, one it
 * refused is not there; at the end every archived object is one a case sent whole and reads with DCMTK,
 * the agent holds no association, partial file or extra descriptor, and its RSS is back near where it was.
 * Unlike dimse_fuzz_test (random conversations, checked once at the end, against an object already
 * archived), every case stores a new object, so a corrupted acknowledgement shows.
 *
 * CONDUIT_MUTATION_SEED sets the seed (default fixed), CONDUIT_MUTATION_CASES the number of cases (those
 * that start within CONDUIT_MUTATION_BUDGET_MS, 30 s by default, run), and
 * CONDUIT_MUTATION_CASE=n replays case n alone (CONDUIT_MUTATION_VERBOSE=1 prints how each case ended); a
 * failure names the seed and the case.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { freePort, runDcmtk, skipReason, toolPath } from "../support/peers.ts";
import { type AgentProcess, listFiles, startAgentProcess } from "../support/agent.ts";
import { readPart10Header } from "@conduit/shared/dicom";
import {
  Command,
  CommandField,
  CommandTag,
  concat,
  decodePdata,
  PduSocket,
  PduType,
} from "../support/pdu.ts";
import { agentLog, agentMetric, assertServing, ctObject, partialFiles } from "../support/faults.ts";
import { eventually } from "../support/hub.ts";
import { readDbSnapshot } from "../support/crash.ts";
import { agentTlsConfig, echoscuTls, makeTestPki } from "../support/pki.ts";
import { type Case, conversation, endsWithRelease, makeCase, sentDatasets } from "../support/mutation.ts";

const skip = skipReason("echoscu", "dcmdump") || (toolPath("openssl") ? false : "needs openssl");
if (skip) console.warn(`dimse_mutation_test: skipped: ${skip}`);

const SEED = Number(Deno.env.get("CONDUIT_MUTATION_SEED") ?? 0x5eed95);
const CASES = Number(Deno.env.get("CONDUIT_MUTATION_CASES") ?? 320);
const ONLY = Deno.env.get("CONDUIT_MUTATION_CASE");
/** CONDUIT_MUTATION_VERBOSE=1: a line for every case, how it ended. */
const VERBOSE = Deno.env.get("CONDUIT_MUTATION_VERBOSE") === "1";
/**
 * No case starts after this long (CONDUIT_MUTATION_BUDGET_MS): on a loaded machine fewer cases run, each
 * the same as on any other, instead of the file running past its minute.
 */
const BUDGET_MS = Number(Deno.env.get("CONDUIT_MUTATION_BUDGET_MS") ?? 30_000);
const LANES = 4;
const WARMUP = 24;
const AET = "MUTATE";
/** Quiet after the last answer before a case's connection is closed (its stream may have stopped mid-PDU). */
const QUIET_MS = 300;

const isTls = (n: number) => n % 8 === 7;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const hex = (n: number) => `0x${n.toString(16)}`;

const END_NAMES: Record<number, string> = { [PduType.Abort]: "aborted", [PduType.AssociateRj]: "rejected" };

/** How a case ended on the wire, and the C-STORE responses read. */
interface Outcome {
  end: string;
  stores: { uid: string; status: number }[];
}

/** Writes the case as planned, reads what comes back until the agent closes, releases or goes quiet. */
async function play(socket: PduSocket, c: Case, patient: boolean): Promise<Outcome> {
  const out: Outcome = { end: "", stores: [] };
  let from = 0;
  for (const end of c.writes) {
    if (!(await socket.trySend(c.bytes.subarray(from, end)))) break;
    from = end;
  }
  let command: Uint8Array[] = [];
  for (;;) {
    const r = await socket.read(patient ? 15_000 : QUIET_MS);
    if (r.kind !== "pdu") return { ...out, end: out.end || r.kind };
    if (r.type === PduType.ReleaseRp) return { ...out, end: "released" };
    if (r.type !== PduType.PData) {
      if (r.type !== PduType.AssociateAc) out.end = END_NAMES[r.type] ?? `PDU ${r.type}`;
      continue;
    }
    for (const pdv of decodePdata(r.body)) {
      if (!pdv.command) continue;
      command.push(pdv.value);
      if (!pdv.last) continue;
      const answer = Command.parse(concat(command));
      command = [];
      if (answer.commandField !== CommandField.CStoreRsp) continue;
      out.stores.push({
        uid: answer.text(CommandTag.AffectedSopInstanceUid) ?? "",
        status: answer.status ?? -1,
      });
    }
  }
}

/** The archived file of `uid`: at the study and series of the object sent with it, else anywhere in the archive. */
async function archived(agent: AgentProcess, uid: string, objects: ReturnType<typeof ctObject>[]) {
  const sent = objects.find((o) => o.sopInstanceUid === uid);
  const at = sent &&
    path.join(agent.dataDir, "archive", sent.studyInstanceUid, sent.seriesInstanceUid, `${uid}.dcm`);
  if (at && await Deno.stat(at).then(() => true, () => false)) return at;
  return (await listFiles(path.join(agent.dataDir, "archive")).catch(() => [] as string[]))
    .find((f) => path.basename(f) === `${uid}.dcm`);
}

/**
 * The data set of an archived Part 10 file: what follows the File Meta group as its group length (0002,0000)
 * delimits it (PS3.10 7.1), which must also be where the agent's own reader finds the data set.
 */
function storedDataset(bytes: Uint8Array, what: string): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(String.fromCharCode(...bytes.subarray(128, 132)), "DICM", `no DICM prefix: ${what}`);
  assert.equal(view.getUint32(132, true), 0x00000002, `no File Meta group length first: ${what}`);
  const end = 144 + view.getUint32(140, true);
  assert.equal(
    readPart10Header(bytes).datasetOffset,
    end,
    `the File Meta group runs past its length: ${what}`,
  );
  return bytes.subarray(end);
}

async function held(pid: number) {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]);
  return { fds: [...Deno.readDirSync(`/proc/${pid}/fd`)].length, rssBytes: rssKb * 1024 };
}

Deno.test({
  name: `mutated DICOM conversations (seed ${
    hex(SEED)
  }): the agent answers, keeps what it acknowledged, leaks nothing`,
  ignore: !!skip,
  fn: async () => {
    const pki = await makeTestPki(["agent", "dcmtk"]);
    const tlsPort = freePort();
    const agent = await startAgentProcess({
      aet: AET,
      config: {
        dimse: {
          artimTimeoutSeconds: 2,
          idleTimeoutSeconds: 2,
          maxAssociations: 64,
          tls: agentTlsConfig(pki, tlsPort),
        },
      },
    });
    const ca = await Deno.readTextFile(pki.ca);
    const tls = {
      caCerts: [ca],
      cert: await Deno.readTextFile(pki.parties.dcmtk.cert),
      key: await Deno.readTextFile(pki.parties.dcmtk.key),
    };
    /** Hashes of the data sets every case sent whole: what the archive may hold. */
    const sentWhole = new Map<string, number>();
    const refused: { n: number; file: () => Promise<string | undefined> }[] = [];
    const tally = { cases: 0, stored: 0, refused: 0, unanswered: 0, ends: {} as Record<string, number> };
    let failure: Error | undefined;
    let deadline = Infinity;

    const runCase = async (n: number) => {
      const objects = [`${n}`, `${n}-b`].map((k) =>
        ctObject(`mutation-${SEED}-${k}`, { rows: 24, columns: 24 })
      );
      let c: Case;
      try {
        c = makeCase(SEED, n, conversation(AET, objects));
      } catch (err) {
        throw new Error(`case ${n} of seed ${hex(SEED)}: the mutator failed: ${(err as Error).stack}`);
      }
      const shape = `${c.stores} C-STORE${c.stores > 1 ? "s" : ""}${c.echo ? ", C-ECHO first" : ""}`;
      const where =
        `case ${n}${isTls(n) ? " (TLS)" : ""} (${shape}) [${c.mutations.join("; ") || "none"}] of seed ${
          hex(SEED)
        }` +
        ` (replay: CONDUIT_MUTATION_SEED=${hex(SEED)} CONDUIT_MUTATION_CASE=${n})`;
      const candidates = new Set(sentDatasets(c.bytes).map(sha));
      for (const h of candidates) sentWhole.set(h, n);
      const waits = endsWithRelease(c.bytes);
      const socket = isTls(n)
        ? await PduSocket.connectTls(tlsPort, tls)
        : await PduSocket.connect(agent.port);
      let outcome: Outcome;
      try {
        outcome = await play(socket, c, waits);
      } finally {
        await socket.close();
      }
      tally.cases++;
      tally.ends[outcome.end] = (tally.ends[outcome.end] ?? 0) + 1;
      const said = `${where}: ended ${outcome.end}, answers ${JSON.stringify(outcome.stores)}`;
      if (VERBOSE) console.log(said);
      // A release asked for is answered (or the association aborted or closed), whatever came before it.
      if (waits) assert.notEqual(outcome.end, "timeout", `no answer to the A-RELEASE-RQ: ${said}`);
      if (c.mutations.length === 0) {
        // A sender that does not wait for each response (as here) may get them in any order.
        const byUid = (a: { uid: string }, b: { uid: string }) => a.uid < b.uid ? -1 : 1;
        const expected = objects.slice(0, c.stores).map((o) => ({ uid: o.sopInstanceUid, status: 0 }));
        assert.deepEqual(
          { ...outcome, stores: [...outcome.stores].sort(byUid) },
          { end: "released", stores: expected.sort(byUid) },
          said,
        );
      }
      const echo = isTls(n)
        ? await echoscuTls(pki, AET, tlsPort, { timeoutMs: 15_000 })
        : await runDcmtk("echoscu", ["-aec", AET, "127.0.0.1", String(agent.port)], { timeoutMs: 15_000 });
      assert.equal(
        echo.code,
        0,
        `echoscu after ${said}: ${echo.stdout}${echo.stderr}${await agentLog(agent)}`,
      );
      assert.ok(!agent.exited(), `the agent exited after ${said}${await agentLog(agent)}`);
      const acked = new Set(
        outcome.stores.filter((s) => s.status === 0 || (s.status & 0xf000) === 0xb000).map((s) => s.uid),
      );
      for (const uid of acked) {
        const file = await eventually(
          `${uid} archived`,
          () => archived(agent, uid, objects),
          10_000,
        ).catch(() => undefined);
        assert.ok(file, `acknowledged but not archived: ${said}`);
        const stored = sha(storedDataset(await Deno.readFile(file), said));
        assert.ok(candidates.has(stored), `archived bytes differ from every data set sent whole: ${said}`);
        tally.stored++;
      }
      for (const s of outcome.stores.filter((s) => !acked.has(s.uid))) {
        tally.refused++;
        const file = () => archived(agent, s.uid, objects);
        assert.equal(await file(), undefined, `refused (${hex(s.status)}) yet archived: ${said}`);
        refused.push({ n, file });
      }
      if (outcome.stores.length === 0) tally.unanswered++;
    };

    const runAll = async (cases: number[]) => {
      let next = 0;
      await Promise.all(Array.from({ length: LANES }, async () => {
        while (!failure && next < cases.length && Date.now() < deadline) {
          await runCase(cases[next++]).catch((err) => failure ??= err);
        }
      }));
      if (failure) throw failure;
    };

    try {
      await assertServing(agent);
      deadline = Date.now() + BUDGET_MS;
      const all = ONLY !== undefined ? [Number(ONLY)] : Array.from({ length: CASES }, (_, n) => n);
      await runAll(all.slice(0, WARMUP));
      const before = await held(agent.pid);
      await runAll(all.slice(WARMUP));

      // Settled: no association, no partial file, descriptors back where they were.
      const active = () => agentMetric(agent, "conduit_agent_associations_active");
      const now = await eventually("the agent to settle", async () => {
        const h = await held(agent.pid);
        const quiet = (await active()) === 0 && (await partialFiles(agent.dataDir)).length === 0;
        return quiet && h.fds <= before.fds + 2 ? h : undefined;
      }, 20_000).catch(async (err) => {
        throw new Error(
          `${err.message}: ${JSON.stringify(await held(agent.pid))}, before ${JSON.stringify(before)}, ` +
            `associations ${await active()}, partial ${(await partialFiles(agent.dataDir)).join(", ")}` +
            (await agentLog(agent)),
        );
      });
      if (ONLY === undefined) {
        assert.ok(tally.cases >= Math.min(CASES, 100), `only ${tally.cases} cases in ${BUDGET_MS} ms`);
        assert.ok(
          now.rssBytes < before.rssBytes + 64 * 1024 * 1024,
          `RSS ${now.rssBytes} after ${tally.cases} cases, ${before.rssBytes} after the first ${WARMUP}`,
        );
      }
      await assertServing(agent);
      for (const r of refused) {
        assert.equal(await r.file(), undefined, `case ${r.n}: refused, archived later`);
      }
      const files = await listFiles(path.join(agent.dataDir, "archive")).catch(() => [] as string[]);
      for (const file of files) {
        const h = sha(storedDataset(await Deno.readFile(file), path.basename(file)));
        assert.ok(sentWhole.has(h), `${path.basename(file)} archived, but no case sent that data set whole`);
      }
      // The index holds what the archive holds, no more, no less (group commits are done once settled).
      const inArchive = files.map((f) => path.basename(f, ".dcm")).sort();
      const indexed = [...readDbSnapshot(path.join(agent.dataDir, "agent.db")).instances].sort();
      assert.deepEqual(indexed, inArchive, "the index and the archive disagree");
      // What was archived reads as DICOM to another implementation (DCMTK), in the transfer syntax its File
      // Meta names: the agent refuses what does not parse, so no acknowledged object is unreadable.
      for (let at = 0; at < files.length; at += 100) {
        const batch = files.slice(at, at + 100);
        if ((await runDcmtk("dcmdump", ["-q", ...batch])).code === 0) continue;
        for (const file of batch) {
          const dump = await runDcmtk("dcmdump", [file]);
          const n = sentWhole.get(sha(storedDataset(await Deno.readFile(file), file)));
          assert.equal(
            dump.code,
            0,
            `case ${n} of seed ${hex(SEED)}: archived, but DCMTK cannot read it: ${
              dump.stderr.slice(0, 2000)
            }`,
          );
        }
      }
      console.log(
        `dimse_mutation_test: seed ${hex(SEED)}: ${JSON.stringify(tally)}; fds ${before.fds}->${now.fds}, ` +
          `RSS ${Math.round(before.rssBytes / 2 ** 20)}->${Math.round(now.rssBytes / 2 ** 20)} MiB`,
      );
    } finally {
      await agent.stop();
      await Deno.remove(pki.dir, { recursive: true }).catch(() => {});
    }
  },
});

/**
 * What the fault tests of the DIMSE port share: deterministic noise, generated objects and an association to
 * store them, and the checks that the agent is still serving (C-ECHO with DCMTK `echoscu`, `/healthz`, no
 * uncaught error in its log) and left no partial file behind.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { readPart10Header, SopClass, TransferSyntax } from "@conduit/shared/dicom";
import { generateInstance, type InstanceSpec, uidFromKey } from "@conduit/shared/testing";
import { runDcmtk } from "./peer_tools.ts";
import { logTail, sleep } from "./processes.ts";
import { type AgentProcess, listFiles } from "./agent.ts";
import { associate, decodeAbort, describe, type PduSocket, PduType, type Received } from "./pdu.ts";

/** Deterministic bytes (xorshift32), so a failure can be replayed. */
export function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Associates with `agent` (its port and AE title) as `callingAet`, proposing what ctObject's objects are sent
 * in: CT Image Storage in Explicit VR Little Endian, as presentation context 1.
 */
export function associateForCt(agent: Pick<AgentProcess, "port" | "aet">, callingAet: string) {
  return associate(agent.port, {
    calledAet: agent.aet,
    callingAet,
    contexts: [{
      id: 1,
      abstractSyntax: SopClass.CtImage,
      transferSyntaxes: [TransferSyntax.ExplicitVRLittleEndian],
    }],
  });
}

/** A generated CT object: its Part 10 bytes, the data set after group 0002, its UIDs and its patient. */
export function ctObject(key: string, size?: { rows: number; columns: number }) {
  const spec: InstanceSpec = {
    modality: "CT",
    patientName: "FAULT^INPUT",
    patientId: "FAULT-1",
    studyInstanceUid: uidFromKey(`faults/study/${key}`),
    seriesInstanceUid: uidFromKey(`faults/series/${key}`),
    sopInstanceUid: uidFromKey(`faults/sop/${key}`),
    instanceNumber: 1,
    ...size,
  };
  const bytes = generateInstance(spec);
  const dataset = bytes.subarray(readPart10Header(bytes).datasetOffset);
  return {
    bytes,
    dataset,
    sopClassUid: SopClass.CtImage,
    sopInstanceUid: spec.sopInstanceUid,
    studyInstanceUid: spec.studyInstanceUid,
    seriesInstanceUid: spec.seriesInstanceUid,
    patientName: spec.patientName,
    patientId: spec.patientId,
  };
}

export async function agentLog(agent: AgentProcess): Promise<string> {
  return `\n--- agent log (${agent.logFile}) ---\n${await logTail(agent.logFile, 3000)}`;
}

/** The value of one of the agent's metrics (`name` with its labels, as `/metrics` prints it), or undefined. */
export async function agentMetric(agent: AgentProcess, name: string): Promise<number | undefined> {
  const text = await (await agent.http("/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** The agent process is alive, answers a C-ECHO from echoscu, and /healthz answers 200. */
export async function assertServing(agent: AgentProcess, callingAet = "ECHOSCU"): Promise<void> {
  assert.ok(!agent.exited(), `the agent process has exited${await agentLog(agent)}`);
  const echo = await runDcmtk(
    "echoscu",
    ["-aet", callingAet, "-aec", agent.aet, "127.0.0.1", String(agent.port)],
    { timeoutMs: 15_000 },
  );
  assert.equal(echo.code, 0, `echoscu failed: ${echo.stdout}${echo.stderr}${await agentLog(agent)}`);
  const log = await Deno.readTextFile(agent.logFile);
  const crash = /^.*"msg":"(uncaught exception|unhandled rejection)".*$/m.exec(log);
  assert.equal(crash, null, `the agent caught an error nobody handled: ${crash?.[0]}`);
  const health = await agent.http("/healthz");
  const body = await health.text();
  assert.equal(health.status, 200, `/healthz answered ${health.status}: ${body}`);
}

export async function filesIn(dir: string): Promise<string[]> {
  try {
    return (await listFiles(dir)).map((f) => path.relative(dir, f)).sort();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

/**
 * The `.part` files of objects being received: in `<data>/incoming` with `dimse.groupCommit`, in
 * `<data>/tmp` without (named relative to the data directory). The empty `.part` files of the intake
 * are the staging files it creates ahead of the next objects (intake.ts), not partial objects: an
 * object's file holds at least its File Meta group.
 */
export async function partialFiles(dataDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const dir of ["incoming", "tmp"]) {
    for (const f of await filesIn(path.join(dataDir, dir))) {
      if (f.endsWith(".part") && !(await stagedAhead(path.join(dataDir, dir, f)))) out.push(`${dir}/${f}`);
    }
  }
  return out;
}

/** An intake staging file created ahead of need (empty `.part`), or false (also when it has gone). */
export async function stagedAhead(file: string): Promise<boolean> {
  if (!file.endsWith(".part")) return false;
  return (await Deno.stat(file).catch(() => undefined))?.size === 0;
}

/**
 * `<data>/archive` holds exactly the objects named (by SOP Instance UID), `<data>/tmp` no `.part` file
 * and `<data>/incoming` nothing but staging files made ahead (no partial object, none waiting for its
 * commit), polling a little for the agent to clean up after a connection ended.
 */
export async function assertNoLeftovers(
  agent: AgentProcess,
  archived: string[],
  waitMs = 3_000,
): Promise<void> {
  const deadline = Date.now() + waitMs;
  let parts: string[];
  for (;;) {
    parts = [
      ...(await filesIn(path.join(agent.dataDir, "tmp"))).filter((f) => f.endsWith(".part")),
      ...(await filesIn(path.join(agent.dataDir, "incoming"))).map((f) => `incoming/${f}`),
    ];
    const ahead = await Promise.all(parts.map((f) => stagedAhead(path.join(agent.dataDir, f))));
    parts = parts.filter((_, i) => !ahead[i]);
    if (parts.length === 0 || Date.now() > deadline) break;
    await sleep(100);
  }
  assert.deepEqual(parts, [], `stale partial files in <data>/tmp or <data>/incoming${await agentLog(agent)}`);
  const stored = (await filesIn(path.join(agent.dataDir, "archive"))).map((f) => path.basename(f)).sort();
  assert.deepEqual(stored, archived.map((uid) => `${uid}.dcm`).sort(), "files in <data>/archive");
}

/** Only refusals (A-ASSOCIATE-RJ, A-ABORT) may come before the agent closes the connection. */
export function assertOnlyRefusals(pdus: Received[], what: string): void {
  for (const p of pdus) {
    assert.ok(
      p.kind === "pdu" && (p.type === PduType.Abort || p.type === PduType.AssociateRj),
      `${what}: unexpected ${describe(p)}`,
    );
  }
}

/** A-ABORT from the service provider with `reason`, then the connection closes. */
export async function assertProviderAbort(socket: PduSocket, reason: number, what: string): Promise<void> {
  const first = await socket.read(5_000);
  assert.ok(
    first.kind === "pdu" && first.type === PduType.Abort,
    `${what}: expected A-ABORT, got ${describe(first)}`,
  );
  assert.deepEqual(decodeAbort(first.body), { source: 2, reason }, `${what}: A-ABORT source and reason`);
  const end = await socket.untilClosed(5_000);
  assert.ok(end.closed, `${what}: connection still open after A-ABORT`);
}

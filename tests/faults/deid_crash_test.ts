/**
 * kill -9 with a de-identifying route (issue 13): one agent data directory, a route `all` that
 * de-identifies everything for one storescp, and several trials, each sending a new series with
 * `storescu -v` and SIGKILLing the agent at a random moment of one of three phases, chosen by a seeded
 * PRNG: while it receives; while its de-identification stage works through a backlog (the destination
 * paused); while it forwards a backlog of copies (the stage done, the destination resumed). The agent is
 * restarted on the same directory after each kill.
 *
 * Checked at every kill, reading the dead agent's database read-only: every acknowledged object is
 * indexed with its stage row; a stage row is done exactly when its copy is recorded and queued (both or
 * neither); every recorded copy's file is whole and is the copy of its original; every file under
 * `<data>/deid` that no record names (a copy placed but not recorded) is removed by the next start, which
 * says how many. At the end, once the queue has drained: every acknowledged object reached storescp as
 * its de-identified copy, and every file storescp holds (resent copies included) is byte for byte what
 * the engine gives for that object and key, with no original UID, Patient Name or Patient ID in it.
 *
 * 8 trials; `CONDUIT_QUICK=1` runs 3. `CONDUIT_CRASH_SEED=N` replays a choice of kill moments.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { runDcmtk, skipReason, sleep, startStorescp } from "../support/peers.ts";
import {
  type AgentProcess,
  filesBySopInstance,
  indexRows,
  listFiles,
  startAgentProcess,
} from "../support/agent.ts";
import { acknowledgedFiles, prng, uncommittedObjects, wholeObject } from "../support/crash.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { pseudonymizeUid } from "@conduit/shared/deid/pseudonyms";
import { findElement, stringValue } from "@conduit/shared/dicom";
import { parsePart10 } from "../support/ps315_walk.ts";
import { deidentifyFile } from "../../agent/deid/engine.ts";
import { standardProfile } from "../../agent/deid/profile.ts";

const skip = skipReason("storescp", "storescu");
if (skip) console.warn(`deid_crash_test: skipped: ${skip}`);

const TRIALS = Deno.env.get("CONDUIT_QUICK") === "1" ? 3 : 8;
const PER_TRIAL = 20;
const DEST = "dest";
const STAGE = "deid:all";
const STRAY_MSG = "removed de-identified copies a crash left unrecorded";

function storescuArgs(target: { aet: string; port: number }, files: string[]): string[] {
  return ["-v", "-aet", "STORESCU", "-aec", target.aet, "127.0.0.1", String(target.port), ...files];
}

async function post(agent: AgentProcess, p: string): Promise<void> {
  const res = await agent.http(p, { method: "POST" });
  const body = await res.text();
  assert.equal(res.status, 200, `POST ${p}: ${body}`);
}

async function summary(
  agent: AgentProcess,
): Promise<{ destination: string; state: string; count: number }[]> {
  return ((await (await agent.http("/queue/summary")).json()) as {
    rows: { destination: string; state: string; count: number }[];
  }).rows;
}

const waiting = (rows: { destination: string; state: string; count: number }[], destination?: string) =>
  rows.filter((r) =>
    (!destination || r.destination === destination) && ["pending", "in_flight", "failed"].includes(r.state)
  )
    .reduce((n, r) => n + r.count, 0);

async function settle(agent: AgentProcess, destination?: string): Promise<number> {
  const from = Date.now();
  while (waiting(await summary(agent), destination) > 0) {
    if (Date.now() - from > 60_000) {
      assert.fail(`the queue did not drain: ${JSON.stringify(await summary(agent))}`);
    }
    await sleep(5);
  }
  return Date.now() - from;
}

interface Snapshot {
  stage: { sop: string; state: string }[];
  copies: { id: number; source: string; sop: string; path: string; removed: number | null }[];
  forward: { sop: string; state: string; copyId: number | null }[];
  instances: Set<string>;
}

/** The dead agent's database, read-only (a read-only connection leaves the WAL as the crash left it). */
function snapshot(dataDir: string): Snapshot {
  return {
    stage: indexRows(
      dataDir,
      "SELECT sop_instance_uid AS sop, state FROM queue WHERE destination = ?",
      STAGE,
    ) as never,
    copies: indexRows(
      dataDir,
      "SELECT id, source_sop_instance_uid AS source, sop_instance_uid AS sop, path, removed_at AS removed FROM deid_copies",
    ) as never,
    forward: indexRows(
      dataDir,
      "SELECT sop_instance_uid AS sop, state, copy_id AS copyId FROM queue WHERE destination = ?",
      DEST,
    ) as never,
    instances: new Set(
      indexRows(dataDir, "SELECT sop_instance_uid AS sop FROM instances").map((r) => String(r.sop)),
    ),
  };
}

Deno.test({
  name:
    `kill -9 while a route de-identifies and forwards (${TRIALS} trials) loses nothing and sends nothing identified`,
  ignore: !!skip,
  fn: async () => {
    const seed = Number(Deno.env.get("CONDUIT_CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));
    const random = prng(seed);
    const root = await Deno.makeTempDir({ prefix: "conduit-deid-crash-" });
    const context = () => `(CONDUIT_CRASH_SEED=${seed} replays; files in ${root})`;
    const dataDir = path.join(root, "data");
    const keyFile = path.join(root, "project.key");
    const key = crypto.getRandomValues(new Uint8Array(32));
    await Deno.writeFile(keyFile, key);
    const profile = standardProfile();

    const series: string[][] = [];
    const sopOf = new Map<string, string>();
    for (let t = 0; t < TRIALS + 3; t++) {
      const s = await writeGeneratedSeries(path.join(root, "source", String(t)), {
        count: PER_TRIAL,
        rows: 64,
        columns: 64,
        seed: `deid-crash-${t}`,
      });
      series.push(s.paths);
      for (const f of s.paths) sopOf.set(f, wholeObject(await Deno.readFile(f)).sop);
    }
    /** Copy SOP Instance UID -> original. */
    const originalOf = new Map([...sopOf.values()].map((sop) => [pseudonymizeUid(key, sop), sop]));
    const [ingestCal, stageCal, forwardCal] = series.splice(TRIALS, 3);

    const scp = await startStorescp({
      dir: path.join(root, "destination"),
      bitPreserving: true,
      extraArgs: ["-uf"],
    });
    const config = {
      nodes: { [DEST]: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
      routes: [{ name: "all", to: [{ node: DEST }], deid: { profile: "basic", keyFile } }],
      // Forwarded copies are removed every 0.5 s (5 s by default): the end waits for all of them to go.
      queue: { backoffBaseSeconds: 0.1, backoffCapSeconds: 1, copySweepSeconds: 0.5 },
    };
    const start = () => startAgentProcess({ dataDir, config });
    const acknowledged = new Set<string>();
    const counts = { ingest: 0, stage: 0, forward: 0, stageInFlight: 0, strays: 0 };
    let strays = 0; // files the last kill left unrecorded, which the next start must report removing
    let passed = false;
    let agent = await start();

    /** Sends `files` and counts what was acknowledged; `during` runs while storescu is sending. */
    const send = async (files: string[], during?: () => Promise<void>) => {
      const run = runDcmtk("storescu", storescuArgs(agent, files), { timeoutMs: 30_000 });
      await during?.();
      const sent = await run;
      assert.ok(sent.code !== 124, "storescu hung");
      const acked = acknowledgedFiles(sent.stderr, files);
      for (const f of acked) acknowledged.add(sopOf.get(f)!);
      return acked.length;
    };
    const strayFiles = async () => {
      const live = new Set(snapshot(dataDir).copies.filter((c) => c.removed === null).map((c) => c.path));
      const under = (await listFiles(path.join(dataDir, "deid")).catch(() => [] as string[]))
        .map((f) => path.relative(dataDir, f)).filter((f) => !live.has(f));
      const tmp = (await listFiles(path.join(dataDir, "tmp"))).filter((f) => /\/deid-\d+\.dcm$/.test(f));
      return under.length + tmp.length;
    };
    const checkStrayReport = async (a: AgentProcess) => {
      const lines = (await Deno.readTextFile(a.logFile)).split("\n").filter((l) => l.includes(STRAY_MSG));
      const reported = lines.reduce((n, l) => n + Number(JSON.parse(l).count), 0);
      assert.equal(
        reported,
        strays,
        `the start after a kill removes the ${strays} unrecorded copies ${context()}`,
      );
      assert.ok(!(await Deno.readTextFile(a.logFile)).includes('"level":"error"'), `errors in ${a.logFile}`);
    };

    try {
      // Calibration, without kills: how long each phase takes here and now.
      const t0 = Date.now();
      assert.equal(await send(ingestCal), PER_TRIAL);
      const ingestMs = Date.now() - t0 + await settle(agent);
      await post(agent, `/queue/pause/${DEST}`);
      await post(agent, `/queue/pause/${STAGE}`);
      assert.equal(await send(stageCal), PER_TRIAL);
      await post(agent, `/queue/resume/${STAGE}`);
      const stageMs = await settle(agent, STAGE);
      assert.equal(await send(forwardCal), PER_TRIAL);
      await settle(agent, STAGE);
      await post(agent, `/queue/resume/${DEST}`);
      const forwardMs = await settle(agent);
      const windowOf = (ms: number) => Math.min(3000, Math.max(20, ms * 1.25));

      for (let t = 0; t < TRIALS; t++) {
        const files = series[t];
        const phase = (["ingest", "stage", "forward"] as const)[Math.floor(random() * 3)];
        counts[phase]++;
        if (phase === "ingest") {
          const delay = random() * windowOf(ingestMs);
          await send(files, async () => {
            await sleep(delay);
            await agent.kill();
          });
        } else {
          await post(agent, `/queue/pause/${DEST}`);
          if (phase === "stage") await post(agent, `/queue/pause/${STAGE}`);
          assert.equal(await send(files), PER_TRIAL);
          if (phase === "stage") await post(agent, `/queue/resume/${STAGE}`);
          else {
            await settle(agent, STAGE);
            await post(agent, `/queue/resume/${DEST}`);
          }
          if (phase === "stage") await post(agent, `/queue/resume/${DEST}`);
          await sleep(random() * windowOf(phase === "stage" ? stageMs : forwardMs));
          await agent.kill();
        }

        // The agent is dead: what did it leave?
        const snap = snapshot(dataDir);
        const stageOf = new Map(snap.stage.map((r) => [r.sop, r.state]));
        // Answered Success but caught before its group commit: the next start commits it (and the next
        // trial's check, or the end's, finds it indexed).
        const uncommitted = await uncommittedObjects(dataDir, snap.instances);
        for (const sop of acknowledged) {
          if (!snap.instances.has(sop) && uncommitted.has(sop)) continue;
          assert.ok(snap.instances.has(sop), `trial ${t}: acknowledged ${sop} is not indexed ${context()}`);
          assert.ok(stageOf.has(sop), `trial ${t}: acknowledged ${sop} has no stage row ${context()}`);
        }
        const copyOf = new Map(snap.copies.map((c) => [c.source, c]));
        const byId = new Map(snap.copies.map((c) => [c.id, c]));
        for (const [sop, state] of stageOf) {
          const copy = copyOf.get(sop);
          if (state === "in_flight") counts.stageInFlight++;
          assert.equal(
            Boolean(copy),
            state === "done",
            `trial ${t}: stage row ${state}, copy recorded ${Boolean(copy)}`,
          );
          if (copy) {
            assert.equal(copy.sop, pseudonymizeUid(key, sop), "the copy's UID is the keyed pseudonym");
            assert.ok(
              snap.forward.some((f) => f.copyId === copy.id),
              `trial ${t}: a recorded copy has no forward row`,
            );
          }
        }
        for (const f of snap.forward) {
          const copy = byId.get(f.copyId!);
          assert.ok(copy, `trial ${t}: a forward row names no copy ${context()}`);
          if (f.state !== "done") {
            assert.equal(copy.removed, null, `trial ${t}: the copy of a row not yet done was removed`);
            const whole = wholeObject(await Deno.readFile(path.join(dataDir, copy.path)));
            assert.equal(whole.sop, copy.sop);
          }
        }
        strays = await strayFiles();
        counts.strays += strays;
        agent = await start();
        await checkStrayReport(agent);
        await post(agent, `/queue/resume/${DEST}`);
        await post(agent, `/queue/resume/${STAGE}`);
      }

      await settle(agent);
      const dead = await (await agent.http("/queue?state=dead")).json() as unknown[];
      assert.deepEqual(dead, [], `rows in the dead letter ${context()}`);
      // Forwarded copies go in the sweeps (every 0.5 s here; one index commit per copy, which takes seconds
      // for a hundred copies on a loaded machine): wait for them rather than for one sweep.
      const copiesLeft = () => listFiles(path.join(dataDir, "deid")).catch(() => [] as string[]);
      for (const until = Date.now() + 60_000; (await copiesLeft()).length && Date.now() < until;) {
        await sleep(100);
      }
      assert.deepEqual(await copiesLeft(), [], "forwarded copies removed");
      await agent.stop();

      // Every acknowledged object reached storescp as its copy; every file there is the engine's copy.
      const delivered = await filesBySopInstance(scp.dir);
      const archive = new Map(
        (await listFiles(path.join(dataDir, "archive"))).map((f) => [path.basename(f, ".dcm"), f]),
      );
      for (const sop of acknowledged) {
        assert.ok(
          delivered.has(pseudonymizeUid(key, sop)),
          `acknowledged ${sop} never reached storescp ${context()}`,
        );
      }
      let files = 0;
      for (const [copySop, at] of delivered) {
        const original = originalOf.get(copySop);
        assert.ok(original, `storescp holds ${copySop}, which is not a copy of anything sent ${context()}`);
        const expectedPath = path.join(root, `expected-${copySop}.dcm`);
        const r = await deidentifyFile(archive.get(original)!, expectedPath, { key, profile });
        assert.equal(r.status, "done");
        const expected = wholeObject(await Deno.readFile(expectedPath)).dataset;
        const source = parsePart10(await Deno.readFile(archive.get(original)!));
        const identifiers = [0x00100010, 0x00100020, 0x0020000d, 0x0020000e, 0x00080018].map((tag) =>
          stringValue(source.bytes, findElement(source.dataset, tag)!)
        );
        for (const file of at) {
          files++;
          const bytes = await Deno.readFile(file);
          const whole = wholeObject(bytes);
          assert.ok(
            Buffer.from(whole.dataset).equals(Buffer.from(expected)),
            `${file} is not the engine's copy`,
          );
          for (const id of identifiers) {
            assert.ok(!Buffer.from(bytes).includes(Buffer.from(id)), `${file} holds an original identifier`);
          }
        }
      }
      console.log(
        `deid_crash_test: ${TRIALS} trials (kills while receiving ${counts.ingest}, de-identifying ` +
          `${counts.stage}, forwarding ${counts.forward}; seed ${seed}): ${acknowledged.size} objects acknowledged, ` +
          `all delivered de-identified (${files} files at storescp, resends included, all the engine's bytes); ` +
          `${counts.stageInFlight} stage rows in flight at kills; ${counts.strays} unrecorded copies removed at restarts`,
      );
      passed = true;
    } finally {
      await agent.stop();
      await scp.stop();
      if (passed) await Deno.remove(root, { recursive: true });
    }
  },
});

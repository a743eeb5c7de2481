/**
 * kill -9 crash safety (issue 3). One agent data directory, one storescp destination running
 * throughout, and many trials. Each trial sends the next series of small objects with `storescu -v`
 * (one association) and SIGKILLs the agent at a random moment, then restarts it on the same directory,
 * so every start recovers the crash before it. Two kinds of trial, chosen by a seeded PRNG:
 *
 * - ingest: the kill lands at a random moment after storescu starts, while the agent receives (and
 *   forwards what it has already committed, which it does at once);
 * - backlog: the destination is paused while storescu sends the whole series, then resumed, and the
 *   kill lands at a random moment after that, while one association carries the batch to the
 *   destination (many rows in flight at once).
 *
 * The windows the kill moments are drawn from are calibrated first on this machine: one series sent
 * and forwarded without a kill, and one backlog forwarded without a kill (both count as acknowledged
 * objects like any other); each window is 1.25 times what it took (ingest at most 400 ms on a fast
 * machine would leave half the kills idle).
 *
 * Checked at every kill, reading the dead agent's database read-only: every object storescu saw
 * answered Success so far is indexed, has its queue row and its archive file; no queue row ever
 * vanishes and a done row stays done; every done row's object is at the destination; every file in the
 * archive and at the destination is whole and byte-identical (data set) to what storescu put on the
 * wire for it (the reference: the same storescu run against a bit-preserving storescp). Checked at
 * every restart: the agent returns to pending exactly the rows that were in flight at the kill. At the
 * end, once the queue has drained: every acknowledged object is done and at the destination, nothing
 * is dead or in flight, and all files pass the same whole-and-identical check.
 *
 * 30 trials; `CONDUIT_QUICK=1` runs 6. `CONDUIT_CRASH_SEED=N` replays a choice of kill moments;
 * `CONDUIT_CRASH_VERBOSE=1` prints one line per trial.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { logTail, runDcmtk, skipReason, sleep, startStorescp } from "../support/peers.ts";
import { type AgentProcess, listFiles, startAgentProcess } from "../support/agent.ts";
import {
  acknowledgedFiles,
  archiveFiles,
  type DbSnapshot,
  destinationFiles,
  FileVerifier,
  intakeFiles,
  logRecords,
  post,
  prng,
  queueRows,
  queueSummary,
  readDbSnapshot,
  storescuArgs,
  wholeObject,
} from "../support/crash.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("storescp", "storescu");
if (skip) console.warn(`crash_test: skipped: ${skip}`);

const QUICK = Deno.env.get("CONDUIT_QUICK") === "1";
const VERBOSE = Deno.env.get("CONDUIT_CRASH_VERBOSE") === "1";
const TRIALS = QUICK ? 6 : 30;
/** Objects per trial (one storescu association). */
const PER_TRIAL = 20;
/** Share of trials that build a backlog and kill while it is forwarded. */
const BACKLOG_SHARE = 1 / 3;
/** Kill windows: 1.25 times the calibrated duration, within these bounds (ms). */
const INGEST_WINDOW_BOUNDS = [100, 3_000] as const;
const BACKLOG_WINDOW_BOUNDS = [20, 2_000] as const;
/** Series sent before the trials, without a kill, to calibrate the windows. */
const CALIBRATION = 2;
const DRAIN_TIMEOUT_MS = 60_000;
/** How long storescp may take to delete the partial file of an association the kill aborted. */
const PARTIAL_GRACE_MS = 3_000;
const AET = "CONDUIT";
const DEST = "dest";
const RECOVERED_MSG = "rows in flight at the last stop are due again";

Deno.test({
  name: `kill -9 during ingest and forwarding (${TRIALS} trials) loses no acknowledged object`,
  ignore: !!skip,
  fn: async () => {
    const started = Date.now();
    const seed = Number(Deno.env.get("CONDUIT_CRASH_SEED") ?? Math.floor(Math.random() * 2 ** 31));
    const random = prng(seed);
    const root = await Deno.makeTempDir({ prefix: "conduit-crash-" });
    const dataDir = path.join(root, "data");
    const context = () => `(CONDUIT_CRASH_SEED=${seed} replays the kill moments; files in ${root})`;

    // One series per trial, so every trial sends new UIDs.
    const trialsFiles: string[][] = [];
    const sopOf = new Map<string, string>(); // source file -> SOP Instance UID
    const SERIES = TRIALS + CALIBRATION;
    for (let t = 0; t < SERIES; t++) {
      const series = await writeGeneratedSeries(path.join(root, "source", String(t)), {
        count: PER_TRIAL,
        rows: 64,
        columns: 64,
        seed: `crash-${t}`,
      });
      trialsFiles.push(series.paths);
      for (const f of series.paths) sopOf.set(f, wholeObject(await Deno.readFile(f)).sop);
    }
    assert.equal(new Set(sopOf.values()).size, SERIES * PER_TRIAL, "generated SOP Instance UIDs are unique");
    const [ingestCalibration, backlogCalibration] = trialsFiles.splice(TRIALS, CALIBRATION);

    // The reference: the data set storescu puts on the wire for each source file (it re-encodes),
    // as a bit-preserving storescp writes it.
    const reference = new Map<string, Uint8Array>();
    {
      const ref = await startStorescp({
        dir: path.join(root, "reference"),
        aet: "REFERENCE",
        bitPreserving: true,
        extraArgs: ["-uf"],
      });
      try {
        const all = [...trialsFiles.flat(), ...ingestCalibration, ...backlogCalibration];
        const sent = await runDcmtk("storescu", storescuArgs(ref, all), { timeoutMs: 60_000 });
        assert.equal(sent.code, 0, `reference send failed: ${sent.stderr.slice(-2000)}`);
        assert.equal(acknowledgedFiles(sent.stderr, all).length, all.length, "reference send acknowledged");
      } finally {
        await ref.stop();
      }
      for (const [sop, file] of await destinationFiles(ref)) {
        reference.set(sop, wholeObject(await Deno.readFile(file)).dataset);
      }
      assert.equal(reference.size, SERIES * PER_TRIAL, "the reference storescp has every object");
    }

    const scp = await startStorescp({
      dir: path.join(root, "destination"),
      bitPreserving: true,
      extraArgs: ["-uf"],
    });
    const config = {
      nodes: { [DEST]: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
      routes: [{ name: "all", match: {}, to: [{ node: DEST }] }],
      queue: { backoffBaseSeconds: 0.1, backoffCapSeconds: 1 },
    };
    const start = () => startAgentProcess({ dataDir, aet: AET, config });

    /** Whole-and-identical checks of archive and destination files against the reference. */
    const verifier = new FileVerifier(reference, context, PARTIAL_GRACE_MS);

    const acknowledged = new Set<string>(); // SOP Instance UIDs answered Success, over all trials
    const kills = { receiving: 0, forwarding: 0, idle: 0, backlog: 0 };
    /** Acknowledged objects found in the intake (not yet indexed) at a kill. */
    let intakeAtKills = 0;
    let inFlightAtKills = 0;
    let recoveredReported = 0;
    let previous: DbSnapshot | undefined;
    /** Rows the running agent found in flight at its start (those of the kill before it). */
    let expectRecovered = 0;
    let passed = false; // the files stay for a look when the test fails
    let agent = await start();
    try {
      // Calibration: how long one series takes to be received and forwarded, and one backlog to be
      // forwarded, here and now.
      const settled = async (from: number) => {
        for (;;) {
          const rows = await queueSummary(agent);
          if (!rows.some((r) => ["pending", "in_flight", "failed"].includes(r.state))) {
            return Date.now() - from;
          }
          if (Date.now() - from > DRAIN_TIMEOUT_MS) assert.fail(`calibration: the queue did not drain`);
          await sleep(5);
        }
      };
      const calibrate = async (files: string[], backlog: boolean) => {
        if (backlog) await post(agent, `/queue/pause/${DEST}`);
        const from = Date.now();
        const sent = await runDcmtk("storescu", storescuArgs(agent, files), { timeoutMs: 30_000 });
        assert.equal(
          acknowledgedFiles(sent.stderr, files).length,
          files.length,
          `calibration: ${sent.stderr}`,
        );
        for (const f of files) acknowledged.add(sopOf.get(f)!);
        if (!backlog) return await settled(from);
        const resumed = Date.now();
        await post(agent, `/queue/resume/${DEST}`);
        return await settled(resumed);
      };
      const window = (ms: number, [min, max]: readonly [number, number]) =>
        Math.min(max, Math.max(min, ms * 1.25));
      const ingestMs = await calibrate(ingestCalibration, false);
      const backlogMs = await calibrate(backlogCalibration, true);
      const ingestWindow = window(ingestMs, INGEST_WINDOW_BOUNDS);
      const backlogWindow = window(backlogMs, BACKLOG_WINDOW_BOUNDS);
      if (VERBOSE) {
        console.log(`calibration: ingest ${ingestMs} ms, backlog ${backlogMs} ms`);
      }

      for (let t = 0; t < TRIALS; t++) {
        const files = trialsFiles[t];
        const backlog = random() < BACKLOG_SHARE;
        const delay = random() * (backlog ? backlogWindow : ingestWindow);
        let sent;
        if (backlog) {
          await post(agent, `/queue/pause/${DEST}`);
          sent = await runDcmtk("storescu", storescuArgs(agent, files), { timeoutMs: 30_000 });
          await post(agent, `/queue/resume/${DEST}`);
          await sleep(delay);
          await agent.kill();
        } else {
          const send = runDcmtk("storescu", storescuArgs(agent, files), { timeoutMs: 30_000 });
          await sleep(delay);
          await agent.kill();
          sent = await send;
        }
        await checkRecovery(agent, expectRecovered, t);
        assert.ok(sent.code !== 124, `storescu hung after the kill ${context()}`);
        assert.ok(!/Sending file|Store Response/.test(sent.stdout), "storescu -v logs to stderr");
        const acked = acknowledgedFiles(sent.stderr, files);
        for (const f of acked) acknowledged.add(sopOf.get(f)!);
        if (sent.code === 0) assert.equal(acked.length, files.length, `storescu exited 0: ${sent.stderr}`);
        if (backlog) assert.equal(acked.length, files.length, `backlog send failed: ${sent.stderr}`);

        // The agent is dead: what did it leave?
        const snap = readDbSnapshot(path.join(dataDir, "agent.db"));
        const queued = new Set(snap.rows.map((r) => r.sop));
        const archived = await archiveFiles(dataDir);
        // Answered Success but not yet group-committed: a whole object in <data>/incoming, or one the
        // group commit had placed in the archive when the kill came before its index transaction; the
        // next start commits both (checked at the next trial's kill, and at the end).
        const waitingInIntake = await intakeFiles(dataDir);
        for (const sop of acknowledged) {
          if (!snap.instances.has(sop) && (waitingInIntake.has(sop) || archived.has(sop))) {
            intakeAtKills++;
            continue;
          }
          assert.ok(
            snap.instances.has(sop),
            `trial ${t}: acknowledged ${sop} is neither in the index nor in the intake ${context()}`,
          );
          assert.ok(queued.has(sop), `trial ${t}: acknowledged ${sop} has no queue row ${context()}`);
          assert.ok(archived.has(sop), `trial ${t}: acknowledged ${sop} has no archive file ${context()}`);
        }
        const rowKey = (r: { sop: string; destination: string }) => `${r.sop}/${r.destination}`;
        if (previous) {
          const now = new Map(snap.rows.map((r) => [rowKey(r), r.state]));
          for (const r of previous.rows) {
            const state = now.get(rowKey(r));
            assert.ok(state, `trial ${t}: the queue row of ${r.sop} vanished ${context()}`);
            if (r.state === "done") assert.equal(state, "done", `trial ${t}: a done row became ${state}`);
          }
        }
        previous = snap;
        const delivered = await destinationFiles(scp);
        await verifier.verifyFiles("archive", archived);
        await verifier.verifyFiles("destination", delivered);
        const present = await destinationFiles(scp); // after storescp removed aborted files
        for (const r of snap.rows) {
          if (r.state === "done") {
            assert.ok(
              present.has(r.sop),
              `trial ${t}: ${r.sop} is done but not at the destination ${context()}`,
            );
          }
        }

        const inFlight = snap.states["in_flight"] ?? 0;
        inFlightAtKills += inFlight;
        const waiting = inFlight + (snap.states["pending"] ?? 0) + (snap.states["failed"] ?? 0);
        if (acked.length < files.length) kills.receiving++;
        if (waiting > 0) kills.forwarding++;
        if (acked.length === files.length && waiting === 0) kills.idle++;
        if (backlog) kills.backlog++;
        if (VERBOSE) {
          console.log(
            `trial ${t} (${backlog ? "backlog" : "ingest"}): kill at ${delay.toFixed(0)} ms, ` +
              `${acked.length}/${files.length} acknowledged, queue ${JSON.stringify(snap.states)}, ` +
              `${archived.size} archived, ${snap.instances.size} indexed, ${present.size} at the destination`,
          );
        }

        expectRecovered = inFlight;
        agent = await start();
      }

      // Drain.
      const deadline = Date.now() + DRAIN_TIMEOUT_MS;
      for (;;) {
        const rows = await queueSummary(agent);
        if (!rows.some((r) => ["pending", "in_flight", "failed"].includes(r.state))) break;
        if (Date.now() > deadline) {
          assert.fail(
            `the queue did not drain in ${DRAIN_TIMEOUT_MS} ms: ${JSON.stringify(rows)} ${context()}`,
          );
        }
        await sleep(200);
      }
      assert.deepEqual(await queueRows(agent, "dead"), [], `rows in the dead letter ${context()}`);
      const summary = await queueSummary(agent);
      assert.deepEqual(summary.map((r) => r.state), ["done"], `rows not done: ${JSON.stringify(summary)}`);
      const done = await queueRows(agent, "done");
      const doneSops = new Set(done.filter((r) => r.destination === DEST).map((r) => r.sopInstanceUid));
      assert.equal(doneSops.size, done.length, "one row per object and destination");
      await agent.stop();
      await checkRecovery(agent, expectRecovered, TRIALS);

      const archived = await archiveFiles(dataDir);
      const delivered = await destinationFiles(scp);
      for (const sop of acknowledged) {
        assert.ok(doneSops.has(sop), `acknowledged ${sop} is not done ${context()}`);
        assert.ok(archived.has(sop), `acknowledged ${sop} is not in the archive ${context()}`);
        assert.ok(delivered.has(sop), `acknowledged ${sop} never reached the destination ${context()}`);
      }
      for (const sop of doneSops) {
        assert.ok(delivered.has(sop), `${sop} is done but not at the destination ${context()}`);
      }
      for (const sop of delivered.keys()) {
        assert.ok(archived.has(sop), `the destination has ${sop}, which the archive does not ${context()}`);
      }
      // A file the group commit placed in the archive before a kill stopped its index transaction is
      // indexed by the next start, so the archive holds exactly what the index knows.
      const indexed = readDbSnapshot(path.join(dataDir, "agent.db")).instances;
      for (const sop of archived.keys()) {
        assert.ok(indexed.has(sop), `${sop} is in the archive but not in the index ${context()}`);
      }
      verifier.verified.clear();
      await verifier.verifyFiles("archive", archived);
      await verifier.verifyFiles("destination", delivered);
      const leftovers = (await listFiles(path.join(dataDir, "tmp"))).filter((f) => f.endsWith(".part"));
      assert.deepEqual(leftovers, [], "temporary files left in <data>/tmp");
      const intakeLeft = await listFiles(path.join(dataDir, "incoming")).catch(() => [] as string[]);
      assert.deepEqual(intakeLeft, [], "objects left in <data>/incoming after a clean stop");
      assert.equal(
        recoveredReported,
        inFlightAtKills,
        "every row in flight at a kill was returned to pending",
      );

      const unindexed = [...archived.keys()].filter((sop) => !doneSops.has(sop)).length;
      console.log(
        `crash_test: ${TRIALS} trials (${kills.backlog} backlog; kill windows ${
          ingestWindow.toFixed(0)
        } ms ` +
          `and ${backlogWindow.toFixed(0)} ms; seed ${seed}): ${acknowledged.size}/` +
          `${SERIES * PER_TRIAL} objects acknowledged, all ${acknowledged.size} delivered byte-identical ` +
          `(${delivered.size} at the destination, ${archived.size} archived, ${unindexed} of them never indexed); ` +
          `kills while receiving ${kills.receiving}, with rows waiting or in flight ${kills.forwarding} ` +
          `(a kill can be both), after everything was delivered ${kills.idle}; ` +
          `${inFlightAtKills} rows in flight at kills, all returned to pending; ` +
          `${intakeAtKills} acknowledged objects waiting for their group commit at kills, committed at the restart; ` +
          `${verifier.removedPartials} partial files of aborted associations removed by storescp; ` +
          `${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      passed = true;
    } catch (err) {
      console.error(
        `crash_test failed ${context()}\n--- agent log (${agent.logFile}) ---\n${await logTail(
          agent.logFile,
          3000,
        )}`,
      );
      throw err;
    } finally {
      await agent.stop();
      await scp.stop();
      if (passed) await Deno.remove(root, { recursive: true });
    }

    /**
     * The rows in flight at the kill before trial `t` are exactly those the agent started after it
     * (now stopped or killed, so its log is complete) reported returning to pending; and it logged no
     * error.
     */
    async function checkRecovery(a: AgentProcess, expected: number, t: number): Promise<void> {
      const records = await logRecords(a);
      const errors = records.filter((r) => r.level === "error" || /uncaught|unhandled/.test(String(r.msg)));
      assert.deepEqual(errors, [], `the agent of trial ${t} logged errors (log: ${a.logFile}) ${context()}`);
      const lines = records.filter((r) => r.msg === RECOVERED_MSG);
      assert.ok(lines.length <= 1, `the agent of trial ${t} logged its recovery twice`);
      const reported = lines.reduce((n, r) => n + Number(r.count), 0);
      assert.equal(
        reported,
        expected,
        `${expected} rows were in flight at the kill before trial ${t}; the restarted agent returned ` +
          `${reported} to pending (log: ${a.logFile}) ${context()}`,
      );
      recoveredReported += reported;
    }
  },
});

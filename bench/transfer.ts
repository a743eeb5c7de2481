/**
 * The transfer benchmark (issue 7): a 500-object study (0.526 MB CT objects) archived at north is
 * transferred to south's PACS (a `storescp`) with `transfers.create`; the time runs from the call to
 * the last object in storescp's directory. Reference in the same run: `storescu` straight into a
 * `storescp`. De-identification is not part of the path yet (no PS3.15 profile). `--quick`: 100 objects.
 * Also reported: when the first and the last object reached south (its queue for the PACS, read every 100
 * ms) and the PACS, the CPU seconds of north, the hub, south, `storescp` and this process over the
 * transfer, and the machine's busy cores (other work on the VM included).
 *
 * Before the measured transfer, another study of 200 objects (`--quick`: 50) goes the same way, untimed: a
 * started agent's first few hundred objects cost V8's compilation on top (bench/README.md, ingest), the
 * hub's too, and a site's agents run for weeks. The reference is native and needs no warm-up.
 */
import * as path from "node:path";
import type { Benchmark, BenchOptions, BenchResult } from "./main.ts";
import { runDcmtk, skipReason, startStorescp } from "../tests/support/peers.ts";
import { startAgentProcess } from "../tests/support/agent.ts";
import { hubAdmin, startHubProcess } from "../tests/support/hub.ts";
import {
  countEntries,
  countFiles,
  fixed,
  generateCtSeries,
  MB,
  processTicks,
  systemTicks,
  ticksPerSecond,
  until,
} from "./_shared.ts";
import type { AgentProcess } from "../tests/support/agent.ts";
import { createConduitClient } from "../hub/client/mod.ts";
import { writeGeneratedSeries } from "../tests/tools/generate.ts";

const TARGET = 0.4;

/** Rows of an agent's queue for `destination`, in any state, and those done. */
async function queueRows(agent: AgentProcess, destination: string): Promise<{ all: number; done: number }> {
  const body = await (await agent.http("/queue/summary")).json() as {
    rows: { destination: string; state: string; count: number }[];
  };
  const rows = body.rows.filter((r) => r.destination === destination);
  return {
    all: rows.reduce((n, r) => n + r.count, 0),
    done: rows.filter((r) => r.state === "done").reduce((n, r) => n + r.count, 0),
  };
}

export const transfer: Benchmark = {
  name: "transfer",
  description:
    "a 500-object study north -> hub -> south -> storescp by transfers.create vs storescu -> storescp",
  async run({ quick, workDir, log }: BenchOptions): Promise<BenchResult> {
    const skip = skipReason("storescu", "storescp");
    if (skip) throw new Error(`transfer bench needs DCMTK: ${skip}`);
    const n = quick ? 100 : 500;
    const warmCount = quick ? 50 : 200;
    const loadAtStart = Deno.loadavg();
    const series = await generateCtSeries(path.join(workDir, "series"), n, log);
    const warm = await writeGeneratedSeries(path.join(workDir, "warm-up"), {
      count: warmCount,
      seed: "warm-up",
    });

    const directDir = path.join(workDir, "direct");
    const direct = await startStorescp({ aet: "PACS", dir: directDir, bitPreserving: true });
    let directSeconds: number;
    try {
      const t0 = performance.now();
      const r = await runDcmtk("storescu", [
        "-aec",
        "PACS",
        "127.0.0.1",
        String(direct.port),
        ...series.paths,
      ], { timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`storescu: ${r.stderr.slice(-400)}`);
      directSeconds = (performance.now() - t0) / 1000;
    } finally {
      await direct.stop();
    }

    const hub = await startHubProcess({ dataDir: path.join(workDir, "hub") });
    const pacsDir = path.join(workDir, "pacs");
    const pacs = await startStorescp({ aet: "PACS", dir: pacsDir, bitPreserving: true });
    const token = String(
      (await hubAdmin(hub.dataDir, ["token", "create", "bench", "--role", "operator", "--json"])).json!.token,
    );
    const enroll = async (site: string) =>
      String((await hubAdmin(hub.dataDir, ["site", "add", site, "--json"])).json!.enrollmentToken);
    const south = await startAgentProcess({
      dataDir: path.join(workDir, "south"),
      aet: "SOUTH",
      config: { nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port } } },
      args: ["--site", "south", "--hub", hub.tunnelUrl, "--enroll", await enroll("south")],
    });
    const north = await startAgentProcess({
      dataDir: path.join(workDir, "north"),
      aet: "NORTH",
      args: ["--site", "north", "--hub", hub.tunnelUrl, "--enroll", await enroll("north")],
    });
    try {
      const r = await runDcmtk("storescu", [
        "-aec",
        "NORTH",
        "127.0.0.1",
        String(north.port),
        ...series.paths,
        ...warm.paths,
      ], { timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`storescu into north: ${r.stderr.slice(-400)}`);
      const client = createConduitClient({ url: `http://127.0.0.1:${hub.port}`, token });
      await until(
        "both sites online",
        async () => (await client.sites.list.query()).every((s) => s.state === "online"),
        30_000,
      );
      log(`warm-up: transferring ${warm.files} other objects north -> south's PACS, untimed`);
      const { id: warmId } = await client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "pacs" },
        studies: [warm.studyUid],
      });
      await until(
        "the warm-up transfer",
        async () => (await client.transfers.get.query({ id: warmId })).status === "success",
      );
      // Success is south's acknowledgement (committed, queued for its node); its PACS gets them after.
      await until("the warm-up at the PACS", async () => (await countFiles(pacsDir)) >= warm.files);
      const base = await countFiles(pacsDir);
      const queued = (await queueRows(south, "pacs")).all;
      log(`transferring ${n} objects north -> south's PACS`);
      const hz = await ticksPerSecond();
      const names = ["north", "hub", "south", "storescp", "bench"];
      const pids = [north.pid, hub.pid, south.pid, pacs.pid, "self" as const];
      const cpu0 = pids.map((pid) => processTicks(pid).own);
      const sys0 = systemTicks();
      const t0 = performance.now();
      // Phases: when the first and the last object reached south (committed, queued for its PACS) and
      // the PACS. South's queue is read every 100 ms, the PACS's directory every 20 ms.
      const phase = { firstAtSouth: NaN, allAtSouth: NaN, firstAtPacs: NaN };
      let sampling = true;
      const southSampler = (async () => {
        while (sampling && Number.isNaN(phase.allAtSouth)) {
          const rows = await queueRows(south, "pacs").catch(() => ({ all: queued, done: 0 }));
          const at = (performance.now() - t0) / 1000;
          if (rows.all > queued && Number.isNaN(phase.firstAtSouth)) phase.firstAtSouth = at;
          if (rows.all >= queued + n) phase.allAtSouth = at;
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const { id } = await client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "pacs" },
        studies: [series.studyUid],
      });
      await until("the transfer", () => {
        const k = countEntries(pacsDir) - base;
        if (k > 0 && Number.isNaN(phase.firstAtPacs)) phase.firstAtPacs = (performance.now() - t0) / 1000;
        return Promise.resolve(k >= n);
      });
      await until("the transfer at the PACS", async () => (await countFiles(pacsDir)) >= base + n);
      const seconds = (performance.now() - t0) / 1000;
      const sys1 = systemTicks();
      const cpu = pids.map((pid, k) => (processTicks(pid).own - cpu0[k]) / hz);
      sampling = false;
      await southSampler;
      const machineCores = (sys1.total - sys1.idle - sys0.total + sys0.idle) / hz / seconds;
      await until(
        "the transfer's success",
        async () => (await client.transfers.get.query({ id })).status === "success",
        30_000,
      );
      const ratio = directSeconds / seconds;
      return {
        tables: [{
          title: `${n} objects, ${fixed(series.bytes / MB)} MB`,
          columns: ["path", "seconds", "files/s"],
          rows: [
            ["storescu -> storescp", fixed(directSeconds, 2), fixed(n / directSeconds)],
            ["transfers.create: north -> hub -> south -> storescp", fixed(seconds, 2), fixed(n / seconds)],
          ],
        }, {
          title: "transfer phases, seconds from transfers.create",
          columns: ["first at south", "last at south", "first at PACS", "last at PACS"],
          rows: [[phase.firstAtSouth, phase.allAtSouth, phase.firstAtPacs, seconds].map((x) => fixed(x, 2))],
        }, {
          title: "CPU over the transfer: seconds of each process, and the machine's busy cores",
          columns: [...names, "busy cores (machine)"],
          rows: [[...cpu.map((c) => fixed(c, 2)), fixed(machineCores, 2)]],
        }],
        targets: [{
          label: `transfer ≥ ${TARGET} × storescu -> storescp`,
          measured: `${fixed(ratio, 2)}×`,
          pass: ratio >= TARGET,
        }],
        notes: [
          "the transfer asks for no de-identification (with deid, the source agent de-identifies each object first)",
          `before it, ${warm.files} other objects went the same way, untimed (the agents' and the hub's JIT ` +
          `warm-up; bench/README.md)`,
        ],
        data: {
          n,
          warmUp: warm.files,
          bytes: series.bytes,
          directSeconds,
          seconds,
          phase,
          cpu: Object.fromEntries(names.map((k, i) => [k, cpu[i]])),
          machineCores,
          loadAtStart,
          loadAtEnd: Deno.loadavg(),
        },
      };
    } finally {
      await north.stop();
      await south.stop();
      await pacs.stop();
      await hub.stop();
    }
  },
};

/**
 * `deno task bench associations`: what one association costs the receiver. Many modalities and gateways
 * open an association per image; then the negotiation, the buffers and the release are paid per image.
 * `storescu` sends one small generated CT object per association (a new one each time: other UIDs), one
 * association after another, to the
 * agent as shipped and to `storescp` (no fork), with storescu's default proposal (a context for each of
 * its storage SOP classes, about 120) and with `-R` (the file's SOP class only). Reported: the receiver's
 * CPU per association (from /proc, the whole process) and the wall time per association (mostly
 * storescu's own start-up). No target of an issue; figures in bench/README.md.
 */
import * as path from "node:path";
import type { Benchmark, BenchOptions, BenchResult } from "./main.ts";
import { fixed, median, processTicks, ticksPerSecond } from "./_shared.ts";
import { runDcmtk, skipReason, startStorescp } from "../tests/support/peers.ts";
import { startAgentProcess } from "../tests/support/agent.ts";
import { writeGeneratedSeries } from "../tests/tools/generate.ts";

/** Associations before the measured ones (the agent's JIT warm-up). */
const WARM = 20;

interface Receiver {
  name: string;
  start(dir: string): Promise<{ aet: string; port: number; pid: number; stop(): Promise<unknown> }>;
}

const RECEIVERS: Receiver[] = [
  {
    name: "agent (as shipped)",
    start: async (dir) => await startAgentProcess({ dataDir: dir, lockfile: true }),
  },
  {
    name: "storescp",
    start: async (dir) => {
      const p = await startStorescp({ dir, aet: "STORESCP" });
      return { aet: "STORESCP", port: p.port, pid: p.pid, stop: () => p.stop() };
    },
  },
];

const PROPOSALS: { name: string; args: string[] }[] = [
  { name: "storescu's default proposal", args: [] },
  { name: "-R (one context)", args: ["-R"] },
];

/** `files`: WARM + n objects, each sent in an association of its own (each new to the receiver). */
async function measure(
  receiver: Receiver,
  proposal: string[],
  files: string[],
  n: number,
  dir: string,
  hz: number,
): Promise<{ cpuMs: number; wallMs: number }> {
  const peer = await receiver.start(dir);
  try {
    const send = async (file: string) => {
      const r = await runDcmtk("storescu", [
        ...proposal,
        "-aec",
        peer.aet,
        "127.0.0.1",
        String(peer.port),
        file,
      ]);
      if (r.code !== 0) throw new Error(`storescu into ${receiver.name}: ${r.stderr.slice(-300)}`);
    };
    for (let i = 0; i < WARM; i++) await send(files[i]);
    const cpu0 = processTicks(peer.pid).own;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await send(files[WARM + i]);
    const wallMs = (performance.now() - t0) / n;
    const cpuMs = (processTicks(peer.pid).own - cpu0) / hz * 1000 / n;
    return { cpuMs, wallMs };
  } finally {
    await peer.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

export const associations: Benchmark = {
  name: "associations",
  description: "receiver CPU per association, one small object each: agent vs storescp",
  async run({ quick, workDir, log }: BenchOptions): Promise<BenchResult> {
    const skip = skipReason("storescu", "storescp");
    if (skip) throw new Error(`associations bench needs DCMTK: ${skip}`);
    const n = quick ? 30 : 150;
    const rounds = quick ? 1 : 3;
    const files = (await writeGeneratedSeries(path.join(workDir, "objects"), {
      count: WARM + n,
      rows: 64,
      columns: 64,
      seed: "associations",
    })).paths;
    const hz = await ticksPerSecond();
    const figures = new Map<string, { cpu: number[]; wall: number[] }>();
    for (let round = 1; round <= rounds; round++) {
      for (const proposal of PROPOSALS) {
        for (const receiver of RECEIVERS) {
          const key = `${receiver.name}|${proposal.name}`;
          const dir = path.join(workDir, `r${round}-${receiver.name.split(" ")[0]}`);
          const m = await measure(receiver, proposal.args, files, n, dir, hz);
          log(
            `round ${round}, ${proposal.name}, ${receiver.name}: ${fixed(m.cpuMs, 2)} ms CPU and ` +
              `${fixed(m.wallMs, 1)} ms wall per association`,
          );
          const f = figures.get(key) ?? { cpu: [], wall: [] };
          f.cpu.push(m.cpuMs);
          f.wall.push(m.wallMs);
          figures.set(key, f);
        }
      }
    }
    const rows: string[][] = [];
    for (const proposal of PROPOSALS) {
      for (const receiver of RECEIVERS) {
        const f = figures.get(`${receiver.name}|${proposal.name}`)!;
        rows.push([
          proposal.name,
          receiver.name,
          f.cpu.map((c) => fixed(c, 2)).join(" / "),
          fixed(median(f.cpu), 2),
          fixed(median(f.wall), 1),
        ]);
      }
    }
    return {
      tables: [{
        title: `${n} associations of one ${fixed(Deno.statSync(files[0]).size / 1000, 1)} kB object each, ` +
          `one after another; median of ${rounds}`,
        columns: ["proposal", "receiver", "CPU ms per association (rounds)", "CPU ms", "wall ms"],
        rows,
      }],
      targets: [],
      notes: [
        `${WARM} associations before each measured run, untimed (the agent's JIT warm-up)`,
        "CPU: the receiver process's user and system time over the run (/proc), divided by the associations",
        "wall: mostly storescu's own start-up, the same for both receivers",
        "agent as shipped: each object synced before Success (storescp does not sync)",
      ],
      data: Object.fromEntries(figures),
    };
  },
};

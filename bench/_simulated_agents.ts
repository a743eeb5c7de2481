/**
 * Many simulated agents for the scale benchmarks (bench/_simulated_agents_worker.ts does the work), spread
 * over workers of at most {@link PER_WORKER} agents each: one event loop holding 10,000 sessions fell more
 * than the hub's 10 s ping timeout behind on a busy 2-core machine, and the hubs closed every session.
 */

const PER_WORKER = 2500;

export async function simulateAgents(
  url: string,
  credentials: { site: string; credential: string }[],
  log: (m: string) => void,
) {
  const workers: { worker: Worker; pings: number; statuses: number; connected: number }[] = [];
  let connected = 0;
  const started: Promise<void>[] = [];
  for (let i = 0; i < credentials.length; i += PER_WORKER) {
    const w = {
      worker: new Worker(new URL("./_simulated_agents_worker.ts", import.meta.url), { type: "module" }),
      pings: 0,
      statuses: 0,
      connected: 0,
    };
    const share = Math.min(PER_WORKER, credentials.length - i);
    workers.push(w);
    started.push(
      new Promise((resolve, reject) => {
        w.worker.onerror = (e) => reject(new Error(`simulated agents: ${e.message}`));
        w.worker.onmessage = (e: MessageEvent) => {
          if (e.data.connected || e.data.ready) {
            const now = e.data.ready ? share : e.data.connected;
            connected += now - w.connected;
            w.connected = now;
            if (e.data.ready || now % 1000 === 0) log(`${connected} simulated agents connected`);
          }
          if (e.data.ready) resolve();
          if (e.data.pings !== undefined) [w.pings, w.statuses] = [e.data.pings, e.data.statuses];
        };
      }),
    );
    w.worker.postMessage({ url, credentials: credentials.slice(i, i + PER_WORKER) });
  }
  await Promise.all(started);
  return {
    pings: () => workers.reduce((n, w) => n + w.pings, 0),
    statuses: () => workers.reduce((n, w) => n + w.statuses, 0),
    async close() {
      await Promise.all(workers.map((w) =>
        new Promise<void>((resolve) => {
          const on = w.worker.onmessage!;
          w.worker.onmessage = (e: MessageEvent) => {
            on.call(w.worker, e);
            if (e.data === "closed") resolve();
          };
          w.worker.postMessage("close");
        })
      ));
      for (const w of workers) w.worker.terminate();
    },
  };
}

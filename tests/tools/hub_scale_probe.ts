/**
 * Times what runs often on a hub whose database fill_hub.ts filled: starts the real hub on it
 * (`hub/main.ts`, a subprocess), then asks each console page's calls, the metrics and the audit export as
 * the console does (the session cookie of `user-001`), `--runs` times each, and prints the median and the
 * slowest in milliseconds, with the answer's size; then, on the big job, the console's actions in turn
 * (retry, reschedule, cancel: they change the database, so run it on a copy). Not a test and not a benchmark of record: the numbers
 * behind bench/README.md's "Hub database at a year's scale".
 *
 * `deno run -A tests/tools/hub_scale_probe.ts --data DIR [--db URL] --job ID --batch ID [--after TASK] [--runs 5]`
 */
import { parseArgs } from "node:util";
import { startHubProcess } from "../support/hub.ts";

const { values } = parseArgs({
  args: Deno.args.filter((a) => a !== "--"),
  options: {
    data: { type: "string" },
    db: { type: "string" },
    job: { type: "string" },
    batch: { type: "string" },
    /** A task id of the job to page from (`transfers.tasks`' cursor): the fill's 2500th of the big job. */
    after: { type: "string", default: "" },
    session: { type: "string", default: "scale-session-user-001" },
    runs: { type: "string", default: "5" },
  },
});
if (!values.data || !values.job || !values.batch) {
  console.error("usage: hub_scale_probe.ts --data DIR [--db URL] --job ID --batch ID [--runs 5]");
  Deno.exit(2);
}
const runs = Number(values.runs);
const started = performance.now();
const hub = await startHubProcess({ dataDir: values.data, db: values.db });
console.log(`hub up in ${Math.round(performance.now() - started)} ms`);
const base = `http://127.0.0.1:${hub.port}`;
const headers = { cookie: `conduit_session=${values.session}` };

const trpc = (proc: string, input?: unknown) =>
  `${base}/trpc/${proc}${input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`}`;

const CALLS: [string, string][] = [
  ["dashboard: summaries 10", trpc("transfers.summaries", { limit: 10 })],
  ["summaries page 1", trpc("transfers.summaries", { limit: 51 })],
  ["summaries page 400", trpc("transfers.summaries", { limit: 51, offset: 399 * 50 })],
  ["transfers.list 10", trpc("transfers.list", { limit: 10 })],
  ["transfers page 1", trpc("transfers.list", { limit: 51 })],
  ["transfers page 400", trpc("transfers.list", { limit: 51, offset: 399 * 50 })],
  ["job of 5000 studies", trpc("transfers.get", { id: values.job })],
  ["its tasks, page 1 of 100", trpc("transfers.tasks", { id: values.job, limit: 100 })],
  [
    "its tasks after the 2500th",
    trpc("transfers.tasks", { id: values.job, limit: 100, after: values.after || undefined }),
  ],
  ["its failed tasks, 100", trpc("transfers.tasks", { id: values.job, limit: 100, status: "failure" })],
  ["batch list page 1", trpc("batch.list", { limit: 21 })],
  ["batch list page 100", trpc("batch.list", { limit: 21, offset: 99 * 20 })],
  ["batch of 20000 results", trpc("batch.status", { id: values.batch })],
  ["its CSV", trpc("batch.results", { id: values.batch, format: "csv" })],
  ["its XLSX", trpc("batch.results", { id: values.batch, format: "xlsx" })],
  ["its CSV, streamed (/api)", `${base}/api/batches/${values.batch}/results.csv`],
  ["audit page 1", trpc("audit.list", { limit: 101 })],
  ["audit page 100", trpc("audit.list", { limit: 101, offset: 99 * 100 })],
  ["audit filter action", trpc("audit.list", { limit: 101, action: "transfer.create" })],
  ["audit filter actor", trpc("audit.list", { limit: 101, actor: "user:user-005" })],
  ["audit CSV 50000", trpc("audit.csv", {})],
  ["sites.list", trpc("sites.list")],
  ["users.list", trpc("users.list")],
  ["/metrics", `${base}/metrics`],
];

/**
 * The console's actions on the big job, one cycle per run: running again, capped, canceled (its tasks over
 * stay as they are). Mutations, POSTed with the session's CSRF token.
 */
const ACTIONS: [string, string, unknown][] = [
  ["retry the job of 5000", "transfers.retry", { id: values.job }],
  ["reschedule it (a cap)", "transfers.schedule", { id: values.job, bandwidthMbps: 50 }],
  ["cancel it", "transfers.cancel", { id: values.job }],
];

/** Prints a call's median and slowest time, its last status and its answer's size. */
function report(what: string, times: number[], status: number, bytes: number): void {
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(
    `${what.padEnd(28)} ${String(status).padEnd(4)} median ${median.toFixed(1).padStart(8)} ms, ` +
      `max ${times.at(-1)!.toFixed(1).padStart(8)} ms, ${(bytes / 1024).toFixed(0)} KiB`,
  );
}

/** Times one request: its time, status and answer's size. */
async function timed(request: () => Promise<Response>) {
  const t0 = performance.now();
  const res = await request();
  const bytes = (await res.arrayBuffer()).byteLength;
  return { ms: performance.now() - t0, status: res.status, bytes };
}

try {
  for (const [what, url] of CALLS) {
    const runsOf = [];
    for (let i = 0; i < runs; i++) runsOf.push(await timed(() => fetch(url, { headers })));
    report(what, runsOf.map((r) => r.ms), runsOf.at(-1)!.status, runsOf.at(-1)!.bytes);
  }
  const { csrf } = await (await fetch(`${base}/auth/me`, { headers })).json();
  const cycles = ACTIONS.map(() => [] as Awaited<ReturnType<typeof timed>>[]);
  for (let i = 0; i < runs; i++) {
    for (const [k, [, proc, input]] of ACTIONS.entries()) {
      cycles[k].push(
        await timed(() =>
          fetch(trpc(proc), {
            method: "POST",
            headers: { ...headers, "x-csrf-token": csrf, "content-type": "application/json" },
            body: JSON.stringify(input),
          })
        ),
      );
    }
  }
  for (const [k, [what]] of ACTIONS.entries()) {
    report(what, cycles[k].map((r) => r.ms), cycles[k].at(-1)!.status, cycles[k].at(-1)!.bytes);
  }
} finally {
  await hub.stop();
}

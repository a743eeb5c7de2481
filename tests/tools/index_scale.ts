/**
 * Times the agent's frequent reads of its index on a data directory's agent.db (one filled by
 * tests/support/big_index.ts, or a stopped agent's copy) and prints SQLite's plan for each statement they run:
 *
 *   deno run -A tests/tools/index_scale.ts DATA_DIR
 *
 * What it calls is the agent's own code (the queue, C-FIND, retention, the start's recovery), each once after
 * a warm-up call, the page cache as the previous call left it. Opening the file applies the migrations it
 * lacks (timed). It writes only what those calls write at a start: rows in flight back to pending, and done
 * rows older than 400 days pruned; retention runs with rules that remove nothing.
 */
import * as path from "node:path";
import { Logger } from "@conduit/shared/log";
import type { Archive } from "../../agent/archive/archive.ts";
import { Database } from "../../agent/index/db.ts";
import { archiveTotals } from "../../agent/index/totals.ts";
import { Retention } from "../../agent/forward/retention.ts";
import { reconcileAfterCrash } from "../../agent/ingest/recover.ts";
import { IndexQueryHandler } from "../../agent/query/find.ts";
import { listConflicts } from "../../agent/index/conflicts.ts";
import { Queue } from "../../agent/queue/queue.ts";
import { BIG_ROUTES, bigStudy } from "../support/big_index.ts";
import { plansOf } from "../support/query_plans.ts";

const dir = Deno.args[0];
if (!dir) {
  console.error("usage: deno run -A tests/tools/index_scale.ts DATA_DIR");
  Deno.exit(2);
}
const opened = performance.now();
const db = await Database.open(path.join(dir, "agent.db"), { durable: false });
console.log(`open (and migrations): ${((performance.now() - opened) / 1000).toFixed(1)} s`);

const quiet = new Logger({}, "error", { write: () => {} });
const noFiles = { remove: () => Promise.resolve(), list: async function* () {} } as unknown as Archive;
const queue = new Queue(db);
const finder = new IndexQueryHandler(db, { aet: "TOOL", maxResults: 1000 });
const find = async (level: string, keys: Record<string, string>) => {
  const model = level === "PATIENT" ? "patient" : "study";
  let n = 0;
  try {
    for await (
      const _ of finder.find(model, { QueryRetrieveLevel: level, ...keys }, new AbortController().signal)
    ) n++;
  } catch (err) {
    return `${n} (${(err as Error).message})`;
  }
  return n;
};
// The middle study, wherever the scale put it.
const [{ n: studies }] = await db.query<{ n: number }>("SELECT count(*) AS n FROM studies");
const study = bigStudy(Math.floor(Number(studies) / 2));
const now = Date.now();
const [pacs] = BIG_ROUTES;
const scratch = await Deno.makeTempDir({ prefix: "index-scale-" });

const cases: [string, () => unknown][] = [
  ["queue summary (heartbeat, /metrics)", () => queue.summary(now)],
  ["/healthz archive size", () => archiveTotals(db)],
  ["claim (a destination's due rows)", () => queue.claim("no-such-destination", 32, now)],
  ["next due (a forwarder after each batch)", () => queue.nextDue(pacs.destination)],
  ["waiting destinations (start)", () => queue.waitingDestinations()],
  ["due commitments (commitment sweep)", () => queue.dueCommitmentDestinations(now)],
  ["recover in-flight rows (start)", () => queue.recover(now)],
  ["prune done rows (start, hourly)", () => queue.pruneDone(now - 400 * 86_400_000)],
  ["queue list dead", () => queue.list({ state: "dead" })],
  ["queue list done", () => queue.list({ state: "done", destination: pacs.destination })],
  ["route progress (one route's rows)", () => queue.routeProgress(pacs.route)],
  ["conflicts list", () => listConflicts(db, { limit: 100 })],
  // Its data directory only for the clean-stop marker, which it removes: not the one measured.
  ["newest object (start after a crash)", () => reconcileAfterCrash(db, noFiles, scratch)],
  ["retention by age (nothing due)", () => new Retention(db, noFiles, { afterDays: 400 }, quiet).sweep(now)],
  [
    "retention by size (under the cap)",
    () => new Retention(db, noFiles, { maxBytes: 1e18 }, quiet).sweep(now),
  ],
  ["C-FIND STUDY PatientID", () => find("STUDY", { PatientID: study.patientId, StudyInstanceUID: "" })],
  ["C-FIND STUDY PatientName exact", () => find("STUDY", { PatientName: study.patientName })],
  [
    "C-FIND STUDY PatientName prefix*",
    () => find("STUDY", { PatientName: `${study.patientName.split("^")[0]}*` }),
  ],
  [
    "C-FIND PATIENT PatientName prefix*",
    () => find("PATIENT", { PatientName: `${study.patientName.split("^")[0]}*` }),
  ],
  ["C-FIND STUDY StudyDate one week", () => find("STUDY", { StudyDate: "20260601-20260607" })],
  ["C-FIND STUDY AccessionNumber", () => find("STUDY", { AccessionNumber: study.accessionNumber })],
  ["C-FIND STUDY ModalitiesInStudy", () => find("STUDY", { ModalitiesInStudy: study.modality })],
  // What no index finds: the studies walked in date order, all of them when nothing matches.
  ["C-FIND STUDY ModalitiesInStudy none has", () => find("STUDY", { ModalitiesInStudy: "SEG" })],
  ["C-FIND STUDY PatientName *leading wildcard", () => find("STUDY", { PatientName: "*ZZZ" })],
  [
    "C-FIND IMAGE of one study",
    () => find("IMAGE", { StudyInstanceUID: study.studyInstanceUid, SOPInstanceUID: "" }),
  ],
];
for (const [what, fn] of cases) {
  await fn();
  const started = performance.now();
  const result = await fn();
  const ms = performance.now() - started;
  const shown = Array.isArray(result)
    ? `${result.length} rows`
    : typeof result === "object"
    ? ""
    : String(result);
  console.log(`\n${what}: ${ms.toFixed(1)} ms ${shown}`);
  const plans = new Set((await plansOf(db, fn)).map((s) => s.plan.replaceAll("\n", " | ")));
  for (const plan of plans) console.log(`  ${plan}`);
}
db.close();
await Deno.remove(scratch, { recursive: true });

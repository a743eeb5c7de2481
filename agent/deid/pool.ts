/**
 * De-identifies a batch of files on several threads: one worker per job (`worker.ts`), each with the
 * profile built once, files handed out as workers free up. With one job, or where workers cannot start
 * (a bundled agent), the files are done on this thread, one after another.
 *
 * A file bound for a directory is written under a name of its own (`.deid-<pid>-<batch>-<n>.dcm`, `staged.ts`:
 * a later run removes those a killed run left) and then renamed
 * here, on this thread, to `<new SOP Instance UID>.dcm`: two inputs with one SOP Instance UID (one object in
 * two transfer syntaxes) would otherwise replace each other's output, or write one `.part` file together on
 * two workers. Results are placed and reported in the order of `files`, whatever order the workers finish
 * in, so the first of them in that order is written and the others fail with the reason, on every run and
 * with any number of jobs, and nothing replaces the first.
 */
import * as fs from "node:fs";
import type { DeidResult } from "./engine.ts";
import { type BatchSettings, requestOf } from "./batch_settings.ts";
import { workerUrl } from "../worker_url.ts";
import { stagedName } from "./staged.ts";
import { eventLoopTurn } from "@conduit/shared/process";

export interface BatchFile {
  input: string;
  /** The output file, or the directory to write it to as `<new SOP Instance UID>.dcm`. */
  output: string | { dir: string };
}

/** Where a batch file's output goes, once its identifiers are known. */
export function outputOf(f: BatchFile): string | ((ids: { sopInstanceUid: string }) => string) {
  const out = f.output;
  return typeof out === "string" ? out : (ids) => `${out.dir}/${ids.sopInstanceUid}.dcm`;
}

/**
 * Gives each file bound for a directory an output of its own, and returns the function that places a
 * result under its SOP Instance UID in that directory (or fails it, when another input of this batch took
 * the name).
 */
function placing(files: BatchFile[]) {
  const batch = crypto.randomUUID().slice(0, 8);
  const staged = files.map((f, i) =>
    typeof f.output === "string" ? f : { input: f.input, output: stagedName(f.output.dir, batch, i) }
  );
  const placed = new Map<string, string>(); // output path -> the input that made it
  const place = (i: number, r: DeidResult): DeidResult => {
    const out = files[i].output;
    if (typeof out === "string" || r.status !== "done") return r;
    const from = staged[i].output as string;
    const to = `${out.dir}/${r.sopInstanceUid}.dcm`;
    const first = placed.get(to);
    try {
      if (first !== undefined) {
        fs.rmSync(from, { force: true });
        return {
          status: "failed",
          reason: `same SOP Instance UID as ${first}, whose output is ${to}: not written`,
        };
      }
      fs.renameSync(from, to);
    } catch (err) {
      fs.rmSync(from, { force: true });
      return { status: "failed", reason: `cannot write ${to}: ${(err as Error).message}` };
    }
    placed.set(to, files[i].input);
    return r;
  };
  return { staged, place };
}

type FromWorker =
  | { type: "ready" }
  | { type: "error"; message: string }
  | { type: "result"; id: number; result: DeidResult };

/** Calls `report` for results given in any order, in the order of their indexes. */
function inOrder(report: (index: number, result: DeidResult) => void) {
  const waiting = new Map<number, DeidResult>();
  let next = 0;
  return (index: number, result: DeidResult) => {
    waiting.set(index, result);
    for (let r; (r = waiting.get(next)) !== undefined; next++) {
      waiting.delete(next);
      report(next, r);
    }
  };
}

/**
 * Runs `files` through `jobs` workers; `onResult` is called for each file, in the order of `files` (a file
 * finished early waits for those before it). Returns how many files workers did and how many this thread did.
 * Once `stop` is aborted no other file is started; those in progress are finished (and reported), so the
 * files reported are the first ones of `files`, with none missing between them.
 */
export async function deidentifyBatch(
  files: BatchFile[],
  settings: BatchSettings,
  jobs: number,
  onResult: (index: number, result: DeidResult) => void,
  stop?: AbortSignal,
): Promise<{ byWorkers: number; onThisThread: number }> {
  const done = { byWorkers: 0, onThisThread: 0 };
  const request = requestOf(settings); // checks the settings before anything starts
  const { staged, place } = placing(files);
  const finished = inOrder((i, r) => onResult(i, place(i, r)));
  const workers = jobs > 1 && files.length > 1
    ? await startWorkers(Math.min(jobs, files.length), settings)
    : [];
  // The engine (and the dictionary it reads) loads here only when this thread does the work.
  const inThread = async (i: number) => {
    const { deidentifyFile } = await import("./engine.ts");
    finished(i, await deidentifyFile(staged[i].input, outputOf(staged[i]), request));
    done.onThisThread++;
  };
  if (workers.length === 0) {
    let turned = performance.now();
    for (let i = 0; i < files.length && !stop?.aborted; i++) {
      await inThread(i);
      // A file's work resolves in microtasks: a turn of the event loop (every 50 ms, a timer costs about 1 ms)
      // lets a signal listener abort `stop`.
      if (stop && performance.now() - turned > 50) {
        await eventLoopTurn();
        turned = performance.now();
      }
    }
    return done;
  }
  let next = 0;
  const orphans: number[] = [];
  await Promise.all(workers.map((w) =>
    new Promise<void>((resolve) => {
      let current: number | undefined;
      const give = () => {
        if (next >= files.length || stop?.aborted) {
          w.terminate();
          resolve();
          return;
        }
        current = next++;
        w.postMessage({ type: "file", id: current, file: staged[current] });
      };
      w.onmessage = (e: MessageEvent<FromWorker>) => {
        if (e.data.type === "result") {
          finished(e.data.id, e.data.result);
          done.byWorkers++;
        }
        current = undefined;
        give();
      };
      w.onerror = (e) => {
        e.preventDefault();
        w.terminate();
        if (current !== undefined) orphans.push(current);
        resolve();
      };
      give();
    })
  ));
  // A worker that died leaves its file without a result: it is done on this thread.
  for (const i of orphans) await inThread(i);
  return done;
}

async function startWorkers(n: number, settings: BatchSettings): Promise<Worker[]> {
  const started = await Promise.all(Array.from({ length: n }, () => startWorker(settings)));
  return started.filter((w): w is Worker => w !== undefined);
}

function startWorker(settings: BatchSettings): Promise<Worker | undefined> {
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(workerUrl("deid").href, { type: "module" });
    } catch {
      resolve(undefined);
      return;
    }
    worker.onmessage = (e: MessageEvent<FromWorker>) => resolve(e.data.type === "ready" ? worker : undefined);
    worker.onerror = (e) => {
      e.preventDefault();
      worker.terminate();
      resolve(undefined);
    };
    worker.postMessage({ type: "init", settings });
  });
}

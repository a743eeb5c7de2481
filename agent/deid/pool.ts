/**
 * De-identifies a batch of files on several threads: one worker per job (`worker.ts`), each with the
 * profile built once, files handed out as workers free up. With one job, or where workers cannot start
 * (a bundled agent), the files are done on this thread, one after another.
 */
import type { DeidResult } from "./engine.ts";
import { type BatchSettings, requestOf } from "./batch_settings.ts";
import { workerUrl } from "../worker_url.ts";

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

type FromWorker =
  | { type: "ready" }
  | { type: "error"; message: string }
  | { type: "result"; id: number; result: DeidResult };

/**
 * Runs `files` through `jobs` workers; `onResult` is called for each file as it finishes. Returns how
 * many files workers did and how many this thread did.
 */
export async function deidentifyBatch(
  files: BatchFile[],
  settings: BatchSettings,
  jobs: number,
  onResult: (index: number, result: DeidResult) => void,
): Promise<{ byWorkers: number; onThisThread: number }> {
  const done = { byWorkers: 0, onThisThread: 0 };
  const request = requestOf(settings); // checks the settings before anything starts
  const workers = jobs > 1 && files.length > 1
    ? await startWorkers(Math.min(jobs, files.length), settings)
    : [];
  // The engine (and the dictionary it reads) loads here only when this thread does the work.
  const inThread = async (i: number) => {
    const { deidentifyFile } = await import("./engine.ts");
    onResult(i, await deidentifyFile(files[i].input, outputOf(files[i]), request));
    done.onThisThread++;
  };
  if (workers.length === 0) {
    for (let i = 0; i < files.length; i++) await inThread(i);
    return done;
  }
  let next = 0;
  const orphans: number[] = [];
  await Promise.all(workers.map((w) =>
    new Promise<void>((resolve) => {
      let current: number | undefined;
      const give = () => {
        if (next >= files.length) {
          w.terminate();
          resolve();
          return;
        }
        current = next++;
        w.postMessage({ type: "file", id: current, file: files[current] });
      };
      w.onmessage = (e: MessageEvent<FromWorker>) => {
        if (e.data.type === "result") {
          onResult(e.data.id, e.data.result);
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

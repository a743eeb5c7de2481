/// <reference lib="deno.worker" />
/**
 * A de-identification worker for batches (`pool.ts`): `init` builds the profile once, then each `file`
 * message de-identifies one file and answers with its result.
 */
import { deidentifyFile } from "./engine.ts";
import { type BatchSettings, requestOf } from "./batch_settings.ts";
import type { DeidRequest, DeidResult } from "./engine.ts";
import { type BatchFile, outputOf } from "./pool.ts";

let request: DeidRequest | undefined;

self.onmessage = async (
  e: MessageEvent<
    { type: "init"; settings: BatchSettings } | { type: "file"; id: number; file: BatchFile }
  >,
) => {
  const m = e.data;
  if (m.type === "init") {
    try {
      request = requestOf(m.settings);
      self.postMessage({ type: "ready" });
    } catch (err) {
      self.postMessage({ type: "error", message: (err as Error).message });
    }
    return;
  }
  let result: DeidResult;
  try {
    result = request
      ? await deidentifyFile(m.file.input, outputOf(m.file), request)
      : { status: "failed", reason: "the worker has no profile" };
  } catch (err) {
    result = { status: "failed", reason: (err as Error).message };
  }
  self.postMessage({ type: "result", id: m.id, result });
};

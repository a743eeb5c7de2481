/**
 * Parts of the agent loaded at first use rather than at start (issue 16: what an idle agent holds), by
 * name: `loadPart("dimse/scp")` is `agent/dimse/scp.ts`.
 *
 * From source they are named by computed URLs. Deno loads the module graph of every `import()` written
 * with a literal specifier when the module holding it loads, taken or not: with literal specifiers an
 * idle agent held the graph of everything it might ever load (some 100 modules more, about 2 MB of RSS;
 * bench/README.md, 2026-12-05). `deno compile` and the bundle must see every part to include it:
 * `main_packaged.ts` installs the literal imports of `lazy_parts_packaged.ts` with {@link usePackagedParts}.
 * Workers do not get that table: code that runs in a worker must not call `loadPart`.
 *
 * A part that cannot be loaded (a damaged install, a file missing) fails the requests that need it
 * with a LazyPartError naming the part and the reason, which each request's own error path answers (a
 * DIMSE failure status, an HTTP 500 with the reason), and the agent runs on; the failure is logged (once
 * {@link usePartLog} has the agent's log). The next request that needs it loads it again (the SCP's,
 * C-FIND's and Storage Commitment's loaders share one load between concurrent first requests and forget a
 * failed one: `@conduit/shared/load-once`). Deno keeps a module whose import failed (a file missing or
 * unreadable, an error while it evaluates) failed under that URL until the process ends, so from source the
 * next load after a failure imports the part under a new URL (`scp.ts?attempt=2`): a part whose own file
 * failed once (a transient read error, a file being replaced) then loads. What stays failed is a module the
 * part imports that failed itself (its URL is fixed by the import), and a part of the packaged agent (the
 * literal specifiers of `lazy_parts_packaged.ts`): those need a restart.
 */

import type { Logger } from "@conduit/shared/log";

/** The parts, by their path under `agent/` without `.ts`. */
export interface LazyParts {
  "commitment/commitment": typeof import("./commitment/commitment.ts");
  "deid/engine": typeof import("./deid/engine.ts");
  "deid/profile": typeof import("./deid/profile.ts");
  "dimse/scp": typeof import("./dimse/scp.ts");
  "dimse/scu": typeof import("./dimse/scu.ts");
  "dimse/tls": typeof import("./dimse/tls.ts");
  "forward/commitment_requests": typeof import("./forward/commitment_requests.ts");
  "forward/remote": typeof import("./forward/remote.ts");
  "nodes/get_plan": typeof import("./nodes/get_plan.ts");
  "nodes/index_reads": typeof import("./nodes/index_reads.ts");
  "query/find": typeof import("./query/find.ts");
  "render/cache": typeof import("./render/cache.ts");
  "render/mod": typeof import("./render/mod.ts");
  "retrieve/locate_files": typeof import("./retrieve/locate_files.ts");
  "serve/serve": typeof import("./serve/serve.ts");
  "transcode/codec": typeof import("./transcode/codec.ts");
  "tunnel/credential": typeof import("./tunnel/credential.ts");
  "tunnel/enroll_command": typeof import("./tunnel/enroll_command.ts");
  "tunnel/start": typeof import("./tunnel/start.ts");
}

/** How each part is imported: literal specifiers, for `deno compile` and the bundle. */
export type PackagedParts = { [K in keyof LazyParts]: () => Promise<LazyParts[K]> };

let packaged: PackagedParts | undefined;

/**
 * Makes `loadPart` import by `parts`' literal specifiers (the packaged entry, before anything loads);
 * `undefined`: by computed URLs again, as from source.
 */
export function usePackagedParts(parts: PackagedParts | undefined): void {
  packaged = parts;
}

/** A part of the agent could not be loaded when first needed. */
export class LazyPartError extends Error {
  override name = "LazyPartError";
  /** `what`: the module, as a person reads it (`agent/dimse/scp.ts`). */
  constructor(what: string, cause: unknown) {
    super(`${what} could not be loaded: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/** Where a failed load is said (the agent's log, from its start); nowhere before. */
let partLog: Logger | undefined;

/** Has loadPart's failures logged on `log` (`undefined`: not logged). */
export function usePartLog(log: Logger | undefined): void {
  partLog = log;
}

/** Failed imports by part, from source: the next import of the part goes by a URL of its own. */
const failures = new Map<string, number>();

/** The folder parts are found in from source: this one, or a test's. */
let partsRoot = import.meta.url;

/** Finds the parts under `root` (a file URL ending in `/`) from source; `undefined`: `agent/` again. For tests. */
export function usePartsRoot(root: string | undefined): void {
  partsRoot = root ?? import.meta.url;
  failures.clear();
}

/** The URL the part is imported by from source: its file, with `?attempt=N` after N - 1 failed imports. */
function partUrl(name: string): string {
  const url = new URL(`./${name}.ts`, partsRoot);
  const failed = failures.get(name) ?? 0;
  if (failed) url.searchParams.set("attempt", String(failed + 1));
  return url.href;
}

/** The part `name` (agent/<name>.ts), loaded at its first call; its failure a LazyPartError, logged. */
export async function loadPart<K extends keyof LazyParts>(name: K): Promise<LazyParts[K]> {
  try {
    return packaged ? await packaged[name]() : await import(partUrl(name)) as LazyParts[K];
  } catch (err) {
    if (!packaged) failures.set(name, (failures.get(name) ?? 0) + 1);
    const error = new LazyPartError(`agent/${name}.ts`, err);
    partLog?.error("agent part could not be loaded: its next use loads it again", {
      part: name,
      reason: (err as Error)?.message ?? String(err),
    });
    throw error;
  }
}

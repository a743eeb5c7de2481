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
 * DIMSE failure status, an HTTP 500 with the reason), and the agent runs on. The next request that needs it
 * loads it again (the SCP's, C-FIND's and Storage Commitment's loaders share one load between concurrent
 * first requests and forget a failed one: `@conduit/shared/load-once`). Deno, though, keeps a module whose
 * import failed (a file missing, an error while it evaluates) failed until the process ends: what the
 * retry recovers is a failure after the import, or of a loader that is not `import()`; a repaired
 * installation needs a restart.
 */

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

/** The part `name` (agent/<name>.ts), loaded at its first call; its failure a LazyPartError. */
export async function loadPart<K extends keyof LazyParts>(name: K): Promise<LazyParts[K]> {
  try {
    return packaged
      ? await packaged[name]()
      : await import(new URL(`./${name}.ts`, import.meta.url).href) as LazyParts[K];
  } catch (err) {
    throw new LazyPartError(`agent/${name}.ts`, err);
  }
}

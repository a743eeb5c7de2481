/**
 * Node's deprecation warnings that the packaged agent would print for code of its npm dependencies.
 *
 * Deno prints Node's `DEP0005` (`Buffer()` is deprecated) once per process when the constructor is called
 * from the program's own code, never from an npm package's, as Node does for `node_modules`. Bundled
 * (`deno task build`), dcmjs-dimse's `memorystream` is the program's own code: the first association of a
 * bundled agent, and `agent check`'s C-ECHO, printed that warning as a plain-text line amid the JSON log
 * lines. Only that code is dropped: any other warning is printed as before.
 */
import process from "node:process";

/** The warnings the packaged agent leaves out, by code. */
export const BUNDLED_DEPENDENCY_WARNINGS: readonly string[] = ["DEP0005"];

function codeOf(rest: unknown[]): unknown {
  const [typeOrOptions, code] = rest;
  if (typeOrOptions && typeof typeOrOptions === "object") return (typeOrOptions as { code?: unknown }).code;
  return code;
}

/** Drops the warnings of {@link BUNDLED_DEPENDENCY_WARNINGS} from `process.emitWarning` (once installed). */
export function silenceBundledDependencyWarnings(): void {
  const emit = process.emitWarning as (warning: string | Error, ...rest: unknown[]) => void;
  if ((emit as { silenced?: boolean }).silenced) return;
  const filtered = (warning: string | Error, ...rest: unknown[]) => {
    const code = codeOf(rest) ?? (warning as { code?: unknown }).code;
    if (typeof code === "string" && BUNDLED_DEPENDENCY_WARNINGS.includes(code)) return;
    emit.call(process, warning, ...rest);
  };
  Object.assign(filtered, { silenced: true });
  process.emitWarning = filtered as typeof process.emitWarning;
}

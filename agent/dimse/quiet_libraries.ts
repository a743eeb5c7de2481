/**
 * Silences the DICOM libraries' own loggers. dcmjs prints `Unknown name in dataset <tag> : <value>`
 * for every private element it meets while naturalizing (during transcoding), values included, so
 * patient names in private tags reached stderr. dcmjs-codecs and dcmjs-dimse load dcmjs's CommonJS build
 * (`require`), whose bundled loglevel and child loggers (`validation.dcmjs`...) do not follow the root's
 * level: every logger is set to silent. Our own code no longer loads dcmjs (the dictionary is data), so
 * its ES build is silenced only where the libraries use it instead (a bundled build), without loading it
 * anywhere else. Failures reach us as exceptions, which we log without values.
 */
import { createRequire } from "node:module";
import codecs from "dcmjs-codecs";
import dimse from "dcmjs-dimse";

interface LogLevelLike {
  setLevel?(level: string, persist?: boolean): void;
  getLoggers?(): Record<string, LogLevelLike>;
}

function silence(log: LogLevelLike | undefined): void {
  if (!log) return;
  try {
    log.setLevel?.("silent", false);
    for (const child of Object.values(log.getLoggers?.() ?? {})) child.setLevel?.("silent", false);
  } catch { /* a library without loglevel: nothing to do */ }
}

let done = false;

/** Sets every logger of dcmjs (both builds), dcmjs-codecs and dcmjs-dimse to silent; idempotent. */
export function quietDicomLibraries(): void {
  if (done) return;
  done = true;
  // deno-lint-ignore no-explicit-any
  const log = (m: unknown) => (m as any)?.log as LogLevelLike | undefined;
  silence(log(codecs));
  silence(log(dimse));
  try {
    silence(log(createRequire(import.meta.url)("dcmjs")));
  } catch {
    // No CommonJS resolution (a bundled build): the libraries use the ES build, already loaded there.
    import("dcmjs").then((m) => silence(log(m.default)), () => {});
  }
}

quietDicomLibraries();

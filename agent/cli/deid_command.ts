/**
 * `deno task agent deid --profile basic [--option NAME ...] [--profile-file FILE] --key-file FILE --in DIR|FILE
 * --out DIR`: de-identifies files into a directory and prints a summary (done, held back with the reason,
 * failed with the reason), with a progress bar on a terminal.
 *
 * The profile is PS3.15's Basic Application Level Confidentiality Profile with the options named (the
 * table's column titles in kebab case). A profile file layers custom actions on top of it
 * (`../deid/profile_file.ts`: tags, ranges such as `(60xx,3000)`, private attributes by creator).
 */
import { commandLine, commandOf } from "@conduit/shared/cli";
import { stopSignal } from "@conduit/shared/process";
import * as fs from "node:fs";
import { filesUnder, reportSkipped, within } from "./_files.ts";
import { deidentifyBatch } from "../deid/pool.ts";
import { sweepStaged } from "../deid/staged.ts";
import { loadKeyFile } from "../config/key_file.ts";
import { pseudonymProblem, PseudonymTable, trialProblem } from "@conduit/shared/deid";
import type { BatchSettings } from "../deid/batch_settings.ts";
import { OPTION_NAMES, standardProfile } from "../deid/profile.ts";
import { readProfileFile } from "../deid/profile_file.ts";

const AGENT = commandOf("agent");

const USAGE = `usage: ${AGENT} deid --profile basic [--option NAME ...] [--profile-file FILE] --key-file FILE
       --in DIR|FILE --out DIR [--name-prefix P] [--pseudonyms FILE.csv]
       [--trial-sponsor S --trial-protocol P --trial-site S [--trial KEY=VALUE ...]] [--allow-burned-in]
       [--jobs N] [--json]
options: ${OPTION_NAMES.join(", ")}`;

export async function deidCommand(args: string[]): Promise<number> {
  const parsed = commandLine("agent deid", USAGE, args, {
    profile: { type: "string" },
    "profile-file": { type: "string" },
    option: { type: "string", multiple: true },
    "key-file": { type: "string" },
    in: { type: "string" },
    out: { type: "string" },
    "name-prefix": { type: "string" },
    "allow-burned-in": { type: "boolean" },
    pseudonyms: { type: "string" },
    "trial-sponsor": { type: "string" },
    "trial-protocol": { type: "string" },
    "trial-site": { type: "string" },
    trial: { type: "string", multiple: true },
    json: { type: "boolean" },
    jobs: { type: "string" },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  if (parsed.positionals.length) {
    console.error(`agent deid: unexpected argument ${parsed.positionals[0]}\n${USAGE}`);
    return 2;
  }
  const fail = (message: string) => {
    console.error(`agent deid: ${message}\n${USAGE}`);
    return 2;
  };
  if (!v["key-file"] || !v.in || !v.out) return fail("--key-file, --in and --out are required");
  if (v.profile !== undefined && v.profile !== "basic") {
    return fail(
      `unknown profile ${JSON.stringify(v.profile)}: the profile is "basic" (PS3.15 E.1), with --option`,
    );
  }
  if (v.profile === undefined && !v["profile-file"]) return fail("give --profile basic (and --option ...)");
  let custom: ReturnType<typeof readProfileFile> | undefined;
  const options = [...(v.option ?? [])];
  try {
    custom = v["profile-file"] ? readProfileFile(v["profile-file"]) : undefined;
    options.unshift(...(custom?.options ?? []));
    standardProfile(options, custom?.layer); // checks the options now, before any file
  } catch (err) {
    return fail(`${v["profile-file"] ? `profile ${v["profile-file"]}: ` : ""}${(err as Error).message}`);
  }
  let key: Uint8Array;
  try {
    key = loadKeyFile(v["key-file"]);
  } catch (err) {
    return fail((err as Error).message);
  }
  // The family name of `<prefix>^<10 characters>` (PN: 64 characters a component group; ^ and = separate).
  const prefix = v["name-prefix"];
  if (prefix !== undefined && !/^[\x20-\x3c\x3e-\x5b\x5d\x5f-\x7e]{1,53}$/.test(prefix)) {
    return fail(
      `--name-prefix ${JSON.stringify(prefix)}: 1 to 53 printable ASCII characters without \\, ^ or =`,
    );
  }
  let pseudonyms: PseudonymTable<number> | undefined;
  if (v.pseudonyms) {
    try {
      pseudonyms = await loadPseudonyms(v.pseudonyms);
    } catch (err) {
      return fail(`pseudonym table ${v.pseudonyms}: ${(err as Error).message}`);
    }
  }
  const trialFlags = [v["trial-sponsor"], v["trial-protocol"], v["trial-site"]];
  if (trialFlags.some((f) => f !== undefined) && trialFlags.some((f) => f === undefined)) {
    return fail("--trial-sponsor, --trial-protocol and --trial-site go together");
  }
  // The other Clinical Trial attributes, by their key (timePointId=BASELINE), with the three above.
  const more: Record<string, string> = {};
  for (const kv of v.trial ?? []) {
    const eq = kv.indexOf("=");
    if (eq <= 0) return fail(`--trial ${kv}: expected KEY=VALUE, as in timePointId=BASELINE`);
    const key = kv.slice(0, eq);
    const flag = { sponsorName: "sponsor", protocolId: "protocol", siteId: "site" }[key];
    if (flag) return fail(`--trial ${key}: give it as --trial-${flag}`);
    if (key in more) return fail(`--trial ${key}: given twice`);
    more[key] = kv.slice(eq + 1);
  }
  if (Object.keys(more).length && v["trial-sponsor"] === undefined) {
    return fail("--trial goes with --trial-sponsor, --trial-protocol and --trial-site");
  }
  const trial = v["trial-sponsor"] === undefined ? undefined : {
    ...more,
    sponsorName: v["trial-sponsor"]!,
    protocolId: v["trial-protocol"]!,
    siteId: v["trial-site"]!,
  };
  const trialIssue = trial && trialProblem(trial, flagOf);
  if (trialIssue) return fail(`trial attributes: ${trialIssue}`);
  try {
    fs.statSync(v.in);
  } catch (err) {
    return fail(
      `--in ${v.in}: ${
        (err as { code?: string }).code === "ENOENT" ? "no such file or directory" : (err as Error).message
      }`,
    );
  }
  try {
    fs.mkdirSync(v.out, { recursive: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    return fail(`--out ${v.out}: ${code === "EEXIST" ? "a file, not a directory" : (err as Error).message}`);
  }
  // Outputs are never inputs: a second run would de-identify the first's outputs again (QA 2026-12-07).
  if (within(v.in, v.out) && within(v.out, v.in)) {
    return fail(`--out ${v.out} is --in: give the outputs a directory of their own`);
  }
  const outUnderIn = fs.statSync(v.in).isDirectory() && within(v.out, v.in);
  if (outUnderIn) console.error(`agent deid: --out ${v.out} is under --in: the files in it are not read`);
  const { files: inputs, skipped } = filesUnder(v.in, outUnderIn ? v.out : undefined);
  // What a run ended by kill -9 left in --out (its hidden staged and .part files): removed, and said.
  let swept;
  try {
    swept = sweepStaged(v.out);
  } catch (err) {
    return fail(`--out ${v.out}: ${(err as Error).message}`);
  }
  if (swept.removed) {
    console.error(
      `agent deid: removed ${swept.removed} unfinished file(s) (.deid-*) an earlier run left in ${v.out} when it was stopped`,
    );
  }
  if (swept.kept) {
    console.error(
      `agent deid: ${swept.kept} file(s) (.deid-*) in ${v.out} belong to another run still going`,
    );
  }
  reportSkipped("agent deid", skipped);
  const summary = {
    done: 0,
    held: [] as { file: string; reason: string }[],
    failed: [] as { file: string; reason: string }[],
    /** FIFOs, sockets and devices under --in: not read (a FIFO would hold the run for good). */
    skipped,
    /** Lines of the pseudonym table that no output took: a typo in a Patient ID, a patient not in --in. */
    unusedPseudonymLines: undefined as number[] | undefined,
  };
  /** The Patient IDs written, to find the table's rows that no output used. */
  const written = new Set<string>();
  const tty = Deno.stderr.isTerminal();
  const jobs = Number(v.jobs ?? defaultJobs(navigator.hardwareConcurrency || 1));
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) {
    return fail(`--jobs: expected 1 to 64, got ${v.jobs}`);
  }
  const settings: BatchSettings = {
    options,
    custom: custom && {
      ...custom.layer,
      actions: [...custom.layer.actions],
      values: [...(custom.layer.values ?? [])],
    },
    key,
    pseudonyms: pseudonyms && [...pseudonyms.toMap()],
    patientNamePrefix: v["name-prefix"],
    allowBurnedIn: v["allow-burned-in"],
    // A command-line batch, like cp or gdcmanon: outputs are not synced one by one.
    sync: false,
    trial,
  };
  let finished = 0;
  // Ctrl-C (or SIGTERM): the files in progress are finished and placed, no other is started, and the summary
  // says what was done; it ended the run where it was, silently (docs/deidentification.md).
  const stop = stopSignal((signal) => {
    if (tty) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
    console.error(`agent deid: ${signal}: finishing the files in progress, then stopping (again: at once)`);
  });
  try {
    await deidentifyBatch(
      inputs.map((file) => ({ input: file, output: { dir: v.out! } })),
      settings,
      jobs,
      (i, r) => {
        const file = inputs[i];
        if (r.status === "done") {
          summary.done++;
          if (pseudonyms) written.add(r.identifiers.patientId);
        } else if (r.status === "held") summary.held.push({ file, reason: r.reason });
        else summary.failed.push({ file, reason: r.reason });
        finished++;
        if (tty) {
          const width = 30;
          const filled = Math.round((finished / inputs.length) * width);
          Deno.stderr.writeSync(new TextEncoder().encode(
            `\r[${"#".repeat(filled)}${" ".repeat(width - filled)}] ${finished}/${inputs.length}`,
          ));
        }
      },
      stop.signal,
    );
  } finally {
    stop.dispose();
  }
  if (tty) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  if (pseudonyms) {
    summary.unusedPseudonymLines = pseudonyms.entries().filter((e) => !written.has(e.pseudonym)).map((e) =>
      e.where
    );
  }
  const unused = summary.unusedPseudonymLines ?? [];
  if (unused.length && !stop.signal.aborted) {
    // Lines, not Patient IDs: no identifier on the terminal or in a captured log.
    console.error(
      `agent deid: ${unused.length} of ${pseudonyms!.size} row(s) of ${v.pseudonyms} went into no output ` +
        `(line${unused.length > 1 ? "s" : ""} ${unused.slice(0, 20).join(", ")}${
          unused.length > 20 ? ", ..." : ""
        }): ` +
        "their Patient IDs match no input written (a typo, another patient, or their objects held back or failed)",
    );
  }
  const stopped = stop.signal.aborted
    ? { signal: stop.signal.reason as string, notStarted: inputs.length - finished }
    : undefined;
  if (v.json) console.log(JSON.stringify(stopped ? { ...summary, stopped } : summary));
  else {
    console.log(
      `done ${summary.done}, held back ${summary.held.length}, failed ${summary.failed.length}, skipped ${skipped.length}`,
    );
    for (const h of summary.held) console.log(`held back: ${h.file}: ${h.reason}`);
    for (const f of summary.failed) console.log(`failed: ${f.file}: ${f.reason}`);
  }
  if (stopped) {
    console.error(
      `agent deid: stopped by ${stopped.signal}: ${stopped.notStarted} of ${inputs.length} input(s) not ` +
        "started; the outputs written are whole: run the same command again for the rest",
    );
    return stop.exitCode()!;
  }
  return summary.failed.length ? 1 : 0;
}

/** A trial attribute named by the flag that gave it (`--trial-sponsor`, `--trial timePointId`), or `--trial`. */
function flagOf(key?: string): string {
  const flags: Record<string, string> = {
    sponsorName: "--trial-sponsor",
    protocolId: "--trial-protocol",
    siteId: "--trial-site",
  };
  return key === undefined ? "--trial" : flags[key] ?? `--trial ${key}`;
}

/**
 * Workers by default: none on two CPUs or fewer, where one thread measured fastest (`bench/README.md`,
 * deid: the kernel's file creation and writes dominate, and workers add their start-up and contend
 * there); one per CPU, up to 4, on larger machines (not measured here).
 */
export function defaultJobs(cpus: number): number {
  return cpus <= 2 ? 1 : Math.min(cpus, 4);
}

/**
 * Reads a per-patient pseudonym table: CSV rows of original Patient ID and pseudonym, separated by commas,
 * semicolons (as Excel writes them in much of Europe) or tabs (a header row naming the columns is skipped).
 * Stops naming the line(s) at a row without both values or with more, a pseudonym that cannot be one, a
 * patient given two pseudonyms or a pseudonym given to two patients (which would make them one at the
 * destination): the rules of a transfer's and a batch's table (until 2026-12-07 the last row won, and two
 * patients could become one).
 */
async function loadPseudonyms(file: string): Promise<PseudonymTable<number>> {
  // @ts-types="npm:@types/papaparse@^5"
  const { default: Papa } = await import("papaparse");
  const text = fs.readFileSync(file, "utf8");
  const { delimiter } = Papa.parse(text, {
    preview: 20,
    skipEmptyLines: "greedy",
    delimitersToGuess: [",", ";", "\t"],
  }).meta;
  const parsed = Papa.parse<string[]>(text, { skipEmptyLines: false, delimiter });
  if (parsed.errors.length) {
    throw new Error(`line ${(parsed.errors[0].row ?? 0) + 1}: ${parsed.errors[0].message}`);
  }
  const table = new PseudonymTable<number>();
  let first = true;
  parsed.data.forEach((row, i) => {
    const cells = row.map((c) => c.trim());
    if (cells.every((c) => !c)) return; // a blank line
    const line = i + 1;
    const [original, pseudonym] = cells;
    if (first && /patient/i.test(original ?? "") && /pseudonym/i.test(pseudonym ?? "")) {
      first = false;
      return;
    }
    first = false;
    if (!original || !pseudonym || cells.slice(2).some((c) => c)) {
      throw new Error(
        `line ${line}: expected "original Patient ID${delimiter} pseudonym"` +
          (cells.slice(2).some((c) => c) ? `, not ${cells.length} values` : ""),
      );
    }
    const problem = pseudonymProblem(pseudonym);
    if (problem) throw new Error(`line ${line}: the pseudonym ${problem}`);
    const clash = table.add(original, pseudonym, line);
    if (clash?.kind === "patient") {
      throw new Error(
        `line ${line}: line ${clash.where} gave this patient another pseudonym: one patient, one pseudonym`,
      );
    }
    if (clash) {
      throw new Error(
        `line ${line}: line ${clash.where} gave the pseudonym ${
          JSON.stringify(pseudonym)
        } to another patient: ` +
          "two patients would become one",
      );
    }
  });
  return table;
}

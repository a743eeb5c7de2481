/**
 * `deno task agent erase --study UID [--series UID [--instance UID]] --yes`: takes a study, a series or an
 * instance out of the running agent's site for good (files, index rows, queue rows, copies), through its
 * loopback HTTP API (erase/erase.ts).
 */
import { commandLine, commandOf } from "@conduit/shared/cli";
import { stopSignal } from "@conduit/shared/process";
import { agentBaseUrl, agentCommandFailure, agentFetch, CliUsageError } from "./_http.ts";

const AGENT = commandOf("agent");

const USAGE = `usage: ${AGENT} erase --study UID [--series UID [--instance UID]] --yes [--json]
  Erases a study, one series of it or one instance of that series from the running agent's site: its
  archived files, its index rows (and the series, study and patient left empty), its forward queue rows
  (one being sent may still reach its destination), the de-identified copies made of it and its conflict
  records. It cannot be undone; objects received again later are stored anew.
options: --yes (required: it cannot be undone), --json, --config FILE, --http-host ADDR, --http-port N`;

export async function eraseCommand(args: string[]): Promise<number> {
  const parsed = commandLine("agent erase", USAGE, args, {
    config: { type: "string" },
    "http-port": { type: "string" },
    "http-host": { type: "string" },
    study: { type: "string" },
    series: { type: "string" },
    instance: { type: "string" },
    yes: { type: "boolean" },
    json: { type: "boolean" },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  let url = "";
  // Ctrl-C (or SIGTERM) while the agent erases: the answer is given up and what that means is said (it
  // ended silently). The agent erases all of it or nothing (its journal: docs/operations.md, Erasure).
  const stop = stopSignal(() => {});
  try {
    if (parsed.positionals.length) {
      throw new CliUsageError(`unexpected ${JSON.stringify(parsed.positionals[0])}`);
    }
    if (!v.study) throw new CliUsageError("--study is required (the Study Instance UID)");
    if (v.instance && !v.series) throw new CliUsageError("--instance is named with its --series");
    if (!v.yes) throw new CliUsageError("erasing cannot be undone: give --yes to go ahead");
    url = `${agentBaseUrl(v)}/erase`;
    const res = await agentFetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ study: v.study, series: v.series, instance: v.instance }),
      signal: stop.signal,
    });
    const body = await res.json() as Record<string, unknown>;
    if (!res.ok) {
      console.error(`agent erase: ${body.error ?? `the agent answered ${res.status}`}`);
      return res.status === 400 ? 2 : 1;
    }
    if (v.json) console.log(JSON.stringify(body));
    else {
      console.log(
        `erased ${body.instances} instance(s) (${body.files} file(s), ${body.bytes} bytes), ` +
          `${body.series} series, ${body.studies} study(ies), ${body.patients} patient(s); ` +
          `${body.queueRows} queue row(s) (${body.inFlight} being sent), ${body.copies} de-identified ` +
          `copy(ies), ${body.conflicts} conflict record(s)`,
      );
    }
    return 0;
  } catch (err) {
    if (stop.signal.aborted) {
      console.error(
        `agent erase: stopped by ${stop.signal.reason} before the agent answered: it erases all of it or ` +
          'nothing; the same command again says which ("no study with that UID": erased)',
      );
      return stop.exitCode()!;
    }
    const code = agentCommandFailure("agent erase", USAGE, url, err);
    if (code !== undefined) return code;
    console.error(`agent erase: ${(err as Error).message}`);
    return 2;
  } finally {
    stop.dispose();
  }
}

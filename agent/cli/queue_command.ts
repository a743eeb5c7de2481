/**
 * `deno task agent queue list|summary|retry|replay|abandon|discard|pause|resume ...`: the forward queue of the running
 * agent, through its loopback HTTP API.
 */
import { commandLine, commandOf, notTaken, type Takes } from "@conduit/shared/cli";
import { stopSignal } from "@conduit/shared/process";
import { AGENT_HTTP_FLAGS, agentBaseUrl, agentCommandFailure, agentFetch, CliUsageError } from "./_http.ts";

const AGENT = commandOf("agent");

const USAGE = `usage: ${AGENT} queue COMMAND [options]
  list [--state S] [--destination D] [--limit N]   rows, newest first (S: pending, in_flight, failed,
                                                   committing, done, dead)
  summary                                          counts by destination and state, paused destinations
  retry (--destination D | --id N ... | --all)      failed rows due now
  replay (--destination D | --id N ... | --all)     dead rows back to pending, attempts reset
  abandon (--destination D | --id N ... | --all)    pending and failed rows to the dead letter (replay
                                                   brings them back): rows for a node removed for good
  discard (--destination D | --id N ... | --older-than AGE | --all)
                                                   dead rows deleted for good (no replay after; the
                                                   objects stay until archive retention removes them);
                                                   AGE: dead that long, e.g. 30d, 12h, 90m, 45s
  pause DESTINATION | resume DESTINATION
options: --config FILE, --http-host ADDR, --http-port N, --json`;

const STATES = ["pending", "in_flight", "failed", "committing", "done", "dead"];

const SELECT = ["destination", "id", "all"];
/** What each command takes besides --config, --http-host, --http-port and --json. */
const TAKES: Takes = {
  list: { flags: ["state", "destination", "limit"] },
  summary: { flags: [] },
  retry: { flags: SELECT },
  replay: { flags: SELECT },
  abandon: { flags: SELECT },
  discard: { flags: [...SELECT, "older-than"] },
  pause: { flags: [], args: 1 },
  resume: { flags: [], args: 1 },
};

export async function queueCommand(args: string[]): Promise<number> {
  const parsed = commandLine("agent queue", USAGE, args, {
    config: { type: "string" },
    "http-port": { type: "string" },
    "http-host": { type: "string" },
    state: { type: "string" },
    destination: { type: "string" },
    limit: { type: "string" },
    id: { type: "string", multiple: true },
    all: { type: "boolean" },
    "older-than": { type: "string" },
    json: { type: "boolean" },
  }, true);
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  const [command, target] = parsed.positionals;
  let base = "";
  // Ctrl-C (or SIGTERM) while the agent is asked: the request is given up and that is said. The agent changes
  // the rows in one transaction, so a change asked for is done whole or not at all (it ended silently).
  const stop = stopSignal(() => {});
  try {
    base = `${agentBaseUrl(v)}/queue`;
    const post = (p: string, body: unknown = {}) =>
      agentFetch(`${base}${p}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: stop.signal,
      });
    const mistake = notTaken(
      command,
      TAKES,
      AGENT_HTTP_FLAGS,
      v,
      parsed.positionals.slice(1),
    );
    if (mistake) throw new CliUsageError(mistake);
    const ids = v.id?.map((n) => {
      const id = Number(n);
      if (!Number.isInteger(id)) throw new CliUsageError(`--id takes a row number, not ${JSON.stringify(n)}`);
      return id;
    });
    if (
      (command === "retry" || command === "replay" || command === "abandon") && !v.destination &&
      !ids?.length && !v.all
    ) {
      throw new CliUsageError(`${command} needs --destination D, --id N or --all`);
    }
    const olderThanSeconds = v["older-than"] === undefined ? undefined : age(v["older-than"]);
    if (command === "discard" && !v.destination && !ids?.length && olderThanSeconds === undefined && !v.all) {
      throw new CliUsageError("discard needs --destination D, --id N, --older-than AGE or --all");
    }
    if (command === "list" && v.state && !STATES.includes(v.state)) {
      throw new CliUsageError(`--state is one of ${STATES.join(", ")}, not ${JSON.stringify(v.state)}`);
    }
    if (
      command === "list" && v.limit !== undefined &&
      !(/^[1-9][0-9]{0,4}$/.test(v.limit) && +v.limit <= 10_000)
    ) {
      throw new CliUsageError(`--limit takes a number of rows (1 to 10000), not ${JSON.stringify(v.limit)}`);
    }
    let res: Response;
    switch (command) {
      case "list": {
        const q = new URLSearchParams();
        if (v.state) q.set("state", v.state);
        if (v.destination) q.set("destination", v.destination);
        if (v.limit) q.set("limit", v.limit);
        res = await agentFetch(`${base}?${q}`, { signal: stop.signal });
        if (res.ok && !v.json) {
          const rows = await res.json() as Record<string, unknown>[];
          for (const r of rows) {
            console.log(
              [
                r.id,
                r.state,
                r.destination,
                r.route,
                `attempts=${r.attempts}`,
                // A row waiting for a time (a transfer's window, or a failed row's backoff) says until when.
                (r.state === "pending" || r.state === "failed") && typeof r.nextAttemptAt === "number" &&
                  r.nextAttemptAt > Date.now()
                  ? `${r.state === "pending" ? "held" : "next"}=${new Date(r.nextAttemptAt).toISOString()}`
                  : "",
                r.lastError ? `error=${r.lastError}` : "",
              ]
                .join("  "),
            );
          }
          if (rows.length === 0) console.log("(no rows)");
          return 0;
        }
        break;
      }
      case "summary":
        res = await agentFetch(`${base}/summary`, { signal: stop.signal });
        break;
      case "retry":
        res = await post("/retry", { destination: v.destination, ids, all: v.all });
        break;
      case "replay":
      case "abandon":
        res = await post(`/${command}`, { destination: v.destination, ids, all: v.all });
        break;
      case "discard":
        res = await post("/discard", { destination: v.destination, ids, olderThanSeconds, all: v.all });
        break;
      case "pause":
      case "resume":
        if (!target) throw new CliUsageError(`${command} needs a DESTINATION`);
        res = await post(`/${command}/${encodeURIComponent(target)}`);
        break;
      default:
        throw new CliUsageError(`unknown command ${JSON.stringify(command)}`);
    }
    const body = await res.json();
    console.log(JSON.stringify(body, null, v.json ? 0 : 2));
    return res.ok ? 0 : 1;
  } catch (err) {
    if (stop.signal.aborted) {
      console.error(
        command === "list" || command === "summary"
          ? `agent queue: stopped by ${stop.signal.reason}; nothing was changed`
          : `agent queue: stopped by ${stop.signal.reason} before the agent answered: it does a ${command} ` +
            "whole or not at all; see which with 'queue summary'",
      );
      return stop.exitCode()!;
    }
    const code = agentCommandFailure("agent queue", USAGE, base, err);
    if (code !== undefined) return code;
    console.error(`agent queue: ${(err as Error).message}`);
    return 2;
  } finally {
    stop.dispose();
  }
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `--older-than`: a number and a unit (s, m, h, d) as seconds. */
function age(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)([smhd])$/.exec(text.trim());
  const seconds = m ? Number(m[1]) * UNITS[m[2]] : 0;
  if (!(seconds > 0)) {
    throw new CliUsageError(
      `--older-than takes an age such as 30d, 12h, 90m or 45s, not ${JSON.stringify(text)}`,
    );
  }
  return seconds;
}

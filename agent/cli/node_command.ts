/**
 * `deno task agent node list|echo|find|retrieve|store ...`: asks the running agent (over its
 * loopback HTTP API) to act on a configured node, so retrieved objects land in its archive.
 */
import { commandLine, commandOf, notTaken, type Takes } from "@conduit/shared/cli";
import { ConfigError } from "../config/load.ts";
import { AGENT_HTTP_FLAGS, agentBaseUrl, agentCommandFailure, agentFetch, CliUsageError } from "./_http.ts";

const AGENT = commandOf("agent");

const USAGE = `usage: ${AGENT} node COMMAND [NODE] [options]
  list                                     configured nodes
  echo NODE                                C-ECHO
  find NODE --level L [-k Key=Value ...]   C-FIND (Study Root; --patient-root for Patient Root)
  retrieve NODE --study UID [--series UID] [--instance UID]
                                           C-GET or C-MOVE (per the node's 'retrieve') into our archive
  store NODE (--study UID | --instance UID ...)
                                           C-STORE archived objects to the node
  -k Key=Value is also --key Key=Value; -k Key alone asks for a return key
options: --config FILE, --http-host ADDR --http-port N (where the agent's HTTP API listens), --json`;

/** What each command takes besides --config, --http-host, --http-port and --json; all but list a NODE. */
const TAKES: Takes = {
  list: { flags: [] },
  echo: { flags: [], args: 1 },
  find: { flags: ["level", "key", "patient-root"], args: 1 },
  retrieve: { flags: ["study", "series", "instance"], args: 1 },
  store: { flags: ["study", "instance"], args: 1 },
};

export async function nodeCommand(args: string[]): Promise<number> {
  const parsed = commandLine("agent node", USAGE, args, {
    config: { type: "string" },
    "http-port": { type: "string" },
    "http-host": { type: "string" },
    level: { type: "string" },
    key: { type: "string", short: "k", multiple: true },
    "patient-root": { type: "boolean" },
    study: { type: "string" },
    series: { type: "string" },
    instance: { type: "string", multiple: true },
    json: { type: "boolean" },
  }, true);
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  const [command, node] = parsed.positionals;
  let base: string;
  try {
    base = `${agentBaseUrl(v)}/nodes`;
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  const post = (path: string, body: unknown) =>
    agentFetch(`${base}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const needNode = () => {
    if (!node) throw new CliUsageError(`${command} needs a NODE`);
    return encodeURIComponent(node);
  };
  try {
    const mistake = notTaken(
      command,
      TAKES,
      AGENT_HTTP_FLAGS,
      v,
      parsed.positionals.slice(1),
    );
    if (mistake) throw new CliUsageError(mistake);
    if (command === "retrieve" && (v.instance?.length ?? 0) > 1) {
      throw new CliUsageError("retrieve takes one --instance (store takes several)");
    }
    let res: Response;
    switch (command) {
      case "list":
        res = await agentFetch(base);
        break;
      case "echo":
        res = await post(`/${needNode()}/echo`, {});
        break;
      case "find": {
        if (!v.level) throw new CliUsageError("find needs --level PATIENT|STUDY|SERIES|IMAGE");
        const keys: Record<string, string> = {};
        for (const k of v.key ?? []) {
          const eq = k.indexOf("=");
          keys[eq < 0 ? k : k.slice(0, eq)] = eq < 0 ? "" : k.slice(eq + 1);
        }
        res = await post(`/${needNode()}/find`, {
          model: v["patient-root"] ? "patient" : "study",
          level: v.level.toUpperCase(),
          keys,
        });
        if (!res.ok) break;
        const text = await res.text();
        const lines = text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
        const error = lines.find((l) => l.error);
        for (const l of lines.filter((l) => !l.error)) console.log(v.json ? JSON.stringify(l) : summarize(l));
        if (error) {
          console.error(`agent node find: ${error.error}`);
          return 1;
        }
        return 0;
      }
      case "retrieve":
        if (!v.study) throw new CliUsageError("retrieve needs --study UID");
        res = await post(`/${needNode()}/retrieve`, {
          level: v.instance?.length ? "IMAGE" : v.series ? "SERIES" : "STUDY",
          studyInstanceUid: v.study,
          seriesInstanceUid: v.series,
          sopInstanceUid: v.instance?.[0],
        });
        break;
      case "store":
        if (!v.study && !v.instance?.length) {
          throw new CliUsageError("store needs --study UID or --instance UID");
        }
        res = await post(`/${needNode()}/store`, { studyInstanceUid: v.study, sopInstanceUids: v.instance });
        break;
      default:
        throw new CliUsageError(`unknown command ${JSON.stringify(command)}`);
    }
    const body = await res.json();
    console.log(JSON.stringify(body, null, v.json ? 0 : 2));
    if (!res.ok) return 1;
    if (command === "retrieve" && !body.ok) return 1;
    if (command === "store" && body.failed?.length) return 1;
    return 0;
  } catch (err) {
    const code = agentCommandFailure("agent node", USAGE, base, err);
    if (code !== undefined) return code;
    throw err;
  }
}

function summarize(identifier: Record<string, unknown>): string {
  return Object.entries(identifier)
    .filter(([k]) => k !== "_vrMap")
    .map(([k, v]) =>
      `${k}=${
        Array.isArray(v)
          ? v.map((x) => typeof x === "object" ? (x as { Alphabetic?: string }).Alphabetic : x).join("\\")
          : v
      }`
    )
    .join("  ");
}

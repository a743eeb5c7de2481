/**
 * `deno task agent enroll --token TOKEN [--hub URL] [--site NAME] [--config FILE | --data DIR] [--json]`:
 * enrolls the agent with the hub and exits, for an installer script (then the service is started). The
 * agent's own flags and configuration give the hub URL, the site, the data directory and the hub's TLS
 * files, as for `--enroll`, which enrolls and then runs. Refused while an agent runs on the data directory
 * (it holds the credential it started with). Exit codes: 0 saved, 1 refused or not reachable (nothing
 * saved), 2 a bad argument or configuration.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { commandLine, commandOf } from "@conduit/shared/cli";
import { dataDirError, NOT_A_DIRECTORY } from "@conduit/shared/data-dir";
import { commandLineConfig, ConfigError, FLAGS } from "../config/load.ts";

const AGENT = commandOf("agent");

const USAGE =
  `usage: ${AGENT} enroll --token TOKEN [--hub URL] [--site NAME] [--config FILE | --data DIR] [--json]
  --token TOKEN   the one-time enrollment token 'hub admin site add' printed on the hub
  --hub URL       the hub's tunnel URL, wss://HUB/tunnel (default: the configuration's hub.url)
  --site NAME     the site the token is for (checked before the token is spent; default: the configuration's)
  --config FILE   the agent's configuration file: its hub.url, site, data directory and hub TLS files
  --data DIR      the agent's data directory, where hub-credential.json is saved (mode 0600)
  --json          print the result as one JSON object
Every other flag of the agent (${AGENT} --help) is taken too. It saves the site credential and
exits: 0 saved, 1 the hub refused the token or could not be reached (nothing saved), 2 a bad argument.
A credential the data directory holds is replaced. The agent must not be running on that directory.`;

export async function enrollCommand(args: string[]): Promise<number> {
  const options: Record<string, { type: "string" | "boolean" }> = {
    token: { type: "string" },
    config: { type: "string" },
    json: { type: "boolean" },
  };
  for (const name of Object.keys(FLAGS)) options[name] = { type: "string" };
  const parsed = commandLine("agent enroll", USAGE, args, options);
  if (typeof parsed === "number") return parsed;
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const token = typeof values.token === "string" ? values.token.trim() : "";
  if (!token || parsed.positionals.length) {
    const what = parsed.positionals.length
      ? `unexpected argument ${JSON.stringify(parsed.positionals[0])}`
      : "give the enrollment token with --token";
    console.error(`agent enroll: ${what}; nothing was changed\n${USAGE}`);
    return 2;
  }
  let config;
  try {
    config = commandLineConfig(values);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  if (!config.hub.url) {
    console.error(
      "agent enroll: give the hub's tunnel URL with --hub wss://HUB/tunnel (or hub.url in --config FILE); " +
        `nothing was changed\n${USAGE}`,
    );
    return 2;
  }
  const dataDir = path.resolve(config.data);
  const made = !fs.existsSync(dataDir);
  const { lockDataDir } = await import("../archive/lock.ts");
  let unlock: () => void;
  try {
    fs.mkdirSync(dataDir, { recursive: true });
    if (!fs.statSync(dataDir).isDirectory()) throw NOT_A_DIRECTORY;
    unlock = lockDataDir(dataDir);
  } catch (err) {
    // A system error (EACCES, EEXIST...) is the directory's; without a code, an agent holds it.
    const why = (err as { code?: string }).code
      ? dataDirError(dataDir, err, "CONDUIT_AGENT_DATA").message
      : `${
        (err as Error).message
      }: stop the agent before enrolling it (it keeps the credential it started with)`;
    console.error(`agent enroll: ${why}; nothing was changed`);
    return 1;
  }
  const { enrollSite } = await import("../tunnel/enroll_command.ts");
  let enrolled;
  try {
    enrolled = await enrollSite(config, token, "agent enroll");
  } finally {
    unlock();
  }
  if (typeof enrolled === "number") {
    // A data directory made for the credential, and nothing saved: not left behind empty.
    if (made) {
      try {
        fs.rmdirSync(dataDir);
      } catch { /* something else is in it */ }
    }
    return enrolled;
  }
  if (values.json) console.log(JSON.stringify(enrolled));
  else {
    console.log(
      `enrolled as site ${enrolled.site} with ${enrolled.hub}; credential saved in ${enrolled.file} (mode 0600)` +
        (enrolled.replaced ? ", replacing the one it had" : ""),
    );
    console.log("start the agent with the same configuration (systemctl enable --now conduit-agent)");
  }
  return 0;
}

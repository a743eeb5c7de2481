/**
 * Enrollment: swaps the hub's one-time token for a site credential, kept 0600 in the data dir. Used by
 * `--enroll TOKEN` (enroll, then run) and by `deno task agent enroll --token TOKEN` (enroll and exit,
 * agent/cli/enroll_command.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { commandOf } from "@conduit/shared/cli";
import type { AgentConfig } from "../config/schema.ts";
import { type HubTls, hubTls, TlsFileError } from "../config/tls_files.ts";
import { enroll, EnrollmentRefusedError, saveCredential } from "./credential.ts";
import { hubUrls } from "./hub_urls.ts";
import { processEnv, proxyFor, type ProxySetting, ProxySettingError } from "./proxy.ts";

/** A credential saved: the site, the hub URL it was enrolled at, the file, and whether it replaced one. */
export interface Enrolled {
  site: string;
  hub: string;
  file: string;
  enrolledAt: string;
  replaced: boolean;
}

/**
 * Enrolls with the hub and saves the credential, or says why not on stderr (each line starting with
 * `prefix`) and returns the exit code: 2 for a configuration that cannot enroll, 1 for a refusal or a hub
 * that cannot be reached. Nothing is saved unless the whole credential is.
 */
export async function enrollSite(
  config: AgentConfig,
  token: string,
  prefix = "agent",
): Promise<Enrolled | number> {
  if (!config.hub.url) {
    console.error(
      `${prefix}: ${
        prefix === "agent" ? "--enroll needs" : "enrolling needs"
      } the hub's tunnel URL (--hub wss://HUB/tunnel or hub.url); nothing was changed`,
    );
    return 2;
  }
  // The token names its site in the clear (`cte.<site>.<secret>`): another site's token is refused here,
  // before the hub spends it on a credential this agent would not keep.
  const named = /^cte\.([^.]+)\./.exec(token.trim())?.[1];
  if (config.site && named && named !== config.site) {
    console.error(`${prefix}: the token is for site ${named}, not ${config.site}; nothing was changed`);
    return 1;
  }
  let tls: HubTls;
  try {
    tls = hubTls(config);
  } catch (err) {
    if (!(err instanceof TlsFileError)) throw err;
    // Checked as at start: the key, the file and why, before the token is spent.
    console.error(`${err.message}; nothing was changed`);
    return 2;
  }
  // Each hub's proxy, checked before the token is spent: a variable that is not a proxy URL, named.
  const proxies = new Map<string, ProxySetting | undefined>();
  try {
    for (const url of hubUrls(config.hub.url)) {
      proxies.set(url, proxyFor(url, config.hub.proxy, processEnv()));
    }
  } catch (err) {
    if (!(err instanceof ProxySettingError)) throw err;
    console.error(`${prefix}: ${err.message}; nothing was changed`);
    return 2;
  }
  let enrolled;
  // With several hubs (one cluster, one database) any of them enrolls: the first that answers.
  for (const url of hubUrls(config.hub.url)) {
    try {
      enrolled = await enroll(url, token, tls, proxies.get(url));
      break;
    } catch (err) {
      // A token the hub refuses cannot be used again: say where a new one comes from.
      const next = err instanceof EnrollmentRefusedError && err.status === 403
        ? `; nothing was changed. A token works once, for 7 days: on the hub, ` +
          `${commandOf("hub")} admin site add ${named ?? config.site ?? "SITE"} issues a new one ` +
          `(an enrolled site: revoke it first)`
        : "";
      console.error(`${prefix}: enrollment failed at ${url}: ${(err as Error).message}${next}`);
    }
  }
  if (!enrolled) return 1;
  if (config.site && config.site !== enrolled.site) {
    console.error(`${prefix}: the token is for site ${enrolled.site}, not ${config.site}; nothing was saved`);
    return 1;
  }
  const dataDir = path.resolve(config.data);
  const replaced = fs.existsSync(path.join(dataDir, "hub-credential.json"));
  const enrolledAt = new Date().toISOString();
  let file;
  try {
    file = saveCredential(dataDir, {
      site: enrolled.site,
      credential: enrolled.credential,
      hub: config.hub.url,
      enrolledAt,
    });
  } catch (err) {
    // The token is spent: the hub holds a credential this agent could not keep.
    console.error(
      `${prefix}: the hub enrolled site ${enrolled.site}, but its credential could not be saved in ` +
        `${dataDir}: ${(err as Error).message}; nothing was saved. The token is spent: on the hub, ` +
        `${
          commandOf("hub")
        } admin site revoke ${enrolled.site} and site add ${enrolled.site} issue a new one`,
    );
    return 1;
  }
  return { site: enrolled.site, hub: config.hub.url, file, enrolledAt, replaced };
}

/** `--enroll TOKEN`: enrolls, says so on stderr, and the agent then starts. */
export async function enrollAgent(config: AgentConfig, token: string): Promise<number> {
  const enrolled = await enrollSite(config, token);
  if (typeof enrolled === "number") return enrolled;
  console.error(`agent: enrolled as site ${enrolled.site}; credential saved in ${enrolled.file} (mode 0600)`);
  return 0;
}

/** `--enroll TOKEN`: swaps the hub's one-time token for a site credential, kept 0600 in the data dir. */
import * as path from "node:path";
import type { AgentConfig } from "../config/schema.ts";
import { type HubTls, hubTls, TlsFileError } from "../config/tls_files.ts";
import { enroll, EnrollmentRefusedError, saveCredential } from "./credential.ts";
import { hubUrls } from "./hub_urls.ts";

export async function enrollAgent(config: AgentConfig, token: string): Promise<number> {
  if (!config.hub.url) {
    console.error(
      "agent: --enroll needs the hub's tunnel URL (--hub wss://HUB/tunnel or hub.url); nothing was changed",
    );
    return 2;
  }
  // The token names its site in the clear (`cte.<site>.<secret>`): another site's token is refused here,
  // before the hub spends it on a credential this agent would not keep.
  const named = /^cte\.([^.]+)\./.exec(token.trim())?.[1];
  if (config.site && named && named !== config.site) {
    console.error(`agent: the token is for site ${named}, not ${config.site}; nothing was changed`);
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
  let enrolled;
  // With several hubs (one cluster, one database) any of them enrolls: the first that answers.
  for (const url of hubUrls(config.hub.url)) {
    try {
      enrolled = await enroll(url, token, tls);
      break;
    } catch (err) {
      // A token the hub refuses cannot be used again: say where a new one comes from.
      const next = err instanceof EnrollmentRefusedError && err.status === 403
        ? `; nothing was changed. A token works once, for 7 days: on the hub, ` +
          `deno task hub admin site add ${named ?? config.site ?? "SITE"} issues a new one ` +
          `(an enrolled site: revoke it first)`
        : "";
      console.error(`agent: enrollment failed at ${url}: ${(err as Error).message}${next}`);
    }
  }
  if (!enrolled) return 1;
  if (config.site && config.site !== enrolled.site) {
    console.error(`agent: the token is for site ${enrolled.site}, not ${config.site}; nothing was saved`);
    return 1;
  }
  const file = saveCredential(path.resolve(config.data), {
    site: enrolled.site,
    credential: enrolled.credential,
    hub: config.hub.url,
    enrolledAt: new Date().toISOString(),
  });
  console.error(`agent: enrolled as site ${enrolled.site}; credential saved in ${file} (mode 0600)`);
  return 0;
}

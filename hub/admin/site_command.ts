/**
 * `deno task hub admin site add|list|revoke|rotate|uplink|downlink`: works on the hub's database whether or
 * not the hub runs (a running hub closes a revoked site's session within its sync interval, 2 s, and applies
 * an uplink or downlink cap within 5 s). `rotate` needs the
 * running hub that holds the site's session: it asks by a row in the database and waits for the outcome
 * (hub/sites/rotation.ts). With `--json` each command prints one JSON object on stdout.
 */
import { commandLine, commandOf, notTaken, type Takes } from "@conduit/shared/cli";
import { openAdminDb } from "./open_db.ts";
import { SiteError, SiteRegistry } from "../sites/registry.ts";
import { requestRotation } from "../sites/rotation_requests.ts";
import { UnknownSiteError } from "../tunnel/errors.ts";
import { agentCommand, tunnelUrlOf } from "./agent_command.ts";

const HUB = commandOf("hub");

const USAGE = `usage: ${HUB} admin site add NAME [--config FILE | --data DIR | --db URL] [--json]
       ${HUB} admin site list [--config FILE | --data DIR | --db URL] [--json]
       ${HUB} admin site revoke NAME [--config FILE | --data DIR | --db URL] [--json]
       ${HUB} admin site rotate NAME [--config FILE | --data DIR | --db URL] [--json]
       ${HUB} admin site uplink NAME MBIT_PER_S|none [--config FILE | --data DIR | --db URL] [--json]
       ${HUB} admin site downlink NAME MBIT_PER_S|none [--config FILE | --data DIR | --db URL] [--json]`;

/** What each command takes besides --config, --data, --db and --json. */
const TAKES: Takes = {
  add: { flags: [], args: 1 },
  list: { flags: [] },
  revoke: { flags: [], args: 1 },
  rotate: { flags: [], args: 1 },
  uplink: { flags: [], args: 2 },
  downlink: { flags: [], args: 2 },
};

export async function siteCommand(
  args: string[],
  defaults: { data: string; db?: string; fresh?: boolean; publicUrl?: string },
): Promise<number> {
  const parsed = commandLine("hub admin site", USAGE, args, {
    data: { type: "string" },
    db: { type: "string" },
    json: { type: "boolean" },
  }, true);
  if (typeof parsed === "number") return parsed;
  const [verb, name, ...extra] = parsed.positionals;
  // A flag or an argument the command does not take is refused, not ignored (`user list --role viewer`
  // listed every user).
  const mistake = notTaken(verb, TAKES, ["data", "db", "json"], parsed.values, parsed.positionals.slice(1));
  if (mistake) {
    console.error(`hub admin site: ${mistake}\n${USAGE}`);
    return 2;
  }
  const json = parsed.values.json === true;
  if ((verb === "add" || verb === "revoke" || verb === "rotate") && (!name || extra.length)) {
    console.error(`hub admin site ${verb}: give one site name\n${USAGE}`);
    return 2;
  }
  let cap: number | null = null;
  if (verb === "uplink" || verb === "downlink") {
    const [value, ...more] = extra;
    cap = value === "none" ? null : Number(value);
    if (!name || !value || more.length || (cap !== null && !(cap >= 0.1 && cap <= 100_000))) {
      console.error(
        `hub admin site ${verb}: give a site name and a cap in Mbit/s, 0.1 to 100000, or none\n${USAGE}`,
      );
      return 2;
    }
  }
  if (!Object.hasOwn(TAKES, verb)) {
    console.error(`hub admin site: unknown command ${verb}\n${USAGE}`);
    return 2;
  }
  const db = await openAdminDb(`site ${verb}`, parsed.values, defaults);
  if (typeof db === "number") return db;
  const registry = new SiteRegistry(db);
  try {
    if (verb === "add") {
      const added = await registry.add(name);
      if (json) console.log(JSON.stringify(added));
      else {
        console.log(
          `site ${added.site} added. Its one-time enrollment token (valid until ${added.expiresAt}):`,
        );
        console.log(`\n  ${added.enrollmentToken}\n`);
        const hub = tunnelUrlOf(defaults.publicUrl);
        const agent = agentCommand();
        console.log(
          `On the site: ${agent} --site ${added.site} --hub ${hub} --enroll ${added.enrollmentToken}`,
        );
        console.log(
          `  (or, to enroll and exit, then start its service: ${agent} enroll --site ${added.site} ` +
            `--hub ${hub} --token ${added.enrollmentToken})`,
        );
      }
    } else if (verb === "list") {
      const sites = await registry.list();
      if (json) console.log(JSON.stringify({ sites }));
      else if (!sites.length) console.log("no sites");
      else {
        console.log(
          [
            "SITE",
            "STATE",
            "LAST SEEN",
            "VERSION",
            "ADDRESS",
            "QUEUE",
            "RTT ms",
            "ROTATED",
            "UPLINK Mbit/s",
            "DOWNLINK Mbit/s",
          ].join("\t"),
        );
        for (const s of sites) {
          console.log(
            [
              s.site,
              s.state,
              s.lastSeenAt ?? "-",
              s.agentVersion ?? "-",
              s.remoteAddress ?? "-",
              // Of those, awaiting a node's Storage Commitment report (`committing` in --json).
              s.committing
                ? `${s.queueDepth ?? "-"} (${s.committing} awaiting commitment)`
                : s.queueDepth ?? "-",
              s.rttMs ?? "-",
              s.rotationUnconfirmed ? "unconfirmed" : s.rotatedAt ?? "-",
              s.uplinkMbps ?? "-",
              s.downlinkMbps ?? "-",
            ].join("\t"),
          );
        }
      }
    } else if (verb === "revoke") {
      const { already } = await registry.revoke(name);
      if (json) {
        console.log(JSON.stringify({ site: name, state: "revoked", ...(already ? { already } : {}) }));
      } else if (already) console.log(`site ${name} was revoked already: nothing changed`);
      else {console.log(
          `site ${name} revoked: its credential no longer works and a running hub drops its session`,
        );}
    } else if (verb === "rotate") {
      const result = await requestRotation(db, registry, name, "cli");
      if (json) console.log(JSON.stringify(result));
      if (result.outcome === "confirmed") {
        if (!json) console.log(result.message);
        return 0;
      }
      console.error(`hub admin site rotate: ${result.message}`);
      return result.outcome === "unconfirmed" ? 3 : 1;
    } else if (verb === "uplink") {
      const info = await registry.setUplink(name, cap, "cli");
      if (json) console.log(JSON.stringify({ site: info.site, uplinkMbps: info.uplinkMbps }));
      else {
        console.log(
          info.uplinkMbps === null
            ? `site ${name}: no uplink cap`
            : `site ${name}: everything the hub relays from it is capped at ${info.uplinkMbps} Mbit/s`,
        );
      }
    } else if (verb === "downlink") {
      const info = await registry.setDownlink(name, cap, "cli");
      if (json) console.log(JSON.stringify({ site: info.site, downlinkMbps: info.downlinkMbps }));
      else {
        console.log(
          info.downlinkMbps === null
            ? `site ${name}: no downlink cap`
            : `site ${name}: everything the hub relays to it is capped at ${info.downlinkMbps} Mbit/s`,
        );
      }
    } else {
      console.error(`hub admin site: unknown command ${verb}\n${USAGE}`);
      return 2;
    }
    return 0;
  } catch (err) {
    if (err instanceof SiteError || err instanceof UnknownSiteError) {
      if (json) console.log(JSON.stringify({ error: err.message }));
      console.error(`hub admin site ${verb}: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await db.close();
  }
}

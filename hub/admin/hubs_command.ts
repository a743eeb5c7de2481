/**
 * `deno task hub admin hubs [--json]`: the hubs of a cluster sharing this database (each registers when
 * it starts with a PostgreSQL `db`), with the version each runs, when it last beat, and how many sites it
 * holds; says when the live hubs run different versions (a rolling upgrade under way, or one left behind:
 * docs/operations.md, "Upgrading the hub"). A single hub on its own file registers nowhere.
 */
import { count, gt } from "drizzle-orm";
import { commandLine, commandOf } from "@conduit/shared/cli";
import { openAdminDb } from "./open_db.ts";
import { hubs, siteLeases } from "../db/schema.ts";

const HUB = commandOf("hub");

const USAGE = `usage: ${HUB} admin hubs [--config FILE | --data DIR | --db URL] [--json]`;

/** A hub whose last beat is older than this is taken for gone (hubs beat every second). */
const LIVE_MS = 10_000;

export async function hubsCommand(
  args: string[],
  defaults: { data: string; db?: string; fresh?: boolean },
): Promise<number> {
  const parsed = commandLine("hub admin hubs", USAGE, args, {
    data: { type: "string" },
    db: { type: "string" },
    json: { type: "boolean" },
  });
  if (typeof parsed === "number") return parsed;
  if (parsed.positionals.length) {
    console.error(`hub admin hubs: takes no arguments\n${USAGE}`);
    return 2;
  }
  const db = await openAdminDb("hubs", parsed.values, defaults);
  if (typeof db === "number") return db;
  try {
    const now = Date.now();
    const held = new Map<string, number>();
    for (
      const row of await db.select({ hubId: siteLeases.hubId, sites: count() }).from(siteLeases)
        .where(gt(siteLeases.expiresAt, now)).groupBy(siteLeases.hubId)
    ) held.set(row.hubId, Number(row.sites));
    const rows = (await db.select().from(hubs)).sort((a, b) => a.startedAt - b.startedAt).map((h) => ({
      id: h.id,
      clusterUrl: h.clusterUrl,
      version: h.version,
      startedAt: new Date(h.startedAt).toISOString(),
      lastBeatSecondsAgo: Math.max(0, Math.round((now - h.heartbeatAt) / 1000)),
      live: now - h.heartbeatAt < LIVE_MS,
      sites: held.get(h.id) ?? 0,
    }));
    const versions = [...new Set(rows.filter((h) => h.live).map((h) => h.version ?? "unknown"))].sort();
    if (parsed.values.json === true) {
      console.log(JSON.stringify({ hubs: rows, versions, mixedVersions: versions.length > 1 }));
      return 0;
    }
    if (!rows.length) {
      console.log("no hubs registered (a single hub on its own database file does not register)");
      return 0;
    }
    console.log(["ID", "URL", "VERSION", "STARTED", "LAST BEAT", "SITES", "STATE"].join("\t"));
    for (const h of rows) {
      console.log(
        [
          h.id,
          h.clusterUrl ?? "-",
          h.version ?? "-",
          h.startedAt,
          `${h.lastBeatSecondsAgo} s ago`,
          h.sites,
          h.live ? "live" : "gone",
        ].join("\t"),
      );
    }
    if (versions.length > 1) {
      const counts = versions.map((v) => {
        const n = rows.filter((h) => h.live && (h.version ?? "unknown") === v).length;
        return `${v} (${n} ${n === 1 ? "hub" : "hubs"})`;
      });
      console.log(
        `\nthe live hubs run different versions: ${counts.join(", ")}; finish the rolling upgrade ` +
          "(docs/operations.md, Upgrading the hub)",
      );
    }
    return 0;
  } finally {
    await db.close();
  }
}

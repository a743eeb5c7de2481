/**
 * The tables the hub's code queries, in the dialect of the database it opened: the SQLite ones
 * (tables.ts) until `useDialect("postgres")` swaps every export for its PostgreSQL twin
 * (tables_pg.ts). One process works on one dialect: opening the other one afterwards is refused.
 * The types stay those of the one description; the builders behave alike on both dialects for the
 * queries the hub makes (tests run on both).
 */
import * as lite from "./tables.ts";
import * as pg from "./tables_pg.ts";

export type { ApiTokenRow, SiteRow, TransferRow, TransferTaskRow } from "./tables.ts";

export type Dialect = "sqlite" | "postgres";

export let sites = lite.sites;
export let apiTokens = lite.apiTokens;
export let transfers = lite.transfers;
export let transferTasks = lite.transferTasks;
export let transferTaskCounts = lite.transferTaskCounts;
export let batches = lite.batches;
export let users = lite.users;
export let sessions = lite.sessions;
export let audit = lite.audit;
export let hubs = lite.hubs;
export let siteLeases = lite.siteLeases;
export let clusterSettings = lite.clusterSettings;
export let credentialRotations = lite.credentialRotations;

let current: Dialect | undefined;

/** The tables of `dialect` from now on in this process; switching after a database opened throws. */
export function useDialect(dialect: Dialect): void {
  if (current && current !== dialect) {
    throw new Error(`this process already opened a ${current} hub database; it cannot open ${dialect} too`);
  }
  current = dialect;
  const t = (dialect === "postgres" ? pg : lite) as unknown as typeof lite;
  ({
    sites,
    apiTokens,
    transfers,
    transferTasks,
    transferTaskCounts,
    batches,
    users,
    sessions,
    audit,
    hubs,
    siteLeases,
    clusterSettings,
    credentialRotations,
  } = t);
}

/** The tables of a dialect, for drizzle's relational queries. */
export function tablesOf(dialect: Dialect) {
  const t = (dialect === "postgres" ? pg : lite) as unknown as typeof lite;
  const {
    sites,
    apiTokens,
    transfers,
    transferTasks,
    transferTaskCounts,
    batches,
    users,
    sessions,
    audit,
    hubs,
    siteLeases,
    clusterSettings,
    credentialRotations,
  } = t;
  return {
    sites,
    apiTokens,
    transfers,
    transferTasks,
    transferTaskCounts,
    batches,
    users,
    sessions,
    audit,
    hubs,
    siteLeases,
    clusterSettings,
    credentialRotations,
  };
}

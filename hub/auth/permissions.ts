/**
 * The role matrix, as data, in one place: what each role may do (`GRANTS`), and the action every
 * route needs: each tRPC procedure (`PROCEDURES`, by path), each DICOMweb route (`DICOMWEB_ROUTES`,
 * by verb and path under each of `DICOMWEB_ROOTS`), each file under `/api` (`FILE_ROUTES`), and the routes
 * open to anyone (`OPEN_ROUTES`).
 * The tRPC procedure builder, the DICOMweb routes and the console (through `/auth/me`) all read
 * these tables; a route without an entry is refused to everyone, and the role matrix test fails.
 *
 * Site scope: a principal limited to sites may reach only those (403 / FORBIDDEN for any other),
 * and may not manage anything (users, tokens and sites span every site).
 */
import type { Principal, Role } from "./tokens.ts";

export const ACTIONS = ["read", "store", "transfer", "manage", "erase", "account"] as const;
/**
 * - read: search and retrieve (QIDO, WADO, tRPC queries and lists);
 * - store: STOW-RS into a site's archive or, through it, into a node;
 * - transfer: transfers and batch work, echo of nodes, a site's dead letter (replay, discard), its rows
 *   waiting for a removed node (abandon), its conflicts and their resolution;
 * - manage: sites, users, API tokens and the audit log;
 * - erase: take a study, series or instance out of a site for good (DICOMweb DELETE, `site.erase`);
 * - account: the caller's own account (a console user's own password), whatever the role.
 */
export type Action = (typeof ACTIONS)[number];

/** What each role may do: viewer reads; operator also stores and transfers; admin also manages and erases. */
export const GRANTS: Record<Role, readonly Action[]> = {
  viewer: ["read", "account"],
  operator: ["read", "store", "transfer", "account"],
  admin: ["read", "store", "transfer", "manage", "erase", "account"],
};

/** The action of every tRPC procedure, by its path. */
export const PROCEDURES: Readonly<Record<string, Action>> = {
  "sites.list": "read",
  "sites.echo": "transfer",
  "site.nodes": "read",
  "site.deadLetter": "transfer",
  "site.conflicts": "transfer",
  "site.resolveConflict": "transfer",
  "site.replay": "transfer",
  "site.discardDead": "transfer",
  "site.stranded": "transfer",
  "site.abandon": "transfer",
  "site.add": "manage",
  "site.revoke": "manage",
  "site.rotate": "manage",
  "site.setUplink": "manage",
  "site.setDownlink": "manage",
  "site.erase": "erase",
  "query.studies": "read",
  "query.series": "read",
  "transfers.list": "read",
  "transfers.summaries": "read",
  "transfers.get": "read",
  "transfers.tasks": "read",
  "transfers.progress": "read",
  "transfers.objects": "read",
  "transfers.create": "transfer",
  "transfers.checkDeid": "transfer",
  "transfers.cancel": "transfer",
  "transfers.retry": "transfer",
  "transfers.schedule": "transfer",
  "transfers.cancelSummary": "transfer",
  "transfers.retrySummary": "transfer",
  "transfers.scheduleSummary": "transfer",
  "batch.list": "read",
  "batch.status": "read",
  "batch.results": "read",
  "batch.upload": "transfer",
  "batch.preview": "transfer",
  "batch.cancel": "transfer",
  "users.list": "manage",
  "users.add": "manage",
  "users.setDisabled": "manage",
  "users.setRole": "manage",
  "users.resetPassword": "manage",
  "tokens.list": "manage",
  "tokens.create": "manage",
  "tokens.revoke": "manage",
  "audit.list": "manage",
  "audit.csv": "manage",
  // Every role: the caller's own password (console sessions only: hub/api/account.ts).
  "account.changePassword": "account",
};

/** The roots every DICOMweb route is served under: federated, one site, one node of a site. */
export const DICOMWEB_ROOTS = ["", "/sites/:site", "/sites/:site/nodes/:node"] as const;

const I = "/studies/:study/series/:series/instances/:instance";

/** The action of every DICOMweb route, by verb and path under a root (`/dicomweb` + root + path). */
export const DICOMWEB_ROUTES: Readonly<Record<string, Action>> = {
  // QIDO-RS
  "GET /studies": "read",
  "GET /series": "read",
  "GET /instances": "read",
  "GET /studies/:study/series": "read",
  "GET /studies/:study/instances": "read",
  "GET /studies/:study/series/:series/instances": "read",
  // WADO-RS
  "GET /studies/:study": "read",
  "GET /studies/:study/series/:series": "read",
  [`GET ${I}`]: "read",
  "GET /studies/:study/metadata": "read",
  "GET /studies/:study/series/:series/metadata": "read",
  [`GET ${I}/metadata`]: "read",
  [`GET ${I}/bulkdata/:path{.+}`]: "read",
  [`GET ${I}/frames/:list`]: "read",
  // Rendered resources and thumbnails
  "GET /studies/:study/rendered": "read",
  "GET /studies/:study/series/:series/rendered": "read",
  [`GET ${I}/rendered`]: "read",
  [`GET ${I}/frames/:list/rendered`]: "read",
  "GET /studies/:study/thumbnail": "read",
  "GET /studies/:study/series/:series/thumbnail": "read",
  [`GET ${I}/thumbnail`]: "read",
  [`GET ${I}/frames/:list/thumbnail`]: "read",
  // STOW-RS
  "POST /studies": "store",
  "POST /studies/:study": "store",
};

/**
 * DICOMweb routes served under the site root only (`/dicomweb/sites/{site}` + path): erasure, which is the
 * site's archive's, not a node's (DIMSE has no deletion) nor the federation's (name the site).
 */
export const DICOMWEB_SITE_ROUTES: Readonly<Record<string, Action>> = {
  "DELETE /studies/:study": "erase",
  "DELETE /studies/:study/series/:series": "erase",
  [`DELETE ${I}`]: "erase",
};

/**
 * The files the hub serves over plain HTTP under `/api` (hub/api/downloads.ts), by verb and path: downloads
 * streamed as they are written, which a tRPC answer (JSON, the file in base64) cannot be.
 */
export const FILE_ROUTES: Readonly<Record<string, Action>> = {
  "GET /api/batches/:id/results.csv": "read",
  "GET /api/batches/:id/results.xlsx": "read",
};

/**
 * Routes that need no role: health, the console's login, session and files, the agents' tunnel
 * (a site credential) and enrollment (a one-time enrollment token), `/metrics` (an unscoped
 * API token of any role, or the loopback listener `metrics.port`), and `/cluster`, where the other
 * hubs of a cluster connect (the cluster secret, checked in hub/cluster/peer_route.ts).
 */
export const OPEN_ROUTES: readonly string[] = [
  "GET /healthz",
  "GET /metrics",
  "GET /tunnel",
  "POST /tunnel/enroll",
  "GET /cluster",
  "POST /auth/login",
  "GET /auth/me",
  "POST /auth/logout",
  // The viewer's files; its page and app-config.js need a console session (hub/viewer.ts).
  "GET /viewer",
  "GET /viewer/*",
];

/** Refused by the matrix: the reason is fit for a client. */
export class AccessError extends Error {
  override name = "AccessError";
}

/** The actions a principal has (the console shows what these allow). */
export function actionsOf(p: Pick<Principal, "role" | "sites">): Action[] {
  return GRANTS[p.role].filter((a) => !(a === "manage" && p.sites));
}

/**
 * Throws AccessError unless `p` may do `action` at every one of `sites`. `action` undefined (a
 * route the tables do not list) is refused to everyone.
 */
export function authorize(p: Principal, action: Action | undefined, sites: Iterable<string> = []): void {
  if (!action) throw new AccessError("this route is not in the role matrix; nobody may call it");
  if (!GRANTS[p.role].includes(action)) {
    const least = (Object.keys(GRANTS) as Role[]).find((r) => GRANTS[r].includes(action));
    throw new AccessError(`this needs the ${least} role (${action}); ${describe(p)} has ${p.role}`);
  }
  if (action === "manage" && p.sites) {
    throw new AccessError(`${describe(p)} is limited to sites (${p.sites.join(", ")}) and cannot manage`);
  }
  checkReach(p, sites);
}

/** Throws AccessError unless `p` may reach every one of `sites` (also for objects found by id). */
export function checkReach(p: Principal, sites: Iterable<string>): void {
  for (const site of sites) {
    if (!mayReach(p, site)) {
      throw new AccessError(`${describe(p)} may not reach site ${site} (only ${p.sites!.join(", ")})`);
    }
  }
}

/** Whether `p` may reach `site` (a principal without a site list reaches every site). */
export function mayReach(p: Pick<Principal, "sites">, site: string): boolean {
  return !p.sites || p.sites.includes(site);
}

function describe(p: Principal): string {
  return p.kind === "token" ? "the token" : `user ${p.name}`;
}

/** The action of a DICOMweb route given as registered (`GET`, `/studies/:study`). */
export function dicomwebAction(method: string, path: string): Action | undefined {
  return DICOMWEB_ROUTES[`${method} ${path}`] ?? DICOMWEB_SITE_ROUTES[`${method} ${path}`];
}

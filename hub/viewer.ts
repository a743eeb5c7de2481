/**
 * The OHIF viewer at `/viewer/` (prepared in ui/viewer by `deno task build:viewer`, deploy/viewer.ts),
 * on the hub's own DICOMweb, same origin, with the console's session: `app-config.js` is written per
 * request with one data source for all sites (`/dicomweb`, federated) and one per site the user may
 * reach (`/dicomweb/sites/{site}`), so `/viewer/viewer/{site}?StudyInstanceUIDs=...` opens a site's
 * study. The viewer's page needs a session: without one it sends the browser to the console's login,
 * which comes back. Its files carry `VIEWER_CSP` (./headers.ts).
 */
import type { Context, Hono } from "hono";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { VIEWER_CSP } from "./headers.ts";
import { decodePath, within } from "./console.ts";
import { problem } from "./problem.ts";
import { resolvePrincipal } from "./auth/principal.ts";
import { mayReach } from "./auth/permissions.ts";
import type { ApiTokens } from "./auth/tokens.ts";
import type { Users } from "./auth/users.ts";
import type { SiteRegistry } from "./sites/registry.ts";

/** Where `deno task build:viewer` puts the viewer (the hub serves it from there unless told another). */
export const VIEWER_DIR = fileURLToPath(new URL("../ui/viewer/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".jsonc": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".ttf": "font/ttf",
  ".xml": "application/xml",
  ".txt": "text/plain; charset=utf-8",
};

/** One OHIF DICOMweb data source on a root of the hub's DICOMweb. */
function dataSource(name: string, friendlyName: string, root: string) {
  return {
    namespace: "@ohif/extension-default.dataSourcesModule.dicomweb",
    sourceName: name,
    configuration: {
      friendlyName,
      name,
      wadoUriRoot: root,
      qidoRoot: root,
      wadoRoot: root,
      qidoSupportsIncludeField: true,
      imageRendering: "wadors",
      thumbnailRendering: "wadors",
      enableStudyLazyLoad: true,
      supportsFuzzyMatching: false,
      supportsWildcard: true,
      staticWado: false,
      singlepart: "bulkdata,video",
      bulkDataURI: { enabled: true, relativeResolution: "studies" },
      omitQuotationForMultipartRequest: true,
    },
  };
}

/** OHIF's `window.config` for the sites `sites`. */
function viewerConfig(sites: string[], origin: string): Record<string, unknown> {
  return {
    name: "conduit",
    routerBasename: "/viewer",
    extensions: [],
    modes: [],
    customizationService: {},
    showStudyList: true,
    maxNumberOfWebWorkers: 2,
    showWarningMessageForCrossOrigin: false,
    showCPUFallbackMessage: true,
    showLoadingIndicator: true,
    strictZSpacingForVolumeViewport: true,
    investigationalUseDialog: { option: "never" },
    defaultDataSourceName: "all",
    dataSources: [
      dataSource("all", "All sites", `${origin}/dicomweb`),
      ...sites.map((s) => dataSource(s, `Site ${s}`, `${origin}/dicomweb/sites/${s}`)),
    ],
  };
}

async function file(p: string): Promise<Uint8Array<ArrayBuffer> | undefined> {
  try {
    const info = await Deno.stat(p);
    return info.isFile ? await Deno.readFile(p) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the viewer in `dir` can be served (its `index.html` is there): the console disables its "Open in
 * viewer" otherwise. Asked at each login and `/auth/me`, so a viewer built while the hub runs shows on reload.
 */
export async function viewerInstalled(dir = VIEWER_DIR): Promise<boolean> {
  return (await Deno.stat(path.join(dir, "index.html")).catch(() => undefined))?.isFile ?? false;
}

/** Adds `/viewer` and `/viewer/*` to `app`. */
export function addViewerRoutes(
  app: Hono,
  deps: { tokens: ApiTokens; users: Users; registry: SiteRegistry; publicUrl?: string },
  dir = VIEWER_DIR,
): void {
  const headers = (type: string, cache: string) => ({
    "content-type": type,
    "cache-control": cache,
    // On every file: a worker's own script takes the policy it is served with.
    "content-security-policy": VIEWER_CSP,
  });
  const principal = async (c: Context) => {
    const r = await resolvePrincipal(c, deps.tokens, deps.users);
    return "principal" in r ? r.principal : undefined;
  };
  app.get("/viewer", (c) => c.redirect("/viewer/", 302));
  app.get("/viewer/*", async (c) => {
    const decoded = decodePath(new URL(c.req.url).pathname);
    if (decoded === undefined) {
      return problem(c, 404, "a path that is not percent-encoded UTF-8 names nothing");
    }
    const rel = decoded.slice("/viewer/".length);
    if (rel === "app-config.js") {
      const who = await principal(c);
      if (!who) return c.text("log in to the console first", 401, headers("text/plain", "no-store"));
      const sites = (await deps.registry.list())
        .filter((s) => s.state !== "revoked" && s.state !== "pending" && mayReach(who, s.site))
        .map((s) => s.site);
      const origin = deps.publicUrl?.replace(/\/+$/, "") ?? new URL(c.req.url).origin;
      const body = `window.config = ${JSON.stringify(viewerConfig(sites, origin), null, 2)};\n`;
      return c.body(body, 200, headers(TYPES[".js"], "no-store"));
    }
    const target = path.resolve(dir, rel);
    if (rel && !within(dir, target)) return c.text("not found", 404);
    const ext = path.extname(rel);
    const bytes = rel && !rel.endsWith("/") ? await file(target) : undefined;
    if (bytes) {
      const hashed = /\.[0-9a-f]{16}\.(js|wasm)$|^[0-9a-f]{16}\.(wasm|woff2)$/.test(path.basename(rel));
      return c.body(
        bytes,
        200,
        headers(
          TYPES[ext] ?? "application/octet-stream",
          hashed ? "public, max-age=31536000, immutable" : "no-cache",
        ),
      );
    }
    // Not a file: a route of the viewer (its study list, `viewer/{site}?StudyInstanceUIDs=`...).
    if (/\.(js|css|wasm|json|jsonc|png|svg|ico|woff2?|map)$/i.test(rel)) return c.text("not found", 404);
    const page = await file(path.join(dir, "index.html"));
    if (!page) {
      return c.html(
        "<!doctype html><title>Conduit viewer</title><p>The viewer is not installed: run " +
          "<code>deno task build:viewer</code> (or <code>deno task build</code>), then reload.</p>",
        503,
        { "content-security-policy": VIEWER_CSP },
      );
    }
    if (!await principal(c)) {
      const back = new URL(c.req.url);
      return c.redirect(`/?next=${encodeURIComponent(back.pathname + back.search)}`, 302);
    }
    return c.body(page, 200, headers(TYPES[".html"], "no-cache"));
  });
}

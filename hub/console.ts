/**
 * The console at `/`: the files `deno task build:ui` puts in ui/dist, with index.html for any other
 * path (the console routes itself: `/explorer`, `/studies/{site}/{uid}`...); a missing file is 404 (but
 * `/favicon.ico`, a 301 to the console's own `/favicon.svg`). Without a build, a page that says how to make
 * one. Both under the console's Content-Security-Policy (./headers.ts).
 */
import { Hono } from "hono";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { CONSOLE_CSP } from "./headers.ts";
import { problem } from "./problem.ts";

const DIST = fileURLToPath(new URL("../ui/dist/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
};

/** Paths that name a file, never a screen (screens' paths end in a name or a UID). */
const STATIC = /\.(js|css|map|png|svg|ico|json|txt|woff2?)$/i;

export function consoleRoutes(dist = DIST) {
  const app = new Hono();
  app.get("*", async (c) => {
    const decoded = decodePath(new URL(c.req.url).pathname);
    if (decoded === undefined) {
      return problem(c, 404, "a path that is not percent-encoded UTF-8 names nothing");
    }
    const rel = decoded.replace(/^\/+/, "");
    const file = path.resolve(dist, rel || "index.html");
    if (!within(dist, file)) return c.text("not found", 404);
    // A missing file (a stale asset, a favicon) is a 404; any other path is a screen of the console.
    const isFile = rel.startsWith("assets/") || STATIC.test(rel);
    for (const candidate of isFile ? [file] : [file, path.join(dist, "index.html")]) {
      try {
        const info = await Deno.stat(candidate);
        if (!info.isFile) continue;
        const body = await Deno.readFile(candidate);
        return c.body(body, 200, {
          "content-type": TYPES[path.extname(candidate)] ?? "application/octet-stream",
          "cache-control": cacheControl(dist, candidate),
          "content-security-policy": CONSOLE_CSP,
        });
      } catch { /* next candidate */ }
    }
    // What a browser or a bookmark asks for without reading the page's <link rel="icon">.
    if (rel === "favicon.ico") return c.redirect("favicon.svg", 301);
    if (isFile) return c.text("not found", 404);
    return c.html(
      "<!doctype html><title>Conduit</title><p>The console is not built: run <code>deno task build:ui</code>, then reload.</p>",
      503,
      { "content-security-policy": CONSOLE_CSP },
    );
  });
  return app;
}

/**
 * Hashed assets are kept for a year; the icon (`ui/public/favicon.svg`, not hashed) for a day, so that a
 * release that changes it shows within one; everything else (index.html) is asked again each time.
 */
function cacheControl(dist: string, file: string): string {
  if (file.includes(`${path.sep}assets${path.sep}`)) return "public, max-age=31536000, immutable";
  if (path.relative(dist, file) === "favicon.svg") return "public, max-age=86400";
  return "no-cache";
}

/** A URL path decoded, or undefined when its percent-encoding is not UTF-8 (`/%E0%A4%A`). */
export function decodePath(pathname: string): string | undefined {
  try {
    return decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
}

/** Whether `file` (resolved) lies inside the directory `dir`, never beside it (`dist-old` is not in `dist`). */
export function within(dir: string, file: string): boolean {
  const rel = path.relative(path.resolve(dir), file);
  return rel !== "" && rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

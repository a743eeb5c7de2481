import assert from "node:assert/strict";
import * as path from "node:path";
import { Hono } from "hono";
import { consoleRoutes } from "./console.ts";
import { addViewerRoutes } from "./viewer.ts";

/**
 * The console's and the viewer's files are served from their own directory only: until 2026-12-04 the
 * check was that the resolved path starts with the directory's path, so `/..%2Fdist-old%2Fx.json` read
 * `dist-old/x.json` beside `dist` (a copy kept by a deploy, say), and `/viewer/..%2Fviewer.bak%2F...`
 * the same beside the viewer.
 */
Deno.test("console and viewer files: nothing from a sibling directory whose name begins the same", async () => {
  const root = await Deno.makeTempDir({ prefix: "conduit-console-" });
  try {
    for (const dir of ["dist", "dist-old", "viewer", "viewer.bak"]) {
      await Deno.mkdir(path.join(root, dir));
      await Deno.writeTextFile(path.join(root, dir, "x.json"), `"${dir}"`);
    }
    const app = new Hono();
    const deps = {} as Parameters<typeof addViewerRoutes>[1];
    addViewerRoutes(app, deps, path.join(root, "viewer") + "/");
    app.route("/", consoleRoutes(path.join(root, "dist") + "/"));
    assert.equal(await (await app.request("/x.json")).text(), '"dist"');
    assert.equal(await (await app.request("/viewer/x.json")).text(), '"viewer"');
    for (
      const p of [
        "/..%2Fdist-old%2Fx.json",
        "/viewer/..%2Fviewer.bak%2Fx.json",
        "/..%2F..%2Fetc%2Fpasswd.json",
      ]
    ) {
      const res = await app.request(p);
      const text = await res.text();
      assert.equal(res.status, 404, `${p}: ${res.status} ${text}`);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/**
 * The console's icon: until 2026-12-05 it had none, and a browser's `GET /favicon.ico` was a 404 in its
 * console. The built console links `/favicon.svg` (kept a day: it is not hashed); `/favicon.ico` points there.
 */
Deno.test("consoleRoutes() serves the built favicon.svg for a day and sends /favicon.ico to it", async () => {
  const { buildConsole } = await import("../deploy/build_ui.ts");
  await buildConsole();
  const app = consoleRoutes();
  const index = await (await app.request("/")).text();
  assert.match(index, /<link rel="icon" href="\/favicon.svg" type="image\/svg\+xml"/);
  const icon = await app.request("/favicon.svg");
  assert.equal(icon.status, 200);
  assert.equal(icon.headers.get("content-type"), "image/svg+xml");
  assert.equal(icon.headers.get("cache-control"), "public, max-age=86400");
  assert.match(await icon.text(), /^<svg [^>]*viewBox="0 0 32 32"/);
  const ico = await app.request("/favicon.ico");
  assert.equal(ico.status, 301);
  assert.equal(ico.headers.get("location"), "favicon.svg");
  await ico.body?.cancel();
  // Other files keep theirs: index.html asked again each time, a missing file 404.
  assert.equal((await app.request("/")).headers.get("cache-control"), "no-cache");
  assert.equal((await app.request("/missing.png")).status, 404);
});

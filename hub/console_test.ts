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

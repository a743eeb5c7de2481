/**
 * The viewer's routes (hub/viewer.ts) over HTTP: its page needs a console session (without one, the
 * console's login with the way back), its app-config.js lists only the sites the user may reach, each
 * as a data source on the hub's own DICOMweb, and its files carry the viewer's CSP (the page and a script
 * file, which is a decoder worker's own script, alike).
 */
import assert from "node:assert/strict";
import { startTestHub } from "../support/hub.ts";
import { hasTool } from "../support/peers.ts";
import { prepareViewer, VIEWER_DIR, viewerReady } from "../../deploy/viewer.ts";

const skip = await viewerReady() || hasTool("npm")
  ? undefined
  : "npm not installed (the viewer is fetched with it)";
if (skip) console.warn(`viewer_routes_test: skipped: ${skip}`);

Deno.test({
  name: "addViewerRoutes() gates the viewer's page and config on a session and scopes its data sources",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (!await viewerReady()) await prepareViewer();
    const hub = await startTestHub();
    try {
      const base = `http://127.0.0.1:${hub.port}`;
      for (const site of ["north", "south"]) {
        await hub.registry.enroll((await hub.registry.add(site)).enrollmentToken);
      }
      await hub.registry.add("east"); // pending: no data source
      const noSession = await fetch(`${base}/viewer/viewer/north?StudyInstanceUIDs=1.2.3`, {
        redirect: "manual",
      });
      assert.equal(noSession.status, 302);
      assert.equal(
        noSession.headers.get("location"),
        `/?next=${encodeURIComponent("/viewer/viewer/north?StudyInstanceUIDs=1.2.3")}`,
      );
      await noSession.body?.cancel();
      const config = await fetch(`${base}/viewer/app-config.js`);
      assert.equal(config.status, 401);
      await config.body?.cancel();

      const northOnly = (await hub.tokens.create("north only", "viewer", ["north"])).token;
      const scoped = await fetch(`${base}/viewer/app-config.js`, {
        headers: { authorization: `Bearer ${northOnly}` },
      });
      assert.equal(scoped.status, 200);
      assert.match(scoped.headers.get("content-security-policy")!, /script-src 'self' 'wasm-unsafe-eval'/);
      const text = await scoped.text();
      const cfg = JSON.parse(text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1));
      assert.deepEqual(cfg.dataSources.map((d: { sourceName: string }) => d.sourceName), ["all", "north"]);
      assert.equal(cfg.dataSources[1].configuration.wadoRoot, `${base}/dicomweb/sites/north`);
      assert.equal(cfg.routerBasename, "/viewer");

      const all = (await hub.tokens.create("all", "viewer")).token;
      const page = await fetch(`${base}/viewer/viewer/south?StudyInstanceUIDs=1.2.3`, {
        headers: { authorization: `Bearer ${all}` },
      });
      assert.equal(page.status, 200);
      const policy = page.headers.get("content-security-policy")!;
      assert.match(policy, /script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval';/);
      const html = await page.text();
      const worker = [...Deno.readDirSync(VIEWER_DIR)].find((e) =>
        /^\d+\.bundle\.[0-9a-f]+\.js$/.test(e.name)
      );
      assert.ok(worker, "a chunk of the viewer");
      const chunk = await fetch(`${base}/viewer/${worker.name}`);
      assert.equal(chunk.status, 200);
      assert.equal(
        chunk.headers.get("content-security-policy"),
        policy,
        "a worker's script: the same policy",
      );
      await chunk.body?.cancel();
      assert.match(html, /<script src="\/viewer\/conduit-init\.js"><\/script>/);
      assert.doesNotMatch(html, /<script>/, "no inline script");
      const init = await fetch(`${base}/viewer/conduit-init.js`);
      assert.match(await init.text(), /window\.PUBLIC_URL = "\/viewer\/"/);
      for (const p of ["/viewer/missing.bundle.js", "/viewer/..%2F..%2Fdeno.json"]) {
        const r = await fetch(`${base}${p}`);
        assert.equal(r.status, 404, p);
        await r.body?.cancel();
      }
    } finally {
      await hub.stop();
    }
  },
});

/**
 * The OHIF viewer served by the hub at `/viewer/`, in Chromium, on the hub's DICOMweb with the console's
 * session: a logged-out visit goes through the console's login and back; a study of north and a study
 * of south each render (the viewport's pixels are not all one value) under the viewer's
 * Content-Security-Policy, with no violation; the console's "Open in viewer" leads there. South's is
 * JPEG-LS, which only the dicomImageLoader's WebAssembly worker decodes (under its own policy).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { hasTool, PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { hasChromium, shoot, SHOTS, submitLogIn, watchCsp } from "../support/browser.ts";
import { prepareViewer, viewerReady } from "../../deploy/viewer.ts";
import type { Page } from "playwright-core";

const skip = hasChromium()
  ? skipReason("storescu") ||
    (await viewerReady() || hasTool("npm") ? undefined : "npm not installed (the viewer is fetched with it)")
  : "chromium not installed";
if (skip) console.warn(`viewer_test: skipped: ${skip}`);

/**
 * Waits until the viewer's first viewport draws an image: the spread (standard deviation) of the
 * luminance of its canvas's own pixels, read in the page, so the overlays' text does not count.
 */
async function rendered(page: Page, name: string): Promise<number> {
  const canvas = page.locator("canvas.cornerstone-canvas").first();
  await canvas.waitFor({ timeout: 60_000 });
  const spread = await eventually(`an image in the viewport (${name})`, async () => {
    const s = await canvas.evaluate((el) => {
      const c = el as unknown as {
        width: number;
        height: number;
        getContext(
          t: "2d",
        ): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
      };
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let sum = 0, sq = 0;
      for (let i = 0; i < d.length; i += 4) {
        const y = 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
        sum += y;
        sq += y * y;
      }
      const n = d.length / 4;
      return Math.sqrt(Math.max(0, sq / n - (sum / n) ** 2));
    });
    return s > 8 ? s : undefined;
  }, 60_000);
  await canvas.screenshot({ path: path.join(SHOTS, `viewer-${name}-canvas.png`) });
  return spread;
}

Deno.test({
  name: "the hub's OHIF viewer renders a study of north and a study of south with the console's session",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // The viewer is fetched (a fresh checkout) while the rig starts; the hub looks for it at each request.
    const viewer = prepareViewer();
    viewer.catch(() => {}); // its failure is the test's, when awaited below
    // Real images: pydicom's CT at north, its MR at south in JPEG-LS (decoded in a worker).
    const files = { north: "CT_small.dcm", south: "MR_small_jpeg_ls_lossless.dcm" } as const;
    // The two sites start together, with the hub, while Chromium launches, and take their study together.
    const sites = { north: { aet: "NORTH" }, south: { aet: "SOUTH" } };
    await withConsole({ buildIfMissing: true, sites }, async ({ hub, browser, sites }) => {
      await Promise.all(
        Object.entries(files).map(async ([site, file]) => {
          assert.equal((await storescu([path.join(PYDICOM_TEST_FILES_DIR, file)], sites[site])).code, 0);
        }),
      );
      await eventually("both online", () => hub.sessions.get("north") && hub.sessions.get("south"));
      const token = (await hub.tokens.create("viewer test", "viewer")).token;
      const studies: Record<string, string> = {};
      for (const site of Object.keys(files)) {
        const [study] = await (await fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/${site}/studies`, {
          headers: { authorization: `Bearer ${token}` },
        })).json() as Record<string, { Value: string[] }>[];
        studies[site] = study["0020000D"].Value[0];
      }
      await hub.users.add("reader", "viewer", "reader password");
      await viewer;
      const base = `http://127.0.0.1:${hub.port}`;
      const page = await browser.newPage();
      const violations = watchCsp(page);
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      const failed: string[] = [];
      page.on("response", (r) => {
        if (r.status() >= 400 && /\/(dicomweb|viewer)\//.test(r.url())) {
          failed.push(`${r.status()} ${r.url()}`);
        }
      });

      // Logged out: the viewer's link goes through the console's login and comes back.
      const north = `/viewer/viewer/north?StudyInstanceUIDs=${studies.north}`;
      const first = await page.goto(`${base}${north}`);
      assert.equal(new URL(page.url()).pathname, "/");
      assert.ok(first);
      // The login sends the browser on to the viewer, which has no Log out button: the wait is for its URL.
      await submitLogIn(page, "reader", "reader password");
      await page.waitForURL((u) => u.pathname.startsWith("/viewer/"), { timeout: 30_000 });
      assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, north);
      const policy = (await page.request.get(`${base}${north}`)).headers()["content-security-policy"];
      assert.match(policy, /script-src 'self' 'wasm-unsafe-eval'/);
      assert.match(policy, /frame-ancestors 'none'/);
      console.log(`viewer_test: north's study, spread ${(await rendered(page, "north")).toFixed(1)}`);
      await shoot(page, "viewer");

      // South's study, from the console's study page.
      await page.goto(`${base}/studies/south/${studies.south}`);
      const [popup] = await Promise.all([
        page.waitForEvent("popup"),
        page.getByRole("link", { name: "Open in viewer" }).click(),
      ]);
      assert.equal(new URL(popup.url()).pathname, "/viewer/viewer/south");
      const popupViolations = watchCsp(popup);
      console.log(`viewer_test: south's study, spread ${(await rendered(popup, "south")).toFixed(1)}`);
      await shoot(popup, "viewer-south");
      assert.deepEqual([...violations, ...popupViolations], [], "no Content-Security-Policy violation");
      assert.deepEqual(errors, [], "no uncaught error in the viewer");
      assert.deepEqual(failed, [], "no failed request");
    });
  },
});

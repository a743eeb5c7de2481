/**
 * A DICOM Segmentation over its CT series (the generator's images, a pydicom SEG) opened in the hub's OHIF
 * viewer from the console's study page, in Chromium: the SEG's box is drawn over the images (red pixels in
 * the viewport, where the CT has only grey ones) with no Content-Security-Policy violation. OHIF's SEG
 * loader builds ndarrays, whose constructors are made with `new Function`: without `'unsafe-eval'` in the
 * viewer's policy the SEG failed to load.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { hasTool, skipReason } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { hasChromium, logIn, watchCsp } from "../support/browser.ts";
import { segFixtureSkip, writeSegOver } from "../support/seg_fixture.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { prepareViewer, viewerReady } from "../../deploy/viewer.ts";

const skip = hasChromium()
  ? skipReason("storescu") || await segFixtureSkip() ||
    (await viewerReady() || hasTool("npm") ? undefined : "npm not installed (the viewer is fetched with it)")
  : "chromium not installed";
if (skip) console.warn(`viewer_seg_test: skipped: ${skip}`);

const LABEL = "SEG over the CT";

Deno.test({
  name: "the hub's OHIF viewer draws a SEG over its CT series under its Content-Security-Policy",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await prepareViewer();
    const dir = await Deno.makeTempDir({ prefix: "viewer-seg-" });
    // The CT series and its SEG are written while the rig starts (the hub, north's agent and Chromium together).
    const fixtures = (async () => {
      const ct = await writeGeneratedSeries(dir, { count: 4, rows: 64, columns: 64, seed: "viewer-seg" });
      const seg = path.join(dir, "seg.dcm");
      await writeSegOver(seg, LABEL, ct.paths);
      return { ct, seg };
    })();
    fixtures.catch(() => {}); // its failure is thrown where it is awaited
    try {
      const sites = { north: { aet: "NORTH" } };
      await withConsole(
        { buildIfMissing: true, sites },
        async ({ hub, browser, sites: { north: agent } }) => {
          const { ct, seg } = await fixtures;
          await Promise.all([
            (async () => {
              // The SEG alone: storescu proposes its class only for a single file (-R).
              for (const files of [ct.paths, [seg]]) {
                const sent = await storescu(files, agent);
                assert.equal(sent.code, 0, sent.stderr);
              }
            })(),
            eventually("north online", () => hub.sessions.get("north")),
            hub.users.add("reader", "viewer", "reader password"),
          ]);
          const page = await browser.newPage();
          await page.goto(`http://127.0.0.1:${hub.port}/studies/north/${ct.studyUid}`);
          await logIn(page, "reader", "reader password");
          const [popup] = await Promise.all([
            page.waitForEvent("popup"),
            page.getByRole("link", { name: "Open in viewer" }).click(),
          ]);
          const violations = watchCsp(popup);
          const failures: string[] = [];
          popup.on("console", (m) => {
            if (/failed to load/i.test(m.text())) failures.push(m.text().slice(0, 300));
          });
          await popup.getByText(LABEL).first().dblclick({ timeout: 60_000 });
          const canvas = popup.locator("canvas.cornerstone-canvas").first();
          await eventually("the SEG's box over the CT", async () => {
            const red = await canvas.evaluate((el) => {
              const c = el as unknown as {
                width: number;
                height: number;
                getContext(t: "2d"): {
                  getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
                };
              };
              const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
              let n = 0;
              for (let i = 0; i < d.length; i += 4) if (d[i] > d[i + 1] + 40 && d[i] > d[i + 2] + 40) n++;
              return n;
            });
            return red > 100 || undefined;
          }, 40_000);
          assert.deepEqual(failures, [], "no SEG that failed to load");
          assert.deepEqual(violations, [], "no Content-Security-Policy violation");
        },
      );
    } finally {
      await fixtures.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/**
 * A hub without the viewer (its viewer directory empty, whatever ui/viewer holds in this checkout): the
 * console's "Open in viewer" on a study page and the explorer's View are disabled buttons whose title says to
 * run `deno task build:viewer`, not links to the hub's 503 "viewer not installed" page. The hub says so at
 * each login and `/auth/me`, so a viewer installed while it runs is offered after a reload.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { installViewerStandIn, viewerDirFor, withConsole } from "../support/console_rig.ts";
import { hasChromium, logIn, shoot } from "../support/browser.ts";

const skip = hasChromium() ? skipReason("storescu") : "chromium not installed";
if (skip) console.warn(`viewer_missing_test: skipped: ${skip}`);

const CT_SMALL_STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322";

Deno.test({
  name: "console: without the viewer, Open in viewer is disabled and says how to build it",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const viewerDir = await viewerDirFor(false);
    await withConsole({ hub: { viewerDir } }, async ({ hub, browser, startAgent }) => {
      const north = await startAgent("north", { aet: "NORTH" });
      assert.equal((await storescu([path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm")], north)).code, 0);
      await eventually("north online", () => hub.sessions.get("north"));
      await hub.users.add("boss", "viewer", "viewer password");
      const base = `http://127.0.0.1:${hub.port}`;
      const page = await browser.newPage();
      await page.goto(`${base}/studies/north/${CT_SMALL_STUDY}`);
      await logIn(page, "boss", "viewer password");
      const header = page.locator("section[aria-label=Study]");
      await header.locator("h1").waitFor();

      const button = header.getByRole("button", { name: "Open in viewer" });
      assert.ok(await button.isDisabled(), "Open in viewer is disabled");
      assert.match((await button.getAttribute("title"))!, /not installed.*deno task build:viewer/);
      // Said as text beside it too, and as its description: a disabled button takes no keyboard focus.
      const said = async (b: typeof button) => {
        const id = await b.getAttribute("aria-describedby");
        assert.ok(id, "the button names its reason");
        const reason = page.locator(`[id="${id}"]`);
        assert.ok(await reason.isVisible(), "the reason is on the page");
        assert.match(await reason.innerText(), /not installed.*deno task build:viewer/);
      };
      await said(button);
      assert.equal(
        await header.getByRole("link", { name: "Open in viewer" }).count(),
        0,
        "no link to the 503",
      );
      await shoot(page, "study-viewer-missing");

      await page.goto(`${base}/explorer?site=north`);
      const row = page.locator(`table[aria-label=Studies] tr[data-study="${CT_SMALL_STUDY}"]`);
      await row.waitFor();
      const view = row.getByRole("button", { name: /in the viewer$/ });
      assert.ok(await view.isDisabled(), "View is disabled");
      assert.match((await view.getAttribute("title"))!, /deno task build:viewer/);
      await said(view);
      assert.equal(await row.getByRole("link", { name: /in the viewer$/ }).count(), 0);

      // Installed while the hub runs: after a reload the study page links to it.
      await installViewerStandIn(viewerDir);
      await page.goto(`${base}/studies/north/${CT_SMALL_STUDY}`);
      const link = header.getByRole("link", { name: "Open in viewer" });
      await link.waitFor();
      assert.equal(
        await link.getAttribute("href"),
        `/viewer/viewer/north?StudyInstanceUIDs=${CT_SMALL_STUDY}`,
      );
      assert.equal(await header.getByRole("button", { name: "Open in viewer" }).count(), 0);
    });
    await Deno.remove(viewerDir, { recursive: true });
  },
});

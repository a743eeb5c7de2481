/**
 * Back to a list from the page a link of it led to puts the keyboard's focus on that link again (not on the
 * screen's heading) and the page's scroll where it was, with the list's sort and search as they were: the
 * transfers list (scrolled down to an older job), the sites list (a site's Details), the explorer (a study,
 * sorted by date). A real hub and agent, Chromium (Playwright).
 */
import assert from "node:assert/strict";
import type { Locator, Page } from "playwright-core";
import { skipReason } from "../support/peers.ts";
import { sendGenerated } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { hasChromium, logIn, waitForOnPage } from "../support/browser.ts";

const skip = hasChromium() ? skipReason("storescu") : "chromium not installed";
if (skip) console.warn(`back_place_test: skipped: ${skip}`);

/** How far down the page is scrolled. */
// deno-lint-ignore no-explicit-any
const scrollY = (page: Page) => page.evaluate(() => (globalThis as any).scrollY as number);

/** Follows `link`, waits for `there`, goes Back, and checks the focus came back to `link`. */
async function backTo(page: Page, link: Locator, there: string, what: string) {
  await link.click();
  await waitForOnPage(page, there);
  await page.goBack();
  await eventually(
    `${what}: the focus back on the link followed`,
    () => link.evaluate((a) => a === a.ownerDocument.activeElement || undefined).catch(() => undefined),
  );
}

Deno.test({
  name:
    "console: Back to a list focuses the link followed from it, where the page was scrolled, sorted as it was",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({ viewport: { width: 1366, height: 500 } }, async ({ hub, browser, startAgent }) => {
      const north = await startAgent("north", { aet: "NORTH" });
      await hub.registry.enroll((await hub.registry.add("west")).enrollmentToken); // enrolled, offline
      await eventually("north online", () => hub.sessions.get("north"));
      await sendGenerated(north, "back", "CT", 1);
      await hub.users.add("boss", "admin", "admin password");
      // Jobs from offline west wait: enough of them for the list to scroll.
      const jobs: string[] = [];
      for (let i = 0; i < 30; i++) {
        const { id } = await hub.transfers.create(
          {
            source: { site: "west" },
            destination: { site: "north" },
            studies: [`1.2.826.0.1.3680043.9.${i}`],
          },
          "user:boss",
        );
        jobs.push(id);
      }
      const base = `http://127.0.0.1:${hub.port}`;
      const page = await browser.newPage();
      await page.goto(`${base}/transfers`);
      await logIn(page, "boss", "admin password");

      // The transfers list, scrolled down to the oldest job (the last row).
      const oldest = page.locator(`table[aria-label=Transfers] tr[data-transfer="${jobs[0]}"]`).getByRole(
        "link",
      );
      await oldest.scrollIntoViewIfNeeded();
      const scrolled = await scrollY(page);
      assert.ok(scrolled > 200, `the list scrolls: ${scrolled}`);
      await backTo(page, oldest, `section[aria-label="Transfer detail"]`, "transfers");
      const back = await scrollY(page);
      assert.ok(Math.abs(back - scrolled) < 5, `scrolled back to ${scrolled}, not ${back}`);

      // The sites list: a site's Details (its name links to the same page).
      await page.goto(`${base}/sites`);
      const details = page.getByRole("link", { name: "Details of west" });
      await backTo(page, details, 'section[aria-label="Site west"]', "sites");

      // The explorer, sorted by date up: Back shows it sorted so, and the study's link has the focus.
      await page.goto(`${base}/explorer?site=north&sort=date`);
      const study = page.locator("table[aria-label=Studies] tbody tr[data-study]").first().getByRole("link", {
        name: /^Open /,
      });
      await study.waitFor();
      await backTo(page, study, "section[aria-label=Study] h1", "explorer");
      assert.equal(new URL(page.url()).searchParams.get("sort"), "date");
      const find = page.getByRole("form", { name: "Find studies" });
      assert.equal(
        await find.locator("select[name=site]").inputValue(),
        "north",
        "the search's site kept",
      );
      assert.equal(
        await page.locator("table[aria-label=Studies] th", { hasText: "Date" }).getAttribute("aria-sort"),
        "ascending",
      );
    });
  },
});

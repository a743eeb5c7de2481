/**
 * The Batch screen's list of batches follows the batch started above it, in Chromium (Playwright) against a
 * real hub and agent: the page's time is stopped (Playwright's clock) and moved on by 5 ms steps only while the
 * test waits (the tRPC client's batching runs on timers), less than the list's own 5-second refresh in all: the
 * new batch must still appear in the list as it starts, and show the state its result shows once it ends. A
 * site waiting to enroll or revoked is not offered as the source.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { hasChromium, logIn } from "../support/browser.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";

const skip = hasChromium() ? "" : "chromium not installed";
if (skip) console.warn(`batch_list_test: skipped: ${skip}`);

Deno.test({
  name:
    "the Batch screen lists a batch as it starts and as it ends, without waiting for its refresh; its sources are enrolled",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser, startAgent, url }) => {
      await startAgent("north", { aet: "NORTH" });
      await eventually("north online", () => hub.sessions.get("north"));
      await hub.users.add("ops", "operator", "operator password");
      // A site waiting to enroll and a revoked one: neither has anything to search.
      await hub.registry.add("east");
      await hub.registry.add("gone");
      await hub.registry.revoke("gone");
      const page = await browser.newPage();
      await page.clock.install();
      await page.goto(`${url}batch`);
      await logIn(page, "ops", "operator password");
      await page.getByText("No batch yet.").waitFor();
      await page.getByLabel("Site (source)").locator("option[value=north]").waitFor({ state: "attached" });
      assert.deepEqual(
        await page.getByLabel("Site (source)").locator("option").allInnerTexts(),
        ["All online sites", "north"],
        "a batch searches no site waiting to enroll nor revoked",
      );
      // From here the page's time moves only by `step`: the list's 5-second refresh cannot run before the check.
      // The target is a moment just ahead; on a loaded machine the page's clock may pass it before the call
      // arrives ("Cannot fast-forward to the past"), so take a new moment and ask again.
      for (let attempt = 1;; attempt++) {
        try {
          await page.clock.pauseAt(Date.now() + 10 * attempt);
          break;
        } catch (e) {
          if (attempt >= 10 || !/past/.test(String(e))) throw e;
        }
      }
      let moved = 0;
      const step = (what: string, check: () => Promise<boolean> | boolean) =>
        eventually(what, async () => {
          await page.clock.runFor(5);
          moved += 5;
          return await check();
        });

      await page.getByLabel("File").setInputFiles({
        name: "one.csv",
        mimeType: "text/csv",
        buffer: Buffer.from("Patient ID\nPAT0001\n"),
      });
      const row = page.locator('table[aria-label=Rows] tr[data-row="2"]');
      await step("the preview", async () => (await row.count()) === 1);
      await page.getByRole("button", { name: "Start" }).click();
      await step("the batch started", () => /\?id=\w+$/.test(page.url()));
      const id = new URL(page.url()).searchParams.get("id")!;
      const listed = page.locator(`table[aria-label=Batches] tr[data-batch="${id}"]`);
      await step("the batch listed", async () => (await listed.count()) === 1);
      assert.ok(moved < 4000, `the page's time moved ${moved} ms: its list may have refreshed by itself`);
      assert.match(await listed.innerText(), /one\.csv/);

      // The result is polled each second: let the page's time run until it says the batch is done.
      const result = page.getByLabel("Batch result");
      await eventually("the batch done", async () => {
        await page.clock.runFor(1000);
        return (await result.getAttribute("data-status")) === "done";
      });
      // The list says so too, without its 5-second refresh: the page's time moves on by `step` only (with it
      // paused, an update that waits on a timer of the page never came: a fresh-clone CI timed out here).
      const movedBefore = moved;
      await step("the batch listed as done", async () => (await listed.getByText("Done").count()) === 1);
      assert.ok(
        moved - movedBefore < 4000,
        `the page's time moved ${moved - movedBefore} ms before the list said Done`,
      );
    });
  },
});

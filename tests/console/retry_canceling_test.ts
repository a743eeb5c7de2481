/**
 * A canceled job's "Retry what did not get through" in the console, in Chromium (Playwright) against a real
 * hub: while a study of the job is still `canceling` (its source offline, yet to be told) the button is
 * disabled and its tooltip says why (the hub refuses such a retry); once the cancel has settled, the page
 * (whose job's progress has ended) reads its studies again and enables it.
 */
import assert from "node:assert/strict";
import { eq } from "drizzle-orm";
import { hasChromium, logIn } from "../support/browser.ts";
import { withConsole } from "../support/console_rig.ts";
import { eventually } from "../support/hub.ts";
import { transfers, transferTasks } from "../../hub/db/schema.ts";

const skip = hasChromium() ? undefined : "chromium not installed";
if (skip) console.warn(`retry_canceling_test: skipped: ${skip}`);

Deno.test({
  name: "the console's Retry waits, saying why, while a study of the canceled job is still canceling",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser, url }) => {
      // A job whose source (not connected) holds one study, the other delivered: a cancel cannot reach the
      // source, so that study stays canceling, as with a source gone offline (tests/transfers/cancel_test).
      const now = Date.now();
      await hub.db.insert(transfers).values({
        id: "job-cancel",
        sourceSite: "north",
        destinationSite: "south",
        status: "in_progress",
        createdBy: "user:ops",
        createdAt: now,
        updatedAt: now,
      });
      await hub.db.insert(transferTasks).values(["queued", "success"].map((status, i) => ({
        id: `job-cancel-${i}`,
        transferId: "job-cancel",
        studyInstanceUid: `1.2.826.0.1.3680043.8.498.${i + 1}`,
        status,
        objects: 4,
        done: status === "success" ? 4 : 1,
        updatedAt: now,
      })));
      await hub.users.add("ops", "operator", "operator password");
      const page = await browser.newPage();
      const retries: string[] = [];
      page.on("request", (r) => /transfers\.retry/.test(r.url()) && retries.push(r.url()));
      await page.goto(url);
      await logIn(page, "ops", "operator password");
      await page.goto(`${url}transfers/job-cancel`);

      await page.getByRole("button", { name: "Cancel", exact: true }).click();
      await page.getByRole("button", { name: "Cancel the transfer" }).click();
      await page.locator('section[aria-label="Transfer detail"][data-status="canceled"]').waitFor();
      const retry = page.getByRole("button", { name: "Retry what did not get through" });
      await eventually("Retry disabled while a study is canceling", async () => await retry.isDisabled());
      const why =
        "1 study is still being canceled (objects on their way, or a source to tell once it is back): " +
        "retry once the cancel has settled";
      assert.equal(await retry.getAttribute("title"), why);
      // Said beside it too, as its description: a disabled button takes no keyboard focus, so no tooltip.
      const reason = page.locator(`[id="${await retry.getAttribute("aria-describedby")}"]`);
      assert.equal(await reason.innerText(), `${why}.`);
      const [task] = await hub.db.select().from(transferTasks).where(eq(transferTasks.id, "job-cancel-0"));
      assert.equal(task.status, "canceling", "the hub holds the study canceling");

      // The source told (as the hub does once it is back): the study canceled, the button usable again.
      await hub.db.update(transferTasks).set({ status: "canceled", lastError: null })
        .where(eq(transferTasks.id, "job-cancel-0"));
      await eventually("Retry enabled once the cancel settled", async () => await retry.isEnabled());
      assert.equal(await retry.getAttribute("title"), null);
      assert.equal(await reason.count(), 0, "nothing said once it is usable");
      assert.deepEqual(retries, [], "no retry was sent while it was disabled");
      await retry.click();
      await eventually("the job retried", async () => {
        const [job] = await hub.db.select().from(transfers).where(eq(transfers.id, "job-cancel"));
        return job.status !== "canceled" || undefined;
      });
      const alerts = (await page.getByRole("alert").allInnerTexts()).filter((t) => t.trim());
      assert.deepEqual(alerts, [], "no error shown");
    });
  },
});

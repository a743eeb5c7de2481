/**
 * A big job's page in the console, in Chromium (Playwright) against a real hub: its studies a page of 100
 * at a time with Previous and Next, filtered by state (Failed), the page and the filter in the address (a
 * reload, Back and Forward and a shared link show the same page; a bad value or a page past the last falls
 * back and says so), the page shown read again when the job's totals move (a filter no study matches any
 * more says so), never the whole job (`transfers.get`) read, and Cancel and Retry answered without the
 * job's studies (`transfers.cancelSummary`, `transfers.retrySummary`).
 */
import assert from "node:assert/strict";
import { hasChromium, logIn, unnamedControls } from "../support/browser.ts";
import { withConsole } from "../support/console_rig.ts";
import { eventually } from "../support/hub.ts";
import { eq } from "drizzle-orm";
import { transfers, transferTasks } from "../../hub/db/schema.ts";

const skip = hasChromium() ? undefined : "chromium not installed";
if (skip) console.warn(`job_pages_test: skipped: ${skip}`);

const STUDIES = 250;
/** Every tenth study failed. */
const failed = (i: number) => i % 10 === 3;

Deno.test({
  name: "a job's page shows its studies 100 at a time, filters the failed ones, and follows the job",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser, url }) => {
      // A job of 250 studies whose source site is not enrolled: nothing moves it but this test.
      const now = Date.now();
      await hub.db.insert(transfers).values({
        id: "job-big",
        sourceSite: "north",
        destinationSite: "south",
        status: "in_progress",
        createdBy: "user:ops",
        createdAt: now,
        updatedAt: now,
      });
      await hub.db.insert(transferTasks).values(Array.from({ length: STUDIES }, (_, i) => ({
        id: `task-${String(i).padStart(4, "0")}`,
        transferId: "job-big",
        studyInstanceUid: `1.2.826.0.1.3680043.8.498.${i + 1}`,
        status: failed(i) ? "failure" : "success",
        objects: 10,
        done: failed(i) ? 7 : 10,
        failed: failed(i) ? 3 : 0,
        lastError: failed(i) ? "the destination refused 3 objects (0xA700)" : null,
        updatedAt: now,
      })));
      await hub.users.add("ops", "operator", "operator password");
      const page = await browser.newPage();
      const whole: string[] = [];
      page.on("request", (r) => r.url().includes("transfers.get") && whole.push(r.url()));
      // The answers of Cancel and Retry, and any call of the actions that answer every task.
      const actions: { url: string; body: string }[] = [];
      page.on("response", async (r) => {
        if (/transfers\.(cancel|retry|schedule)/.test(r.url())) {
          actions.push({ url: r.url(), body: await r.text() });
        }
      });
      const at = () => new URL(page.url()).search;
      await page.goto(url);
      await logIn(page, "ops", "operator password");
      await page.goto(`${url}transfers/job-big`);

      const pager = page.getByRole("navigation", { name: "Pages of studies" });
      const rows = page.locator('table[aria-label="Tasks"] tbody tr');
      const uids = () => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-study")!));
      await pager.getByText("Studies 1–100 of 250 studies").waitFor();
      assert.equal(await rows.count(), 100);
      const first = await uids();
      assert.ok(await pager.getByRole("button", { name: "Previous" }).isDisabled());

      await pager.getByRole("button", { name: "Next" }).click();
      await pager.getByText("Studies 101–200 of 250 studies").waitFor();
      const second = await uids();
      assert.equal(second.length, 100);
      await pager.getByRole("button", { name: "Next" }).click();
      await pager.getByText("Studies 201–250 of 250 studies").waitFor();
      const third = await uids();
      assert.equal(third.length, 50);
      assert.ok(await pager.getByRole("button", { name: "Next" }).isDisabled());
      // The page is in the address: a reload shows it again, Back the page before, Forward this one.
      assert.equal(at(), "?page=3");
      await page.reload();
      await pager.getByText("Studies 201–250 of 250 studies").waitFor();
      assert.deepEqual(await uids(), third);
      await page.goBack();
      await pager.getByText("Studies 101–200 of 250 studies").waitFor();
      assert.deepEqual(await uids(), second);
      await page.goForward();
      await pager.getByText("Studies 201–250 of 250 studies").waitFor();
      assert.deepEqual(await uids(), third);
      // Each study once over the three pages.
      assert.equal(new Set([...first, ...second, ...third]).size, STUDIES);
      await pager.getByRole("button", { name: "Previous" }).click();
      await pager.getByText("Studies 101–200 of 250 studies").waitFor();
      assert.deepEqual(await uids(), second);

      // Failed: the 25 failures on one page, from the first.
      await pager.getByLabel("Show").selectOption("failure");
      await pager.getByText("Studies 1–25 of 25 failed").waitFor();
      const failures = await uids();
      assert.equal(failures.length, 25);
      const expected = Array.from({ length: STUDIES }, (_, i) => i).filter(failed)
        .map((i) => `1.2.826.0.1.3680043.8.498.${i + 1}`);
      assert.deepEqual(failures.toSorted(), expected.toSorted());
      assert.equal(at(), "?state=failure");
      assert.deepEqual(await unnamedControls(page), []);

      // A shared link opens the same page; a bad value, or a page past the last, falls back and says so
      // (the address put right, no new history entry).
      const other = await browser.newPage();
      const otherPager = other.getByRole("navigation", { name: "Pages of studies" });
      const note = other.getByRole("status").filter({ hasText: /There is no/ });
      await other.goto(`${url}transfers/job-big?page=2&state=success`);
      await otherPager.getByText("Studies 101–200 of 225 done").waitFor();
      assert.equal(await otherPager.getByLabel("Show").inputValue(), "success");
      assert.equal(await note.count(), 0);
      await other.goto(`${url}transfers/job-big?page=abc&state=bogus`);
      await note.getByText(
        "There is no page “abc”: the first page is shown. There is no state “bogus”: every study is shown.",
      )
        .waitFor();
      await otherPager.getByText("Studies 1–100 of 250 studies").waitFor();
      assert.equal(new URL(other.url()).search, "");
      await other.goto(`${url}transfers/job-big?page=99`);
      await note.getByText("There is no page 99 of 250 studies now: the last page is shown.").waitFor();
      await otherPager.getByText("Studies 201–250 of 250 studies").waitFor();
      assert.equal(new URL(other.url()).search, "?page=3");
      await other.getByRole("button", { name: "Previous" }).click();
      await otherPager.getByText("Studies 101–200 of 250 studies").waitFor();
      assert.equal(await note.count(), 0, "the note goes with the next move");
      await other.close();

      // A failed study delivered after all (a retry elsewhere): the job's totals move, and the page shown
      // is read again without it.
      const [done] = expected;
      await hub.db.update(transferTasks).set({ status: "success", done: 10, failed: 0, lastError: null })
        .where(eq(transferTasks.studyInstanceUid, done));
      await pager.getByText("Studies 1–24 of 24 failed").waitFor();
      assert.ok(!(await uids()).includes(done));
      // Every failure delivered: the filter matches no study now, and the line says so in words.
      await hub.db.update(transferTasks).set({ status: "success", done: 10, failed: 0, lastError: null })
        .where(eq(transferTasks.transferId, "job-big"));
      await pager.getByText("None of the job's 250 studies is “Failed” now").waitFor();
      assert.equal(await rows.count(), 0);
      assert.deepEqual(whole, [], "the job's page read every study of the job");

      // Cancel and Retry: answered with the job's totals, not its 250 studies.
      await page.getByRole("button", { name: "Cancel", exact: true }).click();
      await page.getByRole("button", { name: "Cancel the transfer" }).click();
      await page.locator('section[aria-label="Transfer detail"][data-status="canceled"]').waitFor();
      await page.getByRole("button", { name: "Retry what did not get through" }).click();
      await eventually("both answers", () => actions.length === 2);
      assert.deepEqual(actions.map((a) => new URL(a.url).pathname), [
        "/trpc/transfers.cancelSummary",
        "/trpc/transfers.retrySummary",
      ]);
      for (const { body } of actions) {
        assert.match(body, /"totals":\{"studies":250,/);
        assert.doesNotMatch(body, /"tasks"|1\.2\.826\.0\.1\.3680043\.8\.498\./, "no study in the answer");
      }
    });
  },
});

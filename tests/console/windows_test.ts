/**
 * Several time windows from the console's transfer dialog, in Chromium (Playwright) against a real hub and
 * real agents: "weeknights and all weekend" as two windows with one time zone, their times typed in text
 * fields as 24-hour times (`1900` and `7:00` read as 19:00 and 07:00, never AM/PM); an incomplete window, a
 * time that is none (`7pm`: its field marked and focused, mended by keyboard) and an unknown zone are
 * refused in the dialog (in the hub's words for the zone and the time) and start no job; a window
 * added and removed is not sent; a priority or a cap out of the hub's bounds is refused in words, and one
 * within them goes as typed; `transfers.get` gives the list as entered, and the job's page shows each.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { hasChromium, SHOTS, unnamedControls } from "../support/browser.ts";
import { storescu } from "../support/send.ts";
import { withConsole } from "../support/console_rig.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { skipReason } from "../support/peers.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

const skip = hasChromium() ? skipReason("storescu") : "chromium not installed";
if (skip) console.warn(`windows_test: skipped: ${skip}`);

Deno.test({
  name: "the transfer dialog sends several windows, refuses a bad one, and the job's page shows each",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, northAndSouth, pageAs, url }) => {
      const { north } = await northAndSouth();
      const dir = await Deno.makeTempDir({ prefix: "windows-" });
      const study = await writeGeneratedSeries(dir, { count: 1, rows: 32, columns: 32, seed: "windows" });
      const sent = await storescu(study.paths, north);
      assert.equal(sent.code, 0, sent.stderr);
      const api = createConduitClient({ url, token: (await hub.tokens.create("qa", "viewer")).token });
      const jobs = async () => (await api.transfers.list.query()).length;

      const page = await pageAs(`/studies/north/${study.studyUid}`);
      await page.getByRole("button", { name: "Transfer…" }).click();
      const dialog = page.getByRole("form", { name: "Transfer" });
      await dialog.getByLabel("Destination").selectOption("south");
      await dialog.getByText("Schedule and limits").click();
      const transfer = dialog.getByRole("button", { name: "Transfer", exact: true });
      const alert = dialog.getByRole("alert");

      // Weeknights: one window, as the dialog always had; its times typed as 24-hour times in text fields
      // (Chromium's time picker showed 07:00 PM), read as HH:MM once each field is left.
      const first = dialog.getByRole("group", { name: "Window 1" });
      const from = first.getByLabel("Window from");
      assert.equal(await from.getAttribute("type"), null, "a text field, not <input type=time>");
      await from.fill("1900");
      await first.getByLabel("to", { exact: true }).fill("7:00");
      await first.getByLabel("to", { exact: true }).press("Tab");
      assert.equal(await from.inputValue(), "19:00");
      assert.equal(await first.getByLabel("to", { exact: true }).inputValue(), "07:00");
      for (const d of ["Mon", "Tue", "Wed", "Thu", "Fri"]) await first.getByLabel(d, { exact: true }).check();
      // All weekend: a second window; an empty one is refused, not dropped.
      await dialog.getByRole("button", { name: "Add a window" }).click();
      const second = dialog.getByRole("group", { name: "Window 2" });
      await transfer.click();
      await alert.filter({ hasText: "Give window 2 a start and an end, or remove it." }).waitFor();
      await second.getByLabel("from").fill("00:00");
      await transfer.click();
      await alert.filter({ hasText: "Give window 2 both a start and an end." }).waitFor();
      // A time that is none: refused in the hub's words, its field marked and focused; mended by keyboard.
      const secondEnd = second.getByLabel("to", { exact: true });
      await secondEnd.fill("7pm");
      await transfer.click();
      await alert.filter({ hasText: 'Window 2: the window\'s end "7pm" is not a time of day as HH:MM.' })
        .waitFor();
      assert.equal(await secondEnd.getAttribute("aria-invalid"), "true");
      assert.ok(await secondEnd.evaluate((el) => el === el.ownerDocument.activeElement), "the focus on it");
      await page.keyboard.press("ControlOrMeta+a");
      await page.keyboard.type("0000");
      await page.keyboard.press("Tab");
      assert.equal(await secondEnd.inputValue(), "00:00");
      assert.equal(await secondEnd.getAttribute("aria-invalid"), null, "the mark gone once typed");
      for (const d of ["Sat", "Sun"]) await second.getByLabel(d, { exact: true }).check();
      // A third window, removed again: it is not sent.
      await dialog.getByRole("button", { name: "Add a window" }).click();
      await dialog.getByRole("group", { name: "Window 3" }).getByLabel("from").fill("12:00");
      await dialog.getByRole("button", { name: "Remove window 3" }).click();
      assert.equal(await dialog.getByRole("group", { name: /^Window \d$/ }).count(), 2);
      // A zone the hub does not know is refused in the dialog, in the hub's words.
      await dialog.getByLabel("Time zone").fill("Mars/Olympus");
      await transfer.click();
      await alert.filter({
        hasText:
          'The time zone: "Mars/Olympus" is not an IANA time zone (e.g. Europe/Paris) or an offset ±HH:MM (+05:00).',
      }).waitFor();
      // A priority or a cap out of the hub's bounds is refused in the dialog, in words (the hub's own refusal
      // named its field, "bandwidthMbps: Number must be ..."); nothing is sent.
      await dialog.getByLabel("Time zone").fill("Europe/Paris");
      const priority = dialog.getByLabel("Priority");
      const cap = dialog.getByLabel("Bandwidth cap (Mbit/s)");
      for (const typed of ["50", "2.5"]) {
        await priority.fill(typed);
        await transfer.click();
        await alert.filter({
          hasText: `The priority is a whole number from -10 to 10 (higher goes first), not "${typed}".`,
        })
          .waitFor();
      }
      await priority.fill("3");
      for (const typed of ["1e9", "0.05"]) {
        await cap.fill(typed);
        await transfer.click();
        await alert.filter({ hasText: "The bandwidth cap is in Mbit/s, from 0.1 to 100000 (empty: none)." })
          .waitFor();
        await alert.filter({ hasText: "bandwidthMbps" }).waitFor({ state: "detached" });
      }
      // A cap between the field's steps of old (0.25) goes as typed.
      await cap.fill("0.25");
      await dialog.getByLabel("Time zone").fill("Mars/Olympus");
      await transfer.click();
      await alert.filter({
        hasText:
          'The time zone: "Mars/Olympus" is not an IANA time zone (e.g. Europe/Paris) or an offset ±HH:MM (+05:00).',
      }).waitFor();
      assert.equal(await jobs(), 0, "a refused window, priority or cap starts no job");
      await dialog.screenshot({ path: path.join(SHOTS, "windows-dialog.png") });
      assert.deepEqual(await unnamedControls(page), [], "the windows' controls without a name");

      await dialog.getByLabel("Time zone").fill("Europe/Paris");
      await transfer.click();
      await page.waitForURL(/\/transfers\/[^/]+$/);
      const id = new URL(page.url()).pathname.split("/").pop()!;
      const job = await api.transfers.get.query({ id });
      assert.deepEqual(job.window, [
        { start: "19:00", end: "07:00", timeZone: "Europe/Paris", days: ["mon", "tue", "wed", "thu", "fri"] },
        { start: "00:00", end: "00:00", timeZone: "Europe/Paris", days: ["sat", "sun"] },
      ]);
      assert.equal(job.priority, 3);
      assert.equal(job.bandwidthMbps, 0.25);
      assert.equal(await jobs(), 1);
      // The job's page shows every window with its days and zone.
      const schedule = page.getByLabel("Schedule");
      await schedule.waitFor();
      assert.match(
        await schedule.innerText(),
        /^Priority 3 · window 19:00–07:00 Mon–Fri; all day Sat, Sun \(Europe\/Paris\) · cap 0.25 Mbit\/s( · waiting for its window until .+)?$/,
      );
    });
  },
});

/**
 * A job's Objects of a study of more than a thousand, in Chromium against a real hub and agents: the first
 * 1000 shown, saying of how many, and the next on asking. Until 2026-12-06 the list held the source's first
 * 1000, silently.
 */
import assert from "node:assert/strict";
import { hasChromium } from "../support/browser.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { northAndSouthSites, withConsole } from "../support/console_rig.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { skipReason } from "../support/peers.ts";

const skip = hasChromium() ? skipReason("storescu") : "chromium not installed";
if (skip) console.warn(`transfer_objects_test: skipped: ${skip}`);

const COUNT = 1005;

Deno.test({
  name: "console: a job's objects of a large study, the first thousand and the next on asking",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // The series is written while the rig starts (north and south with the hub, while Chromium launches).
    const dir = await Deno.makeTempDir({ prefix: "transfer-objects-" });
    const writing = writeGeneratedSeries(dir, { count: COUNT, rows: 8, columns: 8, seed: "objects" });
    writing.catch(() => {}); // its failure is the test's, when awaited below
    try {
      await withConsole({ sites: northAndSouthSites() }, async ({ hub, northAndSouth, pageAs }) => {
        const { north } = await northAndSouth();
        const series = await writing;
        assert.equal((await storescu(series.paths, north, [], 120_000)).code, 0);
        const { id } = await hub.transfers.create(
          { source: { site: "north" }, destination: { site: "south" }, studies: [series.studyUid] },
          "user:ops",
        );
        await eventually(
          "the transfer done",
          async () => (await hub.transfers.get(id))?.status === "success",
          120_000,
        );
        const page = await pageAs(`/transfers/${id}`);
        const detail = page.locator('section[aria-label="Transfer detail"]');
        await detail.locator("table[aria-label=Tasks]").getByRole("button", { name: /^Objects of/ }).click();
        const rows = detail.locator("table[aria-label=Objects] tbody tr");
        await detail.getByText(`The first 1000 objects of ${COUNT}, in the order north queued them`)
          .waitFor();
        assert.equal(await rows.count(), 1000);
        const next = detail.getByRole("button", { name: "Show the next 1,000" });
        await next.click();
        await detail.getByText(`${COUNT} objects`, { exact: true }).waitFor();
        assert.equal(await rows.count(), COUNT);
        assert.equal(await next.count(), 0, "no next page once every object is shown");
      });
    } finally {
      await writing.catch(() => {}); // not removed from under its writer
      await Deno.remove(dir, { recursive: true });
    }
  },
});

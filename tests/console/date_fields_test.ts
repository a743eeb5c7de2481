/**
 * The explorer's From and To are typed in the order of the user's language (the rig's browser is en-GB:
 * dd/mm/yyyy), kept in the URL as ISO dates and shown back in that order; a date that is none is refused
 * and tied to its field; so are the audit filter's From and Before (a date, then a time). Chromium draws
 * `<input type=date>` month first whatever the page's `lang` and the browser's preferred languages (its
 * display language decides, en-US in Debian's package), so the console does not use it. Chromium
 * (Playwright) against a real hub.
 */
import assert from "node:assert/strict";
import { assertTiedToError, hasChromium, LOCALE, logIn } from "../support/browser.ts";
import { withConsole } from "../support/console_rig.ts";

const skip = hasChromium() ? undefined : "chromium not installed";
if (skip) console.warn(`date_fields_test: skipped: ${skip}`);

Deno.test({
  name:
    "console: the explorer's and the audit filter's dates are typed and shown day first in an en-GB browser",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    assert.equal(LOCALE, "en-GB", "the rig's browser is British");
    await withConsole({}, async ({ hub, browser }) => {
      await hub.users.add("boss", "admin", "admin password");
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${hub.port}/explorer`);
      await logIn(page, "boss", "admin password");
      const form = page.getByRole("form", { name: "Find studies" });
      const from = form.getByLabel("From", { exact: true }), to = form.getByLabel("To", { exact: true });
      assert.equal(await from.getAttribute("placeholder"), "dd/mm/yyyy");
      await from.fill("03/02/2020");
      await to.fill("1.3.2020");
      await form.getByRole("button", { name: "Search" }).click();
      await page.waitForURL((u) => u.searchParams.get("from") === "2020-02-03");
      assert.equal(new URL(page.url()).searchParams.get("to"), "2020-03-01");
      // Shown back in the user's order, after a reload too.
      await page.reload();
      await from.waitFor();
      assert.equal(await from.inputValue(), "03/02/2020");
      assert.equal(await to.inputValue(), "01/03/2020");
      // The 31st of February is no date: said, tied to its field, and nothing searched.
      await to.fill("31/02/2020");
      await form.getByRole("button", { name: "Search" }).click();
      await assertTiedToError(to, /^The To date "31\/02\/2020" is not a date: type it as dd\/mm\/yyyy/, "To");
      assert.equal(new URL(page.url()).searchParams.get("to"), "2020-03-01");

      // The audit filter's From and Before: a date and a time, in the browser's zone (London: GMT in March).
      await page.goto(`http://127.0.0.1:${hub.port}/admin`);
      const audit = page.getByRole("form", { name: "Filter the audit log" });
      const since = audit.getByLabel("From", { exact: true }), before = audit.getByLabel("Before");
      assert.equal(await since.getAttribute("placeholder"), "dd/mm/yyyy hh:mm");
      await since.fill("01/03/2026 08:00");
      await before.fill("3/3/2026");
      await audit.getByRole("button", { name: "Filter" }).click();
      await page.waitForURL((u) => u.searchParams.get("from") === "2026-03-01T08:00:00.000Z");
      assert.equal(new URL(page.url()).searchParams.get("to"), "2026-03-03T00:00:00.000Z");
      await page.reload();
      await since.waitFor();
      assert.equal(await since.inputValue(), "01/03/2026 08:00");
      assert.equal(await before.inputValue(), "03/03/2026 00:00");
      await before.fill("03/03/2026 24:00");
      await audit.getByRole("button", { name: "Filter" }).click();
      await assertTiedToError(
        before,
        /^The Before time "03\/03\/2026 24:00" is not a date and time/,
        "Before",
      );
    });
  },
});

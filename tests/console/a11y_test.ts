/**
 * axe-core (tests/support/axe.ts) finds no moderate, serious or critical violation of WCAG 2.2 A/AA or axe's
 * best practices on any screen of the console, nor in its dialogs, in the light scheme and the dark, and every
 * field's border shows against the page (3:1); each screen is named (title, heading), says its time zone; the
 * keyboard skips to the screen and lands on a screen followed to; a dialog takes and gives back the focus; a
 * job's change of state is said; a refused value in the transfer dialog is tied to its field. A real hub, two
 * agents, a study at north transferred to south, in Chromium (Playwright).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { skipReason } from "../support/peers.ts";
import { sendGenerated } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { focused, hasChromium, logIn, nav, waitForOnPage } from "../support/browser.ts";
import { axeViolations } from "../support/axe.ts";
import type { Page } from "playwright-core";

const skip = hasChromium() ? skipReason("storescu") : "chromium not installed";
if (skip) console.warn(`a11y_test: skipped: ${skip}`);

/** The id of the element that has the keyboard's focus. */
const focusedId = (page: Page): Promise<string> =>
  // deno-lint-ignore no-explicit-any
  page.evaluate(() => (globalThis as any).document.activeElement?.id ?? "");

/**
 * The page's text fields, selects and text areas whose border is under 3:1 against the page (WCAG 1.4.11,
 * which axe does not check): "input[name=patient] 1.31:1".
 */
function faintFields(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    const luminance = (css: string) => {
      const [r, gr, b] = css.match(/[\d.]+/g)!.slice(0, 3).map((v: string) => {
        const c = Number(v) / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * gr + 0.0722 * b;
    };
    const page = luminance(g.getComputedStyle(g.document.body).backgroundColor);
    const out: string[] = [];
    // deno-lint-ignore no-explicit-any
    g.document.querySelectorAll("input, select, textarea").forEach((el: any) => {
      if (["checkbox", "radio", "file", "hidden"].includes(el.type) || !el.offsetParent) return;
      const border = luminance(g.getComputedStyle(el).borderTopColor);
      const ratio = (Math.max(page, border) + 0.05) / (Math.min(page, border) + 0.05);
      if (ratio < 3) out.push(`${el.tagName.toLowerCase()}[name=${el.name}] ${ratio.toFixed(2)}:1`);
    });
    return out;
  });
}

/** axe on the page as it is, light and dark: serious and critical violations, and moderate ones. */
async function check(page: Page, where: string, include?: string): Promise<string[]> {
  const found: string[] = [];
  for (const colorScheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme });
    found.push(...(await faintFields(page)).map((f) => `${where} (${colorScheme}): faint field border ${f}`));
    found.push(
      ...await axeViolations(page, `${where} (${colorScheme})`, {
        include,
        impacts: ["moderate", "serious", "critical"],
      }),
    );
  }
  await page.emulateMedia({ colorScheme: "light" });
  return found;
}

Deno.test({
  name: "the console is usable by keyboard and screen reader: axe finds nothing on any screen or dialog",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // North and south start together, with the hub, while Chromium launches.
    const sites = { north: { aet: "NORTH" }, south: { aet: "SOUTH" } };
    await withConsole({ sites }, async ({ hub, browser, sites: { north } }) => {
      await hub.registry.add("east");
      await hub.registry.enroll((await hub.registry.add("west")).enrollmentToken); // enrolled, offline
      await eventually("both online", () => hub.sessions.get("north") && hub.sessions.get("south"));
      const [sop] = await sendGenerated(north, "a11y", "CT", 2);
      await hub.users.add("boss", "admin", "admin password");
      const base = `http://127.0.0.1:${hub.port}`;
      // Playwright's clock (time flows as it does): the test moves it on to a list's next refresh.
      await browser.clock.install();
      const page = await browser.newPage();
      const found: string[] = [];

      await page.goto(`${base}/`);
      await page.getByLabel("User", { exact: true }).waitFor();
      found.push(...await check(page, "login"));
      assert.equal(await page.title(), "Log in · Conduit");
      await logIn(page, "boss", "admin password");

      await page.goto(`${base}/explorer?site=north`);
      const row = page.locator("table[aria-label=Studies] tbody tr[data-study]").first();
      await row.waitFor();
      const studyUid = (await row.getAttribute("data-study"))!;
      assert.ok(sop);
      const { id: job } = await hub.transfers.create(
        { source: { site: "north" }, destination: { site: "south" }, studies: [studyUid] },
        "user:boss",
      );
      // Each screen: its name (the tab's title and its level-one heading) and what it shows once drawn.
      const screens: [string, string, string][] = [
        ["Dashboard", "/", 'table[aria-label=Sites] tr[data-site="north"]'],
        ["Explorer", "/explorer?site=north", `table[aria-label=Studies] tr[data-study="${studyUid}"]`],
        ["Study at north", `/studies/north/${studyUid}`, "section[aria-label=Study] h1"],
        ["Transfers", "/transfers", `table[aria-label=Transfers] tr[data-transfer="${job}"]`],
        [`Transfer ${job}`, `/transfers/${job}`, `table[aria-label=Tasks] tr[data-study="${studyUid}"] a`],
        ["Sites", "/sites", 'table[aria-label=Sites] tr[data-site="east"]'],
        ["Site north", "/sites/north", 'section[aria-label="Site north"]'],
        ["Batch", "/batch", "input[type=file]"],
        ["Admin", "/admin", "table[aria-label=Users] tr[data-user=boss]"],
      ];
      for (const [name, path, ready] of screens) {
        await page.goto(`${base}${path}`);
        await waitForOnPage(page, ready);
        found.push(...await check(page, name));
        assert.equal(await page.title(), `${name} · Conduit`, `${path}: the tab's title`);
        assert.equal(await page.getByRole("main", { name }).count(), 1, `${path}: main named ${name}`);
        const zone = await page.getByRole("contentinfo").innerText();
        assert.match(
          zone,
          /^Times are in your browser's time zone, Europe\/London \(GMT(\+[01])?\)\.$/,
          `${path} says the zone its times are in (the rig's browser's, Europe/London): ${zone}`,
        );
      }

      // The keyboard: the header's first stop skips to the screen; a tab followed with Enter puts the focus
      // on the new screen (a screen reader reads its name), and Back names the screen it returns to.
      await page.goto(`${base}/explorer?site=north`);
      await waitForOnPage(page, "table[aria-label=Studies] tbody tr[data-study]");
      await page.keyboard.press("Tab");
      assert.equal(await focused(page), "Skip to the screen");
      assert.ok(
        await page.getByRole("link", { name: "Skip to the screen" }).isVisible(),
        "seen when focused",
      );
      await page.keyboard.press("Enter");
      assert.equal(await focusedId(page), "main");
      // Tab goes on through the screen (25 stops, or to its end), each stop drawn with a focus ring (no trap,
      // no invisible focus).
      const stops: string[] = [];
      for (let i = 0; i < 25; i++) {
        await page.keyboard.press("Tab");
        const stop = await page.evaluate(() => {
          // deno-lint-ignore no-explicit-any
          const g = globalThis as any, el = g.document.activeElement, style = g.getComputedStyle(el);
          // A date field's calendar button is drawn by Chromium inside the field, its ring with it.
          const inside = /^(date|time|datetime-local)$/.test(el.type ?? "");
          const ring = inside || (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0);
          // Past the page's last stop the focus leaves the page (the body): the end of the walk.
          if (el === g.document.body) return undefined;
          const what = el.getAttribute("aria-label") || el.name || el.textContent.trim().slice(0, 30);
          return `${el.tagName.toLowerCase()} ${what}${ring ? "" : " (no ring)"}`;
        });
        if (stop === undefined) break;
        stops.push(stop);
      }
      assert.deepEqual(stops.filter((s) => s.endsWith("(no ring)")), [], stops.join("; "));
      assert.ok(new Set(stops).size >= 15, `Tab moves on: ${stops.join("; ")}`);
      await nav(page, "Transfers").focus();
      await page.keyboard.press("Enter");
      await waitForOnPage(page, `table[aria-label=Transfers] tr[data-transfer="${job}"]`);
      assert.equal(await page.title(), "Transfers · Conduit");
      assert.equal(await focusedId(page), "main", "the focus is on the screen followed to");
      await page.goBack();
      await page.getByRole("main", { name: "Explorer" }).waitFor();
      assert.equal(await page.title(), "Explorer · Conduit");
      assert.equal(await focusedId(page), "main");

      // A list refreshing itself (every 5 s) changes a row in place: the keyboard's focus on it stays.
      const { id: queued } = await hub.transfers.create(
        { source: { site: "west" }, destination: { site: "south" }, studies: ["1.2.826.0.1.3680043.9.8"] },
        "user:boss",
      );
      await page.goto(`${base}/transfers`);
      const queuedRow = page.locator(`table[aria-label=Transfers] tr[data-transfer="${queued}"]`);
      await queuedRow.getByText("Waiting to start").waitFor();
      await queuedRow.getByRole("link").focus();
      await hub.transfers.cancel(queued, "user:boss");
      await page.clock.fastForward(5_000); // the list's next refresh, now
      await queuedRow.getByText("Canceled").waitFor({ timeout: 15_000 });
      assert.ok(
        await queuedRow.getByRole("link").evaluate((a) => a === a.ownerDocument.activeElement),
        "the focus is still on the row's link after the refresh",
      );

      // A job's state that changes while its page is open is said in a live region (not on opening it): a
      // job from west, offline, waits until canceled elsewhere.
      const { id: waiting } = await hub.transfers.create(
        { source: { site: "west" }, destination: { site: "south" }, studies: ["1.2.826.0.1.3680043.9.7"] },
        "user:boss",
      );
      await page.goto(`${base}/transfers/${waiting}`);
      await page.locator('section[aria-label="Transfer detail"][data-status="pending"]').waitFor();
      const live = page.locator("main p.sr-only[role=status]");
      assert.equal(await live.textContent(), "", "nothing said on opening the job");
      await hub.transfers.cancel(waiting, "user:boss");
      await live.filter({ hasText: "The transfer from west to south is now Canceled." }).waitFor({
        timeout: 15_000,
      });

      // The explorer's transfer dialog, pseudonymizing, its schedule and custom profile open.
      await page.goto(`${base}/explorer?site=north`);
      await page.locator(`tr[data-study="${studyUid}"] input[type=checkbox]`).check();
      const form = page.getByRole("form", { name: "Transfer" });
      await form.getByLabel("Pseudonymize at the source").check();
      await form.getByText("Custom profile", { exact: true }).click();
      await form.getByText("Schedule and limits", { exact: true }).click();
      await form.getByLabel("Or load a file").waitFor();
      found.push(...await check(page, "explorer, transfer dialog"));
      // A value the dialog refuses: the field it is about marked invalid, described by the sentence, focused;
      // one in a closed section (Schedule and limits) opens it.
      const transfer = form.getByRole("button", { name: "Transfer", exact: true });
      const refusedAt = async (label: string, reason: RegExp) => {
        await transfer.focus();
        await page.keyboard.press("Enter");
        const input = form.getByLabel(label, { exact: true });
        await eventually(
          `${label} marked invalid`,
          async () => (await input.getAttribute("aria-invalid")) ?? undefined,
        );
        const why = page.locator(`[id="${await input.getAttribute("aria-describedby")}"]`);
        assert.match(await why.innerText(), reason);
        assert.equal(await why.getAttribute("role"), "alert");
        assert.ok(
          await input.evaluate((i) => i === i.ownerDocument.activeElement),
          `the focus is on ${label}`,
        );
      };
      await form.getByLabel("Destination").selectOption("south");
      await form.getByLabel("Priority").fill("11");
      await refusedAt("Priority", /^The priority is a whole number from -10 to 10/);
      await form.getByLabel("Priority").fill("");
      await form.getByLabel("Bandwidth cap (Mbit/s)").fill("0");
      await form.getByText("Schedule and limits", { exact: true }).click(); // closed again
      await refusedAt("Bandwidth cap (Mbit/s)", /^The bandwidth cap is in Mbit\/s/);
      assert.equal(await form.getByLabel("Priority").getAttribute("aria-invalid"), null, "fixed: unmarked");
      await form.getByLabel("Bandwidth cap (Mbit/s)").fill("");
      // A study's series under its row.
      await page.locator(`tr[data-study="${studyUid}"]`).getByRole("button", { name: "Series" }).click();
      await page.locator("table[aria-label=Series] tbody tr").first().waitFor();
      found.push(...await check(page, "explorer, series"));

      // The batch preview.
      await page.goto(`${base}/batch`);
      await page.getByLabel("File").setInputFiles({
        name: "rows.csv",
        mimeType: "text/csv",
        buffer: Buffer.from("Patient ID,Study Date,Modality\nPAT0001,yesterday,CT\nPAT0002,,MR\n"),
      });
      await page.locator('table[aria-label=Rows] tr[data-row="2"]').waitFor();
      found.push(...await check(page, "batch preview"));

      // Dialogs: the account, a new site's token, a new API token, a confirmation.
      // A dialog opened with the keyboard takes the focus, and gives it back to its opener on Escape.
      await page.goto(`${base}/admin`);
      await page.getByRole("button", { name: "Account" }).focus();
      await page.keyboard.press("Enter");
      await page.getByRole("dialog", { name: "Account: boss" }).waitFor();
      assert.ok(
        await page.getByRole("dialog", { name: "Account: boss" }).evaluate((d) =>
          d.contains((d.ownerDocument as unknown as { activeElement: unknown }).activeElement as never)
        ),
        "the focus is in the dialog",
      );
      found.push(...await check(page, "account dialog"));
      await page.keyboard.press("Escape");
      assert.equal(await focused(page), "Account", "the focus is back on the dialog's opener");
      const tokenForm = page.locator("form", { has: page.getByRole("button", { name: "Create token" }) });
      await tokenForm.getByLabel("Name").fill("a11y");
      await tokenForm.getByRole("button", { name: "Create token" }).click();
      await page.getByRole("dialog", { name: "API token a11y" }).waitFor();
      found.push(...await check(page, "token dialog"));
      await page.keyboard.press("Escape");
      await page.getByRole("button", { name: /^Revoke the token/ }).first().click();
      await page.getByRole("alertdialog").waitFor();
      found.push(...await check(page, "confirmation"));
      await page.keyboard.press("Escape");
      await page.goto(`${base}/sites`);
      const siteForm = page.locator("form", { has: page.getByRole("button", { name: "Add site" }) });
      await siteForm.getByLabel("New site").fill("harbour");
      await siteForm.getByRole("button", { name: "Add site" }).click();
      await page.getByRole("dialog").waitFor();
      found.push(...await check(page, "enrollment dialog"));

      assert.deepEqual(found, [], `axe violations:\n${found.join("\n")}`);
    });
  },
});

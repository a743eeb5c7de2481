/**
 * The console's Sites screen rotates a site's credential (admins only, after a confirmation): the
 * connected agent's credential file changes, the site's page says when, and the audit log names who;
 * and sets (admins only) the site's uplink and downlink caps (docs/transfers.md, site uplink and downlink caps),
 * which the Sites list (and the dashboard's) shows to every role in its Caps column, "none" when unset.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { hasChromium, logIn, nav } from "../support/browser.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { recent } from "../../hub/auth/audit.ts";

const skip = hasChromium() ? undefined : "chromium not installed";
if (skip) console.warn(`console rotate_test: skipped: ${skip}`);

Deno.test({
  name: "the console rotates a site's credential after a confirmation; an operator is not offered it",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser, startAgent }) => {
      const agent = await startAgent("north");
      await eventually("north online", () => hub.sessions.get("north"));
      const file = path.join(agent.dataDir, "hub-credential.json");
      const before = JSON.parse(await Deno.readTextFile(file)).credential;
      await hub.users.add("ops", "operator", "operator password");
      await hub.users.add("boss", "admin", "admin password");
      const url = `http://127.0.0.1:${hub.port}/`;

      const page = await browser.newPage();
      await page.goto(`${url}sites`);
      await logIn(page, "ops", "operator password");
      await page.locator('tr[data-site="north"] .state-online').waitFor({ timeout: 15_000 });
      assert.equal(await page.getByRole("button", { name: "Rotate credential" }).count(), 0);
      /** Waits for the Caps cell of north's row in the Sites table shown to read `text`, whole. */
      const capsOfNorth = async (text: string) => {
        const cell = page.locator('table[aria-label=Sites] tr[data-site="north"] td.caps');
        const whole = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`);
        try {
          await cell.filter({ hasText: whole }).waitFor({ timeout: 15_000 });
        } catch (err) {
          throw new Error(`north's caps are not "${text}": ${await cell.allInnerTexts()}`, { cause: err });
        }
      };
      // The Sites list shows every role the caps, readable when there are none.
      await capsOfNorth("none");
      const headers = await page.locator("table[aria-label=Sites] thead th").allInnerTexts();
      assert.ok(headers.includes("Caps"), headers.join("|"));
      // Nor the site's uplink and downlink caps: they show, and only an admin sets them.
      await page.goto(`${url}sites/north`);
      await page.getByText(/uplink cap none, downlink cap none/).waitFor();
      assert.equal(await page.getByRole("button", { name: /^Set the (up|down)link cap$/ }).count(), 0);
      await page.getByRole("button", { name: "Log out" }).click();

      await logIn(page, "boss", "admin password");
      await nav(page, "Sites").click();
      const row = page.locator('tr[data-site="north"]');
      await row.locator(".state-online").waitFor({ timeout: 15_000 });
      // Keep it: nothing changes.
      await row.getByRole("button", { name: "Rotate credential" }).click();
      const dialog = page.getByRole("alertdialog", { name: "Rotate the credential of the site north?" });
      await dialog.getByRole("button", { name: "Keep it" }).click();
      await dialog.waitFor({ state: "detached" });
      assert.equal(JSON.parse(await Deno.readTextFile(file)).credential, before);

      await row.getByRole("button", { name: "Rotate credential" }).click();
      await dialog.getByRole("button", { name: "Rotate the credential" }).click();
      await page.getByRole("status").filter({ hasText: "site north has a new credential" }).waitFor();
      const after = JSON.parse(await Deno.readTextFile(file)).credential;
      assert.notEqual(after, before);
      assert.ok(!(await page.content()).includes(after.split(".").at(-1)), "the page shows no credential");

      await row.getByRole("link", { name: "Details" }).click();
      await page.getByText(/credential rotated /).waitFor();
      const entry = (await recent(hub.db)).find((e) => e.action === "site.rotate");
      assert.equal(entry?.actor, "user:boss");
      assert.equal(entry?.target, "north");

      // The uplink cap: set on the site's page, shown there, in the API and the audit log; then cleared.
      await page.getByLabel("Uplink cap (Mbit/s)").fill("8");
      await page.getByRole("button", { name: "Set the uplink cap" }).click();
      await page.getByRole("status").filter({ hasText: "north: uplink capped at 8 Mbit/s" }).waitFor();
      await page.getByText(/uplink cap 8 Mbit\/s/).waitFor();
      assert.equal((await hub.registry.list()).find((s) => s.site === "north")?.uplinkMbps, 8);
      const capped = (await recent(hub.db)).find((e) => e.action === "site.uplink");
      assert.equal(capped?.actor, "user:boss");
      assert.deepEqual(capped?.detail, { uplinkMbps: 8 });
      await page.getByLabel("Uplink cap (Mbit/s)").fill("0.01");
      await page.getByRole("button", { name: "Set the uplink cap" }).click();
      await page.getByRole("alert").filter({ hasText: "from 0.1 to 100000" }).waitFor();
      await page.getByLabel("Uplink cap (Mbit/s)").fill("");
      await page.getByRole("button", { name: "Set the uplink cap" }).click();
      await page.getByRole("status").filter({ hasText: "north: no uplink cap" }).waitFor();
      await page.getByText(/uplink cap none/).waitFor();

      // The downlink cap, next to it: set, shown with the uplink's untouched, in the API and the audit log.
      await page.getByLabel("Uplink cap (Mbit/s)").fill("4");
      await page.getByRole("button", { name: "Set the uplink cap" }).click();
      await page.getByRole("status").filter({ hasText: "north: uplink capped at 4 Mbit/s" }).waitFor();
      await page.getByLabel("Downlink cap (Mbit/s)").fill("2.5");
      await page.getByRole("button", { name: "Set the downlink cap" }).click();
      await page.getByRole("status").filter({ hasText: "north: downlink capped at 2.5 Mbit/s" }).waitFor();
      await page.getByText(/uplink cap 4 Mbit\/s, downlink cap 2\.5 Mbit\/s/).waitFor();
      // The list above shows them too (refreshed by the change), and so do the Sites screen and the dashboard.
      await capsOfNorth("up 4 Mbit/s, down 2.5 Mbit/s");
      await nav(page, "Sites").click();
      await capsOfNorth("up 4 Mbit/s, down 2.5 Mbit/s");
      await nav(page, "Dashboard").click();
      await capsOfNorth("up 4 Mbit/s, down 2.5 Mbit/s");
      await page.goto(`${url}sites/north`);
      const north = (await hub.registry.list()).find((s) => s.site === "north");
      assert.deepEqual([north?.uplinkMbps, north?.downlinkMbps], [4, 2.5]);
      const down = (await recent(hub.db)).find((e) => e.action === "site.downlink");
      assert.equal(down?.actor, "user:boss");
      assert.deepEqual(down?.detail, { downlinkMbps: 2.5 });
      await page.getByLabel("Downlink cap (Mbit/s)").fill("200000");
      await page.getByRole("button", { name: "Set the downlink cap" }).click();
      await page.getByRole("alert").filter({ hasText: "The downlink cap is in Mbit/s, from 0.1 to 100000" })
        .waitFor();
      await page.getByLabel("Downlink cap (Mbit/s)").fill("");
      await page.getByRole("button", { name: "Set the downlink cap" }).click();
      await page.getByRole("status").filter({ hasText: "north: no downlink cap" }).waitFor();
      await page.getByText(/uplink cap 4 Mbit\/s, downlink cap none/).waitFor();
      await capsOfNorth("up 4 Mbit/s, down none");
      assert.equal((await hub.registry.list()).find((s) => s.site === "north")?.uplinkMbps, 4);

      // What an admin is typing into a cap stays while the page refreshes its sites (every 5 s, or here a
      // change made elsewhere, shown once fetched): it was wiped at each refresh before.
      await page.getByLabel("Downlink cap (Mbit/s)").fill("3");
      await hub.registry.setUplink("north", 6, "cli");
      await page.getByText(/uplink cap 6 Mbit\/s, downlink cap none/).waitFor();
      await capsOfNorth("up 6 Mbit/s, down none");
      assert.equal(await page.getByLabel("Uplink cap (Mbit/s)").inputValue(), "6", "the new cap, shown");
      assert.equal(await page.getByLabel("Downlink cap (Mbit/s)").inputValue(), "3", "what was typed, kept");
      await page.getByRole("button", { name: "Set the downlink cap" }).click();
      await page.getByRole("status").filter({ hasText: "north: downlink capped at 3 Mbit/s" }).waitFor();
      await capsOfNorth("up 6 Mbit/s, down 3 Mbit/s");
    });
  },
});

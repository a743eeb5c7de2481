/**
 * The Admin screen's audit log as an auditor uses it, in Chromium (Playwright) against a real hub: filter
 * fields above the table (who, what in words, on what, from, before) kept in the URL's query, so a filtered
 * view survives a reload and can be shared (a link opens on it, its fields filled); pages of a filter keep
 * it; a filter the hub refuses says why; Download CSV gives the filtered entries, the file the hub writes
 * (`audit.csv`), and is itself audited (who, how many entries, the filter, in words); each entry's detail in
 * words in its own column (the cap set, the role given, the address logged in from).
 */
import assert from "node:assert/strict";
import { hasChromium, logIn, shoot, watchCsp } from "../support/browser.ts";
import { withConsole } from "../support/console_rig.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { audit } from "../../hub/db/schema.ts";

const skip = hasChromium() ? undefined : "chromium not installed";
if (skip) console.warn(`audit_console_test: skipped: ${skip}`);

// March 2026: London is on UTC (the browser's zone, tests/support/browser.ts), so its local times are UTC's.
const T0 = Date.parse("2026-03-01T08:00:00Z");
const DAY = 24 * 60 * 60_000;

Deno.test({
  name: "console: the audit log filtered by who, what, on what and when, in the URL; paged; Download CSV",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser }) => {
      const base = `http://127.0.0.1:${hub.port}`;
      await hub.users.add("boss", "admin", "admin password");
      const api = createConduitClient({ url: base, token: (await hub.tokens.create("t", "admin")).token });
      await hub.db.insert(audit).values([
        { at: T0, actor: "user:alice", action: "site.add", target: "north", detail: null },
        {
          at: T0 + 60_000,
          actor: "user:alice",
          action: "site.uplink",
          target: "north",
          detail: '{"uplinkMbps":5}',
        },
        { at: T0 + DAY, actor: "user:alice", action: "site.revoke", target: "north", detail: null },
        {
          at: T0 + DAY,
          actor: "user:alice",
          action: "user.add",
          target: "carol",
          detail: '{"role":"viewer"}',
        },
        { at: T0 + 2 * DAY, actor: "user:bob", action: "site.add", target: "south", detail: null },
        // A page and a bit of bob's logins, a minute apart.
        ...Array.from({ length: 105 }, (_, i) => ({
          at: T0 + 3 * DAY + i * 60_000,
          actor: "user:bob",
          action: "login",
          target: null,
          detail: JSON.stringify({ address: `10.0.0.${i}` }),
        })),
      ]);

      const page = await browser.newPage();
      const violations = watchCsp(page);
      await page.goto(`${base}/admin`);
      await logIn(page, "boss", "admin password");
      const form = page.getByRole("form", { name: "Filter the audit log" });
      const rows = page.locator("table[aria-label=Audit] tbody tr");
      /** The table's rows as When, Who, What, On. */
      const table = async () =>
        (await rows.allInnerTexts()).map((t: string) => t.split("\t").map((c: string) => c.trim()));
      /** Waits for the table to show `n` rows, the first with `what`; says what it shows instead. */
      const shows = async (what: string, n: number) => {
        try {
          await page.waitForFunction(
            ([first, count]) => {
              // deno-lint-ignore no-explicit-any
              const trs = (globalThis as any).document.querySelectorAll("table[aria-label=Audit] tbody tr");
              return trs.length === count && trs[0]?.innerText.includes(first);
            },
            [what, n] as [string, number],
            { timeout: 20_000 },
          );
        } catch (err) {
          const t = await table();
          throw new Error(
            `not ${n} rows from "${what}" at ${page.url()}: ${t.length} rows, ${
              JSON.stringify(t.slice(0, 3))
            }`,
            { cause: err },
          );
        }
      };
      await rows.first().waitFor();

      // Who (a bare name is a user) and what (a kind of entry, in words): alice's changes to sites.
      await form.getByLabel("Who").fill("alice");
      await form.getByLabel("What").selectOption({ label: "Any change to a site" });
      await form.getByRole("button", { name: "Filter" }).click();
      await page.waitForURL((u) => u.searchParams.get("actor") === "user:alice");
      assert.equal(new URL(page.url()).searchParams.get("action"), "site.");
      await shows("Revoked the site", 3);
      assert.deepEqual((await table()).map((r) => r.slice(1)), [
        ["alice", "Revoked the site", "north", ""],
        ["alice", "Set the uplink cap of the site", "north", "uplink cap 5 Mbit/s"],
        ["alice", "Added the site", "north", ""],
      ]);
      await shoot(page, "admin-audit-filter");

      // The view survives a reload, its fields filled as the URL says.
      await page.reload();
      await shows("Revoked the site", 3);
      assert.equal(await form.getByLabel("Who").inputValue(), "user:alice");
      assert.equal(await form.getByLabel("What").inputValue(), "site.");

      // When: from (inclusive) and before (exclusive), in the browser's time; with one action, in words.
      await form.getByLabel("What").selectOption({ label: "Added the site" });
      await form.getByLabel("Who").fill("");
      await form.getByLabel("From").fill("2026-03-01T08:00");
      await form.getByLabel("Before").fill("2026-03-03T08:00");
      await form.getByRole("button", { name: "Filter" }).click();
      await page.waitForURL((u) => u.searchParams.get("from") === "2026-03-01T08:00:00.000Z");
      const q = new URL(page.url()).searchParams;
      assert.equal(q.get("to"), "2026-03-03T08:00:00.000Z");
      assert.equal(q.get("action"), "site.add");
      assert.equal(q.has("actor"), false, "an empty field is no filter");
      await shows("north", 1);
      assert.deepEqual((await table())[0].slice(1), ["alice", "Added the site", "north", ""]);

      // A shared link opens on its view: on what, and a page of a filter that keeps it.
      await page.goto(`${base}/admin?target=carol`);
      await shows("Added the user", 1);
      assert.deepEqual((await table())[0].slice(1), ["alice", "Added the user", "carol", "role viewer"]);
      assert.equal(await form.getByLabel("On").inputValue(), "carol");
      await page.goto(`${base}/admin?actor=user%3Abob&action=login`);
      await shows("Logged in", 100);
      const pages = page.getByRole("navigation", { name: "Pages of the audit log" });
      await pages.getByRole("button", { name: "Older" }).click();
      await page.waitForURL((u) => u.searchParams.get("audit") === "2");
      assert.equal(
        new URL(page.url()).searchParams.get("actor"),
        "user:bob",
        "the next page keeps the filter",
      );
      await shows("Logged in", 5);
      await page.reload();
      await shows("Logged in", 5);
      assert.match(await pages.innerText(), /entries 101–105/);

      // Download CSV: the entries of the filter shown, as the hub writes them.
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        form.getByRole("button", { name: "Download CSV" }).click(),
      ]);
      assert.match(download.suggestedFilename(), /^audit-\d{8}T\d{6}Z\.csv$/);
      const bytes = await Deno.readFile((await download.path())!);
      const expected = await api.audit.csv.query({ actor: "user:bob", action: "login" });
      // The hub's file as it is, UTF-8's byte order mark first (Excel reads it as UTF-8 then).
      assert.deepEqual(bytes, Uint8Array.from(atob(expected.contentBase64), (c) => c.charCodeAt(0)));
      assert.deepEqual([...bytes.slice(0, 3)], [0xef, 0xbb, 0xbf]);
      const csv = new TextDecoder().decode(bytes);
      assert.equal(
        csv.trimEnd().split("\r\n").length,
        106,
        "a header and a row per entry, every page of them",
      );
      await page.getByText(/: 105 entries$/).waitFor();

      // A filter the hub refuses (a hand-edited time) says why; Clear shows everything again.
      await page.goto(`${base}/admin?from=last%20week`);
      await page.getByRole("alert").filter({ hasText: /from: not an ISO 8601 instant/ }).waitFor();
      await form.getByRole("button", { name: "Clear" }).click();
      await page.waitForURL((u) => u.search === "");
      // The newest: the two exports of bob's logins (boss's download, then the API's), audited, in words.
      await shows("Exported the audit log", 100);
      const exported = "105 entries as CSV, filtered by actor user:bob, action login";
      assert.deepEqual((await table()).slice(0, 3).map((r) => r.slice(1)), [
        ["API token t", "Exported the audit log", "", exported],
        ["boss", "Exported the audit log", "", exported],
        ["boss", "Logged in", "", "from 127.0.0.1"],
      ]);
      await form.getByLabel("What").selectOption({ label: "Exports of the audit log" });
      await form.getByRole("button", { name: "Filter" }).click();
      await page.waitForURL((u) => u.searchParams.get("action") === "audit.");
      await shows("Exported the audit log", 2);
      assert.equal(await form.getByLabel("From").inputValue(), "");
      assert.deepEqual(violations, [], "the download and the rest within the Content-Security-Policy");
    });
  },
});

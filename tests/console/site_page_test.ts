/**
 * A site's page as a careful user reads it, in Chromium against a real hub and agent: its nodes and dead
 * letter are read from its agent, so for a site waiting to enroll, offline or revoked the page says why they
 * are not shown (it said "No node configured" and "Nothing in the dead letter", under an error saying the
 * site was not connected, or that the revoked site it showed did not exist); a site that does not exist is
 * only that; an online site without nodes says so. And the screen a role may not use names the role with its
 * article ("an operator"); the Admin screen says when there is no API token rather than show an empty table.
 * Its conflicts (objects received again with other bytes, from a real agent and storescu) are listed newest
 * first, a page at a time, and resolved by Keep received / Keep stored after a confirmation; an agent too old
 * to list them is not asked, and the section says so.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { hasChromium, logIn } from "../support/browser.ts";
import { eventually } from "../support/hub.ts";
import { type ConsoleRig, startConsole } from "../support/console_rig.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { conflictingCopies, datasetSha256, sopOf } from "../support/conflicts.ts";
import { indexRows } from "../support/agent.ts";
import { olderAgent } from "../support/older_agent.ts";
import { skipReason } from "../support/peers.ts";
import { storescu } from "../support/send.ts";

const skip = hasChromium() ? undefined : "chromium not installed";
if (skip) console.warn(`site_page_test: skipped: ${skip}`);

// One console rig (hub, Chromium, north keeping both copies of a conflict) for the file's tests: north starts
// with the hub while Chromium launches. The conflicts test runs second: north has recorded no conflict before
// it. Each test uses sites and users of its own and starts logged out.
const shared = sharedRig<{ rig: ConsoleRig; stop(): Promise<unknown[]> }>({
  skip,
  setUp: () => startConsole({ sites: { north: { config: { archive: { duplicates: "keepBoth" } } } } }),
  async stop({ stop }) {
    const failures = await stop();
    if (failures.length) throw failures[0];
  },
});

shared.test(
  "console: a site's page says why its nodes and dead letter are not shown; an unknown site is only that",
  async ({ rig: { hub, browser } }) => {
    await browser.clearCookies();
    await eventually("north online", () => hub.sessions.get("north"));
    await hub.registry.add("east"); // waits for its agent
    await hub.registry.enroll((await hub.registry.add("south")).enrollmentToken); // enrolled, offline
    await hub.registry.add("gone");
    await hub.registry.revoke("gone");
    await hub.users.add("ops", "operator", "operator password");
    const base = `http://127.0.0.1:${hub.port}`;
    const page = await browser.newPage();
    await page.goto(`${base}/sites`);
    await logIn(page, "ops", "operator password");
    const card = (site: string) => page.getByRole("region", { name: `Site ${site}` });
    /** The site's card once it shows `text`, as its text. */
    const shows = async (site: string, text: string | RegExp) => {
      await page.goto(`${base}/sites/${site}`);
      await card(site).getByText(text).waitFor();
      return await card(site).innerText();
    };

    const online = await shows("north", "No node configured at this site (nodes: in its agent config).");
    assert.match(online, /north: nodes/);
    await card("north").getByText("Nothing in the dead letter.").waitFor();
    await card("north").getByText("No conflict recorded: no object was received again with other bytes.")
      .waitFor();

    for (
      const [site, why] of [
        [
          "east",
          "east waits for its agent to enroll: its nodes, dead letter and conflicts show once it has.",
        ],
        [
          "south",
          "south is offline: its nodes, dead letter and conflicts are read from its agent, and show when it is back.",
        ],
        [
          "gone",
          "gone is revoked: its agent is refused, so its nodes, dead letter and conflicts cannot be read.",
        ],
      ]
    ) {
      const text = await shows(site, why);
      for (
        const wrong of [
          "No node configured",
          "Nothing in the dead letter",
          "No conflict recorded",
          `${site}: nodes`,
        ]
      ) {
        assert.ok(!text.includes(wrong), `${site}: ${wrong} in ${JSON.stringify(text)}`);
      }
      assert.deepEqual(await page.getByRole("alert").allInnerTexts(), [""], `${site}: no error shown`);
    }

    const unknown = await shows("nope", "No site named nope.");
    assert.ok(!unknown.includes("nodes") && !unknown.includes("dead letter"), unknown);
    assert.deepEqual(
      await page.getByRole("alert").allInnerTexts(),
      [""],
      "nothing asked of a site that is not",
    );

    // The Admin screen is not an operator's; it says so with the right article.
    await page.goto(`${base}/admin`);
    await page.getByText("ops is an operator; this screen needs the admin role.").waitFor();
    await page.getByRole("button", { name: "Log out" }).click();
    await hub.users.add("boss", "admin", "admin password");
    await logIn(page, "boss", "admin password");
    await page.getByText(
      "No API token yet: scripts use one (Authorization: Bearer), made here, shown once.",
    )
      .waitFor();
    await hub.tokens.create("nightly", "viewer");
    await page.reload();
    await page.locator("table[aria-label=Tokens] tr", { hasText: "nightly" }).waitFor();
    assert.equal(await page.getByText("No API token yet").count(), 0);
  },
);

shared.test(
  "console: a site's Conflicts, newest first, 20 a page, resolved by Keep received / Keep stored; an agent " +
    "too old to list them is said so there",
  async ({ rig: { hub, browser, sites: { north } } }) => {
    await browser.clearCookies();
    const { credential } = await hub.registry.enroll((await hub.registry.add("west")).enrollmentToken);
    const older = olderAgent(hub, "west", credential);
    try {
      await older.ready;
      await eventually(
        "north and west online",
        () => hub.sessions.get("north") && hub.sessions.get("west"),
      );
      await hub.users.add("keeper", "operator", "operator password");
      const base = `http://127.0.0.1:${hub.port}`;
      const page = await browser.newPage();
      await page.goto(`${base}/sites/north`);
      await logIn(page, "keeper", "operator password");
      const card = page.getByRole("region", { name: "Site north" });
      await card.getByText("No conflict recorded: no object was received again with other bytes.")
        .waitFor();

      // 21 objects, then each again with other bytes: 21 conflicts, each copy kept beside its object.
      const copies = await conflictingCopies(21, "site-page");
      for (const files of [copies.firsts, copies.seconds]) {
        const r = await storescu(files, north);
        assert.equal(r.code, 0, r.stderr);
      }
      const expected = (await (await north.http("/conflicts?limit=21")).json()).conflicts as {
        sopInstanceUid: string;
        keptPath: string;
        receivedSha256: string;
      }[];
      assert.equal(expected.length, 21);

      const table = card.getByRole("table", { name: "Conflicts" });
      const keptColumn = () => table.locator("tbody tr td:nth-child(6)").allInnerTexts();
      await page.reload();
      await table.waitFor();
      assert.deepEqual(await keptColumn(), expected.slice(0, 20).map((c) => c.keptPath), "newest first");
      const first = table.locator("tbody tr").first();
      assert.match(await first.innerText(), /keepBoth\s+STORESCU/);
      assert.equal(
        await first.getByRole("cell", { name: "keepBoth", exact: true }).getAttribute("title"),
        "the stored object stayed; the new one was kept beside it",
      );
      assert.ok((await first.innerText()).includes(expected[0].receivedSha256.slice(0, 16)));
      // The SOP Instance UID as other screens show UIDs: behind a button, with a copy button.
      assert.ok(!(await first.innerText()).includes(`${expected[0].sopInstanceUid}\t`));
      await first.getByRole("button", { name: "Show SOP Instance UID" }).click();
      await first.getByText(expected[0].sopInstanceUid, { exact: true }).waitFor();
      await first.getByRole("button", { name: "Copy SOP Instance UID" }).waitFor();
      await card.getByText("21 conflicts recorded in all.").waitFor();
      const pages = card.getByRole("navigation", { name: "Pages of conflicts" });
      await pages.getByText("Page 1: conflicts 1–20, newest first").waitFor();
      // A conflict arrives while page 1 is shown: page 2 is still the one after what page 1 showed (it
      // is asked before that page's last conflict, not at an offset that the new one shifts).
      const late = await conflictingCopies(1, "site-page-late");
      for (const files of [late.firsts, late.seconds]) assert.equal((await storescu(files, north)).code, 0);
      const [newest] = (await (await north.http("/conflicts?limit=1")).json()).conflicts as typeof expected;
      assert.equal(newest.sopInstanceUid, await sopOf(late.firsts[0]));
      await pages.getByRole("button", { name: "Older" }).click();
      await pages.getByText("Page 2: conflicts 21–21, newest first").waitFor();
      assert.deepEqual(await keptColumn(), [expected[20].keptPath]);
      assert.deepEqual(await page.getByRole("alert").allInnerTexts(), [""], "no error shown");

      // Resolving: Keep received, after a confirmation that says what happens; the row then says how.
      const oldest = table.locator("tbody tr").first();
      await oldest.getByRole("button", { name: "Keep received" }).click();
      const dialog = page.getByRole("alertdialog", { name: /^Keep the received copy of conflict \d+\?$/ });
      await dialog.getByText(/is replaced by the copy received again, which is indexed and routed again/)
        .waitFor();
      await dialog.getByRole("button", { name: "Keep received" }).click();
      await oldest.getByText(/^Kept received, /).waitFor();
      assert.equal(await oldest.getByRole("button", { name: /^Keep / }).count(), 0, "resolved once");
      const kept = path.join(north.dataDir, expected[20].keptPath);
      assert.ok(!fs.existsSync(kept), "the kept copy became the archived object");
      const [row] = indexRows(
        north.dataDir,
        "SELECT path FROM instances WHERE sop_instance_uid = ?",
        expected[20].sopInstanceUid,
      );
      assert.equal(
        await datasetSha256(path.join(north.dataDir, String(row.path))),
        expected[20].receivedSha256,
      );
      // Keep stored: the safe answer (Keep it) first changes nothing; then confirmed.
      await pages.getByRole("button", { name: "Newer" }).click();
      await pages.getByText("Page 1: conflicts 1–20, newest first").waitFor();
      const top = table.locator("tbody tr").first();
      await top.getByText(newest.keptPath).waitFor();
      await top.getByRole("button", { name: "Keep stored" }).click();
      await page.getByRole("alertdialog").getByRole("button", { name: "Keep it" }).click();
      assert.ok(fs.existsSync(path.join(north.dataDir, newest.keptPath)), "not resolved");
      await top.getByRole("button", { name: "Keep stored" }).click();
      await page.getByRole("alertdialog", { name: /^Keep the stored object of conflict \d+\?$/ })
        .getByRole("button", { name: "Keep stored" }).click();
      await top.getByText(/^Kept stored, /).waitFor();
      assert.ok(!fs.existsSync(path.join(north.dataDir, newest.keptPath)), "the kept copy deleted");
      await page.getByRole("status").getByText(/^Conflict \d+ resolved: the stored object kept$/).waitFor();
      assert.deepEqual(await page.getByRole("alert").allInnerTexts(), [""], "no error shown");

      // An agent of an earlier version is not asked: its section says why, in words.
      await page.goto(`${base}/sites/west`);
      await page.getByRole("region", { name: "Site west" }).getByText(
        "Its conflicts could not be read: this agent version (0.0.9, older than 2026-12-05 06:41 UTC) " +
          "cannot list conflicts: upgrade the agent of west",
      ).waitFor();
      assert.ok(!older.asked.includes("conflicts"), `asked: ${older.asked}`);

      // A viewer is not shown them (site.conflicts is an operator's, as the dead letter).
      await page.getByRole("button", { name: "Log out" }).click();
      await hub.users.add("eyes", "viewer", "viewer password");
      await logIn(page, "eyes", "viewer password");
      await page.goto(`${base}/sites/north`);
      await card.getByText("north: nodes").waitFor();
      assert.equal(await card.getByText("north: conflicts").count(), 0);
      assert.equal(await card.getByRole("table", { name: "Conflicts" }).count(), 0);
    } finally {
      older.close();
    }
  },
  { ignore: Boolean(skipReason("storescu", "dcmodify")) },
);

shared.tearDown("site_page_test: the console rig stopped");

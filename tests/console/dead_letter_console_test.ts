/**
 * A site's dead letter in the console as an operator uses it, in Chromium against a real hub, a real agent and
 * DCMTK's storescp as a PACS that takes CT only (so MR objects die at their first refusal): two of three dead
 * rows ticked and replayed, the third discarded after a confirmation whose safe answer has the focus, and the
 * rows of a node removed by SIGHUP abandoned to the dead letter after a confirmation. Checked at the agent:
 * the rows' states, and that a confirmation answered with Enter changes nothing. An agent too old to list the
 * waiting rows is not asked, and the section says so. From the keyboard: Space on Select all, Escape on the
 * Abandon confirmation (it keeps the rows); every control named; a viewer sees neither section.
 */
import assert from "node:assert/strict";
import { focused, hasChromium, logIn, unnamedControls } from "../support/browser.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { type AgentProcess, queueRows } from "../support/agent.ts";
import { ctOnlyProfile, freePort, skipReason, startStorescp } from "../support/peers.ts";
import { olderAgent } from "../support/older_agent.ts";
import { reloadAgent } from "../support/reload.ts";
import { sendGenerated } from "../support/send.ts";

const skip = hasChromium() ? undefined : "chromium not installed";
if (skip) console.warn(`dead_letter_console_test: skipped: ${skip}`);

const post = (agent: AgentProcess, path: string) => agent.http(path, { method: "POST" });

Deno.test({
  name:
    "console: a site's dead letter, two of three rows replayed, one discarded, a removed node's rows abandoned",
  ignore: Boolean(skip) || Boolean(skipReason("storescu", "storescp")),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pacs = await startStorescp({ dir: await Deno.makeTempDir(), configFile: await ctOnlyProfile() });
    try {
      await withConsole({}, async ({ hub, browser, startAgent }) => {
        const nodes = { pacs: { aet: pacs.aet, host: "127.0.0.1", port: pacs.port } };
        const kept = { nodes, routes: [{ name: "all", to: [{ node: "pacs" }] }], queue: { maxAttempts: 1 } };
        const north = await startAgent("north", {
          config: {
            ...kept,
            nodes: { ...nodes, old: { aet: "OLD", host: "127.0.0.1", port: freePort() } },
            routes: [...kept.routes, { name: "ct-old", match: { modality: ["CT"] }, to: [{ node: "old" }] }],
          },
        });
        assert.equal((await post(north, "/queue/pause/old")).status, 200);
        const mr = await sendGenerated(north, "console-dead-mr", "MR", 3);
        const [ct] = await sendGenerated(north, "console-dead-ct", "CT", 1);
        await eventually("three MR rows dead, the CT one waiting for old", async () => {
          const all = await queueRows(north);
          return (all.filter((r) => r.state === "dead").length === 3 &&
            all.some((r) => r.sopInstanceUid === ct && r.destination === "old" && r.state === "pending")) ||
            undefined;
        });
        await reloadAgent(north, kept); // old removed for good: its row waits for it
        // pacs paused: replayed rows stay pending, where the test can see them.
        assert.equal((await post(north, "/queue/pause/pacs")).status, 200);
        const idOf = async (sop: string) =>
          (await queueRows(north)).find((r) => r.sopInstanceUid === sop)!.id;
        const ids = await Promise.all(mr.map(idOf));
        const stateOf = async (id: number) => (await queueRows(north)).find((r) => r.id === id)?.state;

        await eventually("north online", () => hub.sessions.get("north"));
        await hub.users.add("ops", "operator", "operator password");
        await hub.users.add("eyes", "viewer", "viewer password");
        const page = await browser.newPage();
        // A viewer sees the site's nodes, and neither section nor any of their buttons.
        await page.goto(`http://127.0.0.1:${hub.port}/sites/north`);
        await logIn(page, "eyes", "viewer password");
        const card = page.getByRole("region", { name: "Site north" });
        await card.getByRole("table", { name: "Nodes" }).waitFor();
        assert.deepEqual(await card.getByRole("button").allInnerTexts(), [], "a viewer's buttons");
        assert.equal(await card.getByRole("table").count(), 1, "the nodes only");
        assert.equal(await card.getByRole("heading", { name: "north: dead letter" }).count(), 0);
        assert.equal(await card.getByText("Waiting for a destination no longer configured").count(), 0);
        await page.getByRole("button", { name: "Log out" }).click();
        await logIn(page, "ops", "operator password");
        const table = card.getByRole("table", { name: "Dead letter" });
        await table.waitFor();
        assert.equal(await table.locator("tbody tr").count(), 3);
        await card.getByRole("table", { name: "Waiting for a removed destination" }).waitFor();
        assert.deepEqual(await unnamedControls(page), [], "controls without a name");
        const replay = card.getByRole("button", { name: "Replay selected" });
        const discard = card.getByRole("button", { name: "Discard selected" });
        assert.ok(await replay.isDisabled() && await discard.isDisabled(), "nothing selected yet");

        // From the keyboard: Space on Select all ticks every row, again none.
        await table.getByRole("checkbox", { name: "Select all" }).focus();
        await page.keyboard.press("Space");
        await card.getByText("3 rows selected").waitFor();
        await page.keyboard.press("Space");
        await card.getByText("0 rows selected").waitFor();

        // Two of three ticked and replayed: back in the queue, the third still dead.
        await table.getByRole("checkbox", { name: `Select row ${ids[0]}` }).check();
        await table.getByRole("checkbox", { name: `Select row ${ids[2]}` }).check();
        await card.getByText("2 rows selected").waitFor();
        await replay.click();
        await page.getByRole("status").getByText("2 rows back in the queue").waitFor();
        assert.deepEqual(await Promise.all(ids.map(stateOf)), ["pending", "dead", "pending"]);
        await eventually(
          "one row left in the table",
          async () => (await table.locator("tbody tr").count()) === 1,
        );

        // Discarded: the safe answer has the focus (Enter keeps the row), then confirmed.
        await table.getByRole("checkbox", { name: "Select all" }).check();
        await card.getByText("1 row selected").waitFor();
        await discard.click();
        const dialog = page.getByRole("alertdialog", {
          name: "Discard 1 dead-letter row of north for good?",
        });
        await dialog.getByText(/can no longer be replayed\. The objects stay in the site's archive/)
          .waitFor();
        assert.equal(await focused(page), "Keep it", "the safe answer has the focus");
        await page.keyboard.press("Enter");
        await dialog.waitFor({ state: "detached" });
        assert.equal(await stateOf(ids[1]), "dead", "kept");
        await discard.click();
        await dialog.getByRole("button", { name: "Discard" }).click();
        await page.getByRole("status").getByText("1 row discarded").waitFor();
        assert.equal(await stateOf(ids[1]), undefined, "the row is gone at the agent");
        await card.getByText("Nothing in the dead letter.").waitFor();

        // The removed node's rows: listed, then abandoned to the dead letter after a confirmation.
        const waiting = card.getByRole("table", { name: "Waiting for a removed destination" });
        await waiting.getByRole("row", { name: /old\s+1/ }).waitFor();
        await waiting.getByRole("button", { name: "Abandon" }).click();
        const abandon = page.getByRole("alertdialog", { name: "Abandon the 1 row waiting for old?" });
        await abandon.getByText(/old is no longer in the configuration of north/).waitFor();
        // Escape keeps them: the safe answer has the focus, as for a discard.
        assert.equal(await focused(page), "Keep it");
        await page.keyboard.press("Escape");
        await abandon.waitFor({ state: "detached" });
        assert.equal((await queueRows(north)).find((r) => r.destination === "old")?.state, "pending", "kept");
        await waiting.getByRole("button", { name: "Abandon" }).click();
        await abandon.getByRole("button", { name: "Abandon" }).click();
        await page.getByRole("status").getByText("1 row for old abandoned").waitFor();
        const old = (await queueRows(north)).find((r) => r.destination === "old")!;
        assert.deepEqual([old.state, old.lastError], ["dead", "abandoned by the operator"]);
        await waiting.waitFor({ state: "detached" });
        assert.deepEqual(await page.getByRole("alert").allInnerTexts(), [""], "no error shown");

        // An agent of an earlier version is not asked for its waiting rows: the section says why.
        const { credential } = await hub.registry.enroll((await hub.registry.add("east")).enrollmentToken);
        const older = olderAgent(hub, "east", credential);
        try {
          await older.ready;
          await eventually("east online", () => hub.sessions.get("east"));
          await page.goto(`http://127.0.0.1:${hub.port}/sites/east`);
          await page.getByRole("region", { name: "Site east" }).getByText(
            "Its rows waiting for a removed node could not be read: this agent version (0.0.9, older than " +
              "2026-12-05 17:08 UTC) cannot list rows waiting for a removed node: upgrade the agent of east",
          ).waitFor();
          assert.ok(!older.asked.includes("stranded"), `asked: ${older.asked}`);
        } finally {
          older.close();
        }
      });
    } finally {
      await pacs.stop();
    }
  },
});

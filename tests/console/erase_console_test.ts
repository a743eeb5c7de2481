/**
 * Erasing from a study's page in the console, in Chromium against a real hub and agent: an operator is
 * not offered it; an admin is, for one series (from its card) and for the study, each after a confirmation
 * whose safe answer keeps it; confirmed, the site says what it removed, the series' card goes, then the
 * page says the site holds no such study, and the agent's archive holds none of its files.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { skipReason } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { hasChromium, logIn } from "../support/browser.ts";
import { generateStudies } from "@conduit/shared/testing";
import { writeInstances } from "../tools/generate.ts";

const skip = hasChromium() ? skipReason("storescu") : "chromium not installed";

const archived = (dir: string) =>
  (fs.readdirSync(path.join(dir, "archive"), { recursive: true }) as string[]).filter((f) =>
    f.endsWith(".dcm")
  );

Deno.test({
  name: "console: an admin erases a study from its page after a confirmation; an operator is not offered it",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser, startAgent, url }) => {
      const north = await startAgent("north", { aet: "NORTH" });
      const dir = await Deno.makeTempDir({ prefix: "erase-console-" });
      try {
        const specs = [...generateStudies({
          seed: "erase-console",
          patients: 1,
          studiesPerPatient: 1,
          series: [{ modality: "CT", instances: 2 }, { modality: "MR", instances: 1 }],
          rows: 32,
          columns: 32,
        })];
        const files = await writeInstances(dir, specs);
        const mr = specs.find((x) => x.modality === "MR")!.seriesInstanceUid;
        assert.equal((await storescu(files.paths, north)).code, 0);
        await eventually("north online", () => hub.sessions.get("north"));
        await hub.users.add("ops", "operator", "operator password");
        await hub.users.add("boss", "admin", "admin password");
        const study = `${url}studies/north/${specs[0].studyInstanceUid}`;

        const page = await browser.newPage();
        await page.goto(study);
        await logIn(page, "ops", "operator password");
        const header = page.locator("section[aria-label=Study]");
        await header.getByRole("link", { name: "Download (zip)" }).waitFor();
        await page.locator(`li[data-series="${mr}"]`).waitFor();
        assert.equal(await header.getByRole("button", { name: "Erase…" }).count(), 0);
        assert.equal(await page.getByRole("button", { name: "Erase series…" }).count(), 0);
        await page.getByRole("button", { name: "Log out" }).click();

        await page.goto(study);
        await logIn(page, "boss", "admin password");
        // One series first, from its card: the study keeps the other.
        const mrCard = page.locator(`li[data-series="${mr}"]`);
        await mrCard.getByRole("button", { name: "Erase series…" }).click();
        const seriesQuestion = page.getByRole("alertdialog", {
          name: /^Erase this series .*MR from north\?$/,
        });
        assert.match(await seriesQuestion.innerText(), /1 object[\s\S]*cannot be undone/);
        await seriesQuestion.getByRole("button", { name: "Erase the series" }).click();
        await page.getByRole("status").filter({ hasText: "Erased from north: 1 object (1 file)" }).waitFor();
        await mrCard.waitFor({ state: "detached" });
        assert.equal(archived(north.dataDir).length, 2);
        // A study's only series is erased with the study: its card offers no button.
        assert.equal(await page.getByRole("button", { name: "Erase series…" }).count(), 0);

        await header.getByRole("button", { name: "Erase…" }).click();
        const question = page.getByRole("alertdialog", { name: "Erase this study from north?" });
        assert.match(await question.innerText(), /2 objects[\s\S]*cannot be undone/);
        // The safe answer has the focus: Enter keeps the study.
        await page.keyboard.press("Enter");
        await question.waitFor({ state: "detached" });
        assert.equal(archived(north.dataDir).length, 2);

        await header.getByRole("button", { name: "Erase…" }).click();
        await question.getByRole("button", { name: "Erase the study" }).click();
        const status = page.getByRole("status").filter({ hasText: "Erased from north: 2 objects" });
        await status.waitFor();
        assert.match(await status.innerText(), /Erased from north: 2 objects \(2 files\)/);
        await page.getByRole("heading", { name: "No such study at north" }).waitFor();
        assert.equal(archived(north.dataDir).length, 0);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});

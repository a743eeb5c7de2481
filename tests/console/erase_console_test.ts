/**
 * Erasing a study from its page in the console, in Chromium against a real hub and agent: an operator is
 * not offered it; an admin is, with a confirmation whose safe answer keeps the study; confirmed, the site
 * says what it removed, the page then says the site holds no such study, and the agent's archive holds
 * none of its files.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { skipReason } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { hasChromium, logIn } from "../support/browser.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

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
        const ct = await writeGeneratedSeries(dir, {
          count: 3,
          rows: 32,
          columns: 32,
          seed: "erase-console",
        });
        assert.equal((await storescu(ct.paths, north)).code, 0);
        await eventually("north online", () => hub.sessions.get("north"));
        await hub.users.add("ops", "operator", "operator password");
        await hub.users.add("boss", "admin", "admin password");
        const study = `${url}studies/north/${ct.studyUid}`;

        const page = await browser.newPage();
        await page.goto(study);
        await logIn(page, "ops", "operator password");
        const header = page.locator("section[aria-label=Study]");
        await header.getByRole("link", { name: "Download (zip)" }).waitFor();
        assert.equal(await header.getByRole("button", { name: "Erase…" }).count(), 0);
        await page.getByRole("button", { name: "Log out" }).click();

        await page.goto(study);
        await logIn(page, "boss", "admin password");
        await header.getByRole("button", { name: "Erase…" }).click();
        const question = page.getByRole("alertdialog", { name: "Erase this study from north?" });
        assert.match(await question.innerText(), /3 objects[\s\S]*cannot be undone/);
        // The safe answer has the focus: Enter keeps the study.
        await page.keyboard.press("Enter");
        await question.waitFor({ state: "detached" });
        assert.equal(archived(north.dataDir).length, 3);

        await header.getByRole("button", { name: "Erase…" }).click();
        await question.getByRole("button", { name: "Erase the study" }).click();
        const status = page.getByRole("status").filter({ hasText: "Erased from north" });
        await status.waitFor();
        assert.match(await status.innerText(), /Erased from north: 3 objects \(3 files\)/);
        await page.getByRole("heading", { name: "No such study at north" }).waitFor();
        assert.equal(archived(north.dataDir).length, 0);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
});

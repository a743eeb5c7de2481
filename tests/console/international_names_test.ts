/**
 * Names in other scripts in the console, in Chromium against a real hub and agents: pydicom's Japanese
 * (ISO 2022 IR 87, three component groups) and Greek (ISO_IR 126) objects at a site are shown decoded in
 * the Explorer and on a transfer's page, found by what a user types in their script, and photographed
 * (tests/.out/console/international-*.png) for a person to see the glyphs.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, skipReason } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { hasChromium, logIn, shoot } from "../support/browser.ts";

const skip = hasChromium() ? skipReason("storescu") : "chromium not installed";
if (skip) console.warn(`international_names_test: skipped: ${skip}`);

const CHARSETS = path.join(PYDICOM_TEST_FILES_DIR, "../charset_files");
const JAPANESE = { file: "chrH31.dcm", study: "1.3.6.1.4.1.5962.1.2.0.1175775771.5702.0" };
const GREEK = { file: "chrGreek.dcm", study: "1.3.6.1.4.1.5962.1.2.0.1175775772.5717.0" };
const JAPANESE_NAME = "Yamada, Tarou (山田 太郎, やまだ たろう)";
const GREEK_NAME = "Διονυσιος";

Deno.test({
  name: "console: Japanese and Greek names read as written in the Explorer and on a transfer's page",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser, startAgent }) => {
      const [north, south] = await Promise.all([ // started together
        startAgent("north", { aet: "NORTH" }),
        startAgent("south", { aet: "SOUTH" }),
      ]);
      const files = [JAPANESE, GREEK].map((s) => path.join(CHARSETS, s.file));
      assert.equal((await storescu(files, north)).code, 0);
      await eventually("both online", () => hub.sessions.get("north") && hub.sessions.get("south"));
      assert.ok(south);
      await hub.users.add("ops", "operator", "operator password");
      const base = `http://127.0.0.1:${hub.port}`;
      const page = await browser.newPage();
      await page.goto(`${base}/explorer?site=north`);
      await logIn(page, "ops", "operator password");
      const row = (study: string) => page.locator(`table[aria-label=Studies] tr[data-study="${study}"]`);
      await row(JAPANESE.study).waitFor();
      assert.match(await row(JAPANESE.study).innerText(), new RegExp(escape(JAPANESE_NAME)));
      assert.match(await row(GREEK.study).innerText(), new RegExp(GREEK_NAME));
      await shoot(page, "international-explorer");

      // What a user types in their own script finds the name by any of its groups.
      for (const [typed, study, other] of [["山田", JAPANESE, GREEK], ["Διον", GREEK, JAPANESE]] as const) {
        await page.goto(`${base}/explorer?site=north&patient=${encodeURIComponent(typed)}`);
        await row(study.study).waitFor();
        assert.equal(await row(other.study).count(), 0, `${typed} finds only its own`);
      }

      const { id } = await hub.transfers.create(
        { source: { site: "north" }, destination: { site: "south" }, studies: [JAPANESE.study, GREEK.study] },
        "user:ops",
      );
      await page.goto(`${base}/transfers/${id}`);
      const task = (study: string) => page.locator(`table[aria-label=Tasks] tr[data-study="${study}"]`);
      await task(JAPANESE.study).locator("a").waitFor();
      assert.match(await task(JAPANESE.study).innerText(), new RegExp(escape(JAPANESE_NAME)));
      assert.match(await task(GREEK.study).innerText(), new RegExp(GREEK_NAME));
      await shoot(page, "international-transfer");
    });
  },
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

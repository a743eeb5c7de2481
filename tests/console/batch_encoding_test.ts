/**
 * A batch CSV in a legacy encoding (python3's bytes, as Excel's plain "CSV" writes on Japanese, Chinese,
 * Korean, Greek and Western Windows), in Chromium (Playwright) against a real hub: the preview names the
 * encoding detected and shows the names as read; a file detection cannot tell is refused naming the choice,
 * the Encoding select marked and focused, and the encoding chosen (by keyboard) reads it; an encoding chosen
 * wrong shows its mojibake before anything starts. Through the API: batch.preview's `encoding`, named or
 * detected, and one it does not know refused.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { TRPCClientError } from "@trpc/client";
import * as path from "node:path";
import { hasChromium, logIn, SHOTS } from "../support/browser.ts";
import { withConsole } from "../support/console_rig.ts";
import { encodeLegacy } from "../support/legacy_text.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { toBase64 } from "@conduit/shared/base64";

const skip = hasChromium() ? "" : "chromium not installed";
if (skip) console.warn(`batch_encoding_test: skipped: ${skip}`);

const csv = (names: string[]) =>
  `Patient Name,Patient ID\r\n${names.map((n, i) => `${n},P${i + 1}`).join("\r\n")}\r\n`;

Deno.test({
  name: "the Batch screen reads a legacy CSV in the encoding detected or chosen, and shows the names as read",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withConsole({}, async ({ hub, browser, url }) => {
      await hub.users.add("ops", "operator", "operator password");
      const client = createConduitClient({
        url: url.replace(/\/$/, ""),
        token: (await hub.tokens.create("batch", "operator")).token,
      });
      const japanese = await encodeLegacy(csv(["山田^太郎", "やまだ^たろう", "ﾔﾏﾀﾞ^ﾀﾛｳ"]), "shift_jis");
      const korean = await encodeLegacy(csv(["김희중", "박^서연"]), "euc-kr");
      const oneChinese = await encodeLegacy(csv(["王^芳"]), "gbk");
      const greek = await encodeLegacy(csv(["Διονυσιος", "Παπαδόπουλος^Γιώργος"]), "windows-1253");

      // The API: the encoding read, detected or as named; one it does not know is BAD_REQUEST.
      const preview = (bytes: Uint8Array, encoding?: string) =>
        client.batch.preview.mutate({
          filename: "names.csv",
          contentBase64: toBase64(bytes),
          // deno-lint-ignore no-explicit-any
          ...(encoding ? { encoding: encoding as any } : {}),
        });
      const detected = await preview(korean);
      assert.equal(detected.encoding, "euc-kr");
      assert.deepEqual(detected.first.map((r) => r.keys.PatientName), ["김희중", "박^서연"]);
      assert.equal((await preview(oneChinese, "gbk")).first[0].keys.PatientName, "王^芳");
      await assert.rejects(
        preview(oneChinese),
        (e) =>
          e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST" &&
          /reads as names in GBK \(Chinese\) or Windows-1253 \(Greek\) alike: choose its encoding/.test(
            e.message,
          ),
      );
      await assert.rejects(
        preview(korean, "latin1"),
        (e) => e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST",
      );

      const page = await browser.newPage();
      await page.goto(`${url}batch`);
      await logIn(page, "ops", "operator password");
      const encoding = page.getByLabel("Encoding (CSV)");
      assert.equal(await encoding.inputValue(), "auto");
      const file = (name: string, bytes: Uint8Array) =>
        page.getByLabel("File").setInputFiles({ name, mimeType: "text/csv", buffer: Buffer.from(bytes) });
      const rows = page.locator("table[aria-label=Rows]");
      const read = page.getByLabel("Encoding read");

      // Detected: the encoding named, the names as written.
      await file("japanese.csv", japanese);
      await read.filter({ hasText: "Read as Shift_JIS (Japanese) (detected)" }).waitFor();
      const text = await rows.innerText();
      for (const name of ["山田^太郎", "やまだ^たろう", "ﾔﾏﾀﾞ^ﾀﾛｳ"]) assert.ok(text.includes(name), text);

      // Not told: refused naming the choice, the select marked and focused; chosen by keyboard, read.
      await file("one.csv", oneChinese);
      await page.getByRole("alert").filter({ hasText: /GBK \(Chinese\) or Windows-1253 \(Greek\) alike/ })
        .waitFor();
      assert.equal(await encoding.getAttribute("aria-invalid"), "true");
      assert.ok(
        await encoding.evaluate((el) => el === el.ownerDocument.activeElement),
        "the focus on Encoding",
      );
      assert.equal(await rows.count(), 0, "no preview of a file not read");
      // Each step asks a preview: UTF-8's refusal is held back until GBK's preview shows, and must not then
      // stand over it.
      let heldBack = 0;
      let utf8Asked!: () => void;
      const utf8Seen = new Promise<void>((r) => utf8Asked = r);
      let release!: () => void;
      const released = new Promise<void>((r) => release = r);
      await page.route("**/trpc/batch.preview**", async (route) => {
        if (/"encoding":"utf-8"/.test(route.request().postData() ?? "")) {
          heldBack++;
          utf8Asked();
          await released;
        }
        await route.continue();
      });
      const utf8Answered = page.waitForEvent("requestfinished", {
        predicate: (r) => /batch\.preview/.test(r.url()) && /"encoding":"utf-8"/.test(r.postData() ?? ""),
        timeout: 30_000,
      });
      await page.keyboard.press("ArrowDown"); // UTF-8
      await utf8Seen;
      await page.keyboard.press("ArrowDown"); // UTF-16 (which the file is not: read as mojibake, or refused)
      await page.keyboard.press("ArrowDown"); // Shift_JIS
      await page.keyboard.press("ArrowDown"); // GBK
      await read.filter({ hasText: "Read as GBK (Chinese):" }).waitFor();
      assert.equal(await encoding.inputValue(), "gbk");
      assert.match(await rows.innerText(), /王\^芳/);
      release();
      await utf8Answered;
      await page.evaluate(() => new Promise((r) => setTimeout(r, 200))); // its answer handled by the page
      assert.equal(heldBack, 1, "UTF-8's preview was asked once");
      assert.equal(await encoding.getAttribute("aria-invalid"), null, "the mark gone once chosen");
      assert.match(await rows.innerText(), /王\^芳/, "GBK's preview still shown");
      await page.unroute("**/trpc/batch.preview**");

      // Chosen wrong: the preview shows what the hub would search, mojibake and all; Detect reads it right.
      await encoding.selectOption("windows-1252");
      await file("greek.csv", greek);
      await read.filter({ hasText: "Read as Windows-1252 (Western European):" }).waitFor();
      assert.match(await rows.innerText(), /Äéïíõóéïò/);
      await encoding.selectOption("auto");
      await read.filter({ hasText: "Read as Windows-1253 (Greek) (detected)" }).waitFor();
      assert.match(await rows.innerText(), /Διονυσιος/);
      await page.locator("section.card").first().screenshot({ path: path.join(SHOTS, "batch-encoding.png") });
    });
  },
});

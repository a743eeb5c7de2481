/**
 * Starting a batch, in Chromium (Playwright) against a real hub and agent, and through the API: an empty file
 * says it is empty (not that its first row names no column); Start is disabled once the batch started, until
 * another file is chosen; the hub refuses the same batch again while the first runs (CONFLICT naming it),
 * and takes it once that one was canceled; once done, Download XLSX saves the workbook the hub streams. North's
 * agent is paused (SIGSTOP) so that the batch keeps running.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { TRPCClientError } from "@trpc/client";
import { hasChromium, logIn } from "../support/browser.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

const skip = hasChromium() ? "" : "chromium not installed";
if (skip) console.warn(`batch_start_test: skipped: ${skip}`);

const file = (name: string, text: string) => ({ name, mimeType: "text/csv", buffer: Buffer.from(text) });

Deno.test({
  name:
    "the Batch screen: an empty file is named empty; Start is disabled once started; the hub refuses a second start",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // North stays paused for a while of browser steps: under load more than the test hub's usual 3 s without
    // a heartbeat, after which north counted as offline and the batch stopped before the CONFLICT check.
    await withConsole(
      { hub: { heartbeatTimeoutSeconds: 120 } },
      async ({ hub, browser, startAgent, url }) => {
        const north = await startAgent("north", { aet: "NORTH" });
        await eventually("north online", () => hub.sessions.get("north"));
        await hub.users.add("ops", "operator", "operator password");
        const page = await browser.newPage();
        await page.goto(`${url}batch`);
        await logIn(page, "ops", "operator password");
        await page.getByLabel("Site (source)").locator("option[value=north]").waitFor({ state: "attached" });
        const start = page.getByRole("button", { name: "Start" });
        const client = createConduitClient({
          url: url.replace(/\/$/, ""),
          token: (await hub.tokens.create("batch", "operator")).token,
        });
        const alert = page.getByRole("alert").filter({ hasText: /\w/ });

        for (const empty of ["", "\n\n", "\uFEFF"]) {
          await page.getByLabel("File").setInputFiles(file("empty.csv", empty));
          await alert.filter({ hasText: /^the file is empty: a batch file's first row names its columns \(/ })
            .waitFor();
          assert.ok(await start.isDisabled());
        }
        await page.getByLabel("File").setInputFiles(file("blank-first.csv", "\nPatient ID\nP1\n"));
        await alert.filter({ hasText: /^the first row is blank: / }).waitFor();

        Deno.kill(north.pid, "SIGSTOP");
        let started = "";
        try {
          await page.getByLabel("Site (source)").selectOption("north");
          await page.getByLabel("File").setInputFiles(file("one.csv", "Patient ID\nP1\n"));
          await page.locator('table[aria-label=Rows] tr[data-row="2"]').waitFor();
          assert.ok(await start.isEnabled());
          await start.click();
          await page.waitForURL(/\/batch\?id=\w+/);
          started = new URL(page.url()).searchParams.get("id")!;
          // Started: Start stays disabled (a second click would start the same batch again).
          await eventually("Start disabled", () => start.isDisabled());
          await start.click({ force: true }).catch(() => {});
          assert.deepEqual(
            (await client.batch.list.query()).map((b) => b.id),
            [started],
            "one batch, clicked twice",
          );
          // Another file chosen: Start is offered again.
          await page.getByLabel("File").setInputFiles(file("two.csv", "Patient ID\nP2\n"));
          await page.locator('table[aria-label=Rows] tr[data-row="2"]').waitFor();
          assert.ok(await start.isEnabled());

          // The hub: the same batch again by the same caller while it runs is CONFLICT naming the first.
          const again = {
            kind: "query" as const,
            filename: "rows.csv",
            contentBase64: btoa("Patient ID\nP3\n"),
            sites: ["north"],
          };
          const first = await client.batch.upload.mutate(again);
          await assert.rejects(client.batch.upload.mutate(again), (e: unknown) => {
            assert.ok(e instanceof TRPCClientError, String(e));
            assert.equal(e.data?.code, "CONFLICT", e.message);
            assert.match(e.message, new RegExp(`^rows\\.csv is running already as batch ${first.id} `));
            return true;
          });
          // Other rows, or the first canceled: a start as any other.
          await client.batch.upload.mutate({ ...again, contentBase64: btoa("Patient ID\nP4\n") });
          await client.batch.cancel.mutate({ id: first.id });
          await client.batch.upload.mutate(again);
        } finally {
          Deno.kill(north.pid, "SIGCONT");
        }

        // The batch started in the console ends (north answers again); Download XLSX saves the streamed workbook.
        await page.goto(`${url}batch?id=${started}`);
        await page.getByLabel("Batch result").getByText("done").waitFor({ timeout: 60_000 });
        const [download] = await Promise.all([
          page.waitForEvent("download"),
          page.getByRole("button", { name: "Download XLSX" }).click(),
        ]);
        assert.equal(download.suggestedFilename(), `batch-${started}.xlsx`);
        const ExcelJS = (await import("exceljs")).default;
        const book = new ExcelJS.Workbook();
        await book.xlsx.readFile((await download.path())!);
        const rows: unknown[][] = [];
        book.worksheets[0].eachRow((r) => rows.push((r.values as unknown[]).slice(1)));
        assert.deepEqual(rows.map((r) => r.slice(0, 3)), [["row", "site", "error"], [
          2,
          "north",
          "no study matches this row",
        ]]);
      },
    );
  },
});

/**
 * An encapsulated PDF (DCMTK's pdf2dcm) opened in the hub's OHIF viewer from the console's study page,
 * in Chromium: OHIF shows it in an `<object>` on a blob URL, which Chromium's PDF viewer frames, so the
 * viewer's Content-Security-Policy must let both through (`object-src`, `frame-src`); with
 * `object-src 'none'` the page showed "No online PDF viewer installed".
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { hasTool, runDcmtk, skipReason } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { hasChromiumBrowser, logIn, watchCsp } from "../support/browser.ts";
import { prepareViewer, viewerReady } from "../../deploy/viewer.ts";

const skip = hasChromiumBrowser()
  ? skipReason("storescu", "pdf2dcm") ||
    (await viewerReady() || hasTool("npm") ? undefined : "npm not installed (the viewer is fetched with it)")
  : "chromium not installed";
if (skip) console.warn(`viewer_pdf_test: skipped: ${skip}`);

/** A one-page PDF with one line of text. */
function onePagePdf(text: string): string {
  const stream = `BT /F1 24 Tf 40 100 Td (${text}) Tj ET`;
  return [
    "%PDF-1.1",
    "1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj",
    "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj",
    "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 200]/Contents 4 0 R" +
    "/Resources<</Font<</F1 5 0 R>>>>>>endobj",
    `4 0 obj<</Length ${stream.length}>>stream\n${stream}\nendstream endobj`,
    "5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj",
    "trailer<</Root 1 0 R>>",
    "%%EOF",
    "",
  ].join("\n");
}

Deno.test({
  name: "the hub's OHIF viewer shows an encapsulated PDF under its Content-Security-Policy",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await prepareViewer();
    const dir = await Deno.makeTempDir({ prefix: "viewer-pdf-" });
    try {
      await Deno.writeTextFile(path.join(dir, "report.pdf"), onePagePdf("Conduit report"));
      const made = await runDcmtk("pdf2dcm", [
        "+t",
        "A report",
        "+pn",
        "PDF^Report",
        "+pi",
        "PDF1",
        path.join(dir, "report.pdf"),
        path.join(dir, "report.dcm"),
      ]);
      assert.equal(made.code, 0, made.stderr);
      await withConsole({ buildIfMissing: true, fullBrowser: true }, async ({ hub, browser, startAgent }) => {
        const agent = await startAgent("north", { aet: "NORTH" });
        assert.equal((await storescu([path.join(dir, "report.dcm")], agent)).code, 0);
        await eventually("north online", () => hub.sessions.get("north"));
        const token = (await hub.tokens.create("pdf test", "viewer")).token;
        const base = `http://127.0.0.1:${hub.port}`;
        const [study] = await (await fetch(`${base}/dicomweb/sites/north/studies`, {
          headers: { authorization: `Bearer ${token}` },
        })).json() as Record<string, { Value: string[] }>[];
        const uid = study["0020000D"].Value[0];
        await hub.users.add("reader", "viewer", "reader password");
        const page = await browser.newPage();
        await page.goto(`${base}/studies/north/${uid}`);
        await logIn(page, "reader", "reader password");
        const [popup] = await Promise.all([
          page.waitForEvent("popup"),
          page.getByRole("link", { name: "Open in viewer" }).click(),
        ]);
        const violations = watchCsp(popup);
        const pdf = popup.locator('object[type="application/pdf"]');
        await pdf.waitFor({ state: "attached", timeout: 60_000 });
        await eventually(
          "the PDF's blob URL",
          async () => (await pdf.getAttribute("data"))?.startsWith("blob:"),
          60_000,
        );
        await eventually(
          "the PDF shown, not the object's fallback text",
          async () => !await popup.getByText("No online PDF viewer installed").isVisible(),
          20_000,
        );
        assert.deepEqual(violations, [], "no Content-Security-Policy violation");
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

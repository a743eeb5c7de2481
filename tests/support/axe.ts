/**
 * axe-core (npm `axe-core`, from node_modules) run inside a console page by Playwright: the violations of
 * the WCAG 2.x A and AA rules and axe's best practices on what the page shows, as lines a failing assertion
 * can be read by ("serious color-contrast: .state-queued: Element has insufficient color contrast ...").
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";

const AXE = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../node_modules/axe-core/axe.min.js",
);

let axeSource: Promise<string> | undefined;
const source = () => axeSource ??= Deno.readTextFile(AXE);

export type Impact = "minor" | "moderate" | "serious" | "critical";

interface AxeResult {
  id: string;
  impact: Impact;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

/**
 * The axe violations on `page` at `impacts` (default serious and critical), one line per element, tagged
 * `where` (the screen). `include` limits the run to a part of the page (a dialog's selector).
 */
export async function axeViolations(
  page: Page,
  where: string,
  options: { impacts?: Impact[]; include?: string } = {},
): Promise<string[]> {
  const impacts = options.impacts ?? ["serious", "critical"];
  // Evaluated through the DevTools protocol: the console's Content-Security-Policy refuses a script tag.
  if (!await page.evaluate(() => "axe" in globalThis)) await page.evaluate(await source());
  const results = await page.evaluate(async (include) => {
    // deno-lint-ignore no-explicit-any
    const page = globalThis as any;
    const run = await page.axe.run(include ? { include: [include] } : page.document, {
      runOnly: {
        type: "tag",
        values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
      },
      resultTypes: ["violations"],
    });
    return run.violations;
  }, options.include ?? null) as AxeResult[];
  return results.filter((v) => impacts.includes(v.impact)).flatMap((v) =>
    v.nodes.map((n) =>
      `${where}: ${v.impact} ${v.id}: ${n.target.join(" ")}: ${v.help}${
        n.failureSummary ? ` (${n.failureSummary.replace(/\s+/g, " ").slice(0, 160)})` : ""
      }`
    )
  );
}

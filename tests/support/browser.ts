/**
 * Debian's Chromium driven by Playwright for the console and viewer tests: one persistent context in
 * a fresh profile (English, Great Britain: dates read "3 Feb 2020"), logging in through the console's
 * form, collecting Content-Security-Policy violations, and screenshots in light and dark.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { type BrowserContext, chromium, type Locator, type Page, type Request } from "playwright-core";
import { hasTool } from "./peer_tools.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** Where the tests put their screenshots (git-ignored); docs/images/console holds copies. */
export const SHOTS = path.join(ROOT, "tests/.out/console");
/** Debian's Chromium, the browser itself (package `chromium`). */
export const CHROMIUM_BROWSER = "/usr/bin/chromium";
/**
 * What the browser tests run: Debian's Chromium as its headless shell (package `chromium-headless-shell`: the
 * same build without the browser's windows, the binary Playwright itself runs headless), else the browser. The
 * shell costs a quarter of the CPU: tests/console/back_place_test took 7.4 s of CPU with it and 29 s with the
 * browser, and the browser tests were most of the suite's CPU. What only the browser has (its PDF viewer) is
 * asked for by `launchBrowser`'s `full`.
 */
export const CHROMIUM = ["/usr/lib/chromium/chromium-headless-shell", CHROMIUM_BROWSER]
  .find((binary) => hasTool(binary)) ?? CHROMIUM_BROWSER;
/** The locale the browser runs in: the tests format expected dates with it. */
export const LOCALE = "en-GB";

export const hasChromium = () => hasTool(CHROMIUM);
/** Whether the browser itself is installed (`launchBrowser`'s `full`). */
export const hasChromiumBrowser = () => hasTool(CHROMIUM_BROWSER);

/**
 * Chromium on a profile of its own. A SIGHUP to the test process leaves it open (`handleSIGHUP: false`):
 * Playwright's default closes every browser it launched at a SIGHUP, and `deno test --parallel` runs every
 * test file in one process, so tests/ops/tls_reload_test's SIGHUPs to its in-process hub closed the Chromium of
 * whichever console test ran beside it ("Target page, context or browser has been closed"; fresh-clone CI at
 * bb4cce08 failed both tests of tests/support/console_rig_test so, and two later runs hung in that file with no
 * Chromium left). A SIGINT or SIGTERM still closes it (Playwright's default: the run is being stopped).
 */
export async function launchBrowser(
  viewport = { width: 1366, height: 800 },
  extraArgs: string[] = [],
  /** The browser itself rather than its headless shell (`CHROMIUM`): for its PDF viewer. */
  full = false,
): Promise<BrowserContext> {
  const profile = await Deno.makeTempDir({ prefix: "chromium-" });
  await Deno.mkdir(SHOTS, { recursive: true });
  return await chromium.launchPersistentContext(profile, {
    executablePath: full ? CHROMIUM_BROWSER : CHROMIUM,
    headless: true,
    handleSIGHUP: false,
    locale: LOCALE,
    timezoneId: "Europe/London",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
    viewport,
  });
}

/** Content-Security-Policy refusals the page reports on its console, collected as they come. */
export function watchCsp(page: Page): string[] {
  const violations: string[] = [];
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });
  return violations;
}

/**
 * The page's requests in flight, counted from now on (watch before the `goto`): `settled()` resolves once every
 * request the page made has its answer (or failed) and the page has drawn two frames since, so what it shows
 * is what those answers made; for a check of the whole screen (its layout, its controls) instead of a fixed
 * wait after the screen's first part shows. Event streams (a job's progress, an EventSource open as long as
 * the job runs) are not waited for.
 */
export function watchRequests(page: Page): { settled(what: string): Promise<void> } {
  const inFlight = new Set<Request>();
  page.on("request", (r) => void (r.resourceType() !== "eventsource" && inFlight.add(r)));
  page.on("requestfinished", (r) => inFlight.delete(r));
  page.on("requestfailed", (r) => inFlight.delete(r));
  return {
    async settled(what) {
      const deadline = Date.now() + 20_000;
      while (inFlight.size > 0) {
        if (Date.now() > deadline) {
          throw new Error(
            `${what}: requests still unanswered: ${[...inFlight].map((r) => r.url()).join(", ")}`,
          );
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      await page.evaluate(() =>
        new Promise((done) => {
          const g = globalThis as unknown as { requestAnimationFrame(f: () => void): void };
          g.requestAnimationFrame(() => g.requestAnimationFrame(() => setTimeout(done)));
        })
      );
    },
  };
}

/** The text of the element that has the keyboard's focus (a confirmation's safe answer, say). */
export const focused = (page: Page): Promise<string> =>
  // deno-lint-ignore no-explicit-any
  page.evaluate(() => (globalThis as any).document.activeElement?.textContent?.trim() ?? "");

/** Logs in through the console's form (the page shows it at any URL when logged out). */
export async function logIn(page: Page, user: string, password: string): Promise<void> {
  await submitLogIn(page, user, password);
  await page.getByRole("button", { name: "Log out" }).waitFor();
}

/**
 * Fills in the console's login form and sends it, without waiting for the console after it: for a login that
 * leads out of the console (to the viewer), where no Log out button comes.
 */
export async function submitLogIn(page: Page, user: string, password: string): Promise<void> {
  // Exact: a screen still shown behind the login (the Admin screen's "Users" table) must not match.
  await page.getByLabel("User", { exact: true }).fill(user);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

/**
 * Waits for `selector` on the page; on a timeout the error says what the page showed instead (its
 * address and the start of its text), so a failure under a loaded CI run can be read from the log.
 */
export async function waitForOnPage(page: Page, selector: string, timeout = 20_000): Promise<void> {
  try {
    await page.locator(selector).first().waitFor({ timeout });
  } catch (err) {
    const text = await page.locator("body").innerText({ timeout: 2000 }).catch((e) => `(unreadable: ${e})`);
    throw new Error(
      `${selector} not shown within ${timeout} ms at ${page.url()}; the page showed: ${
        text.replace(/\s+/g, " ").slice(0, 1500)
      }`,
      { cause: err },
    );
  }
}

/** A screen's link in the header. */
export function nav(page: Page, name: string) {
  return page.getByRole("navigation", { name: "Screens" }).getByRole("link", { name, exact: true });
}

/** Screenshots of the page as it is, light (`NAME.png`) and dark (`NAME-dark.png`). */
export async function shoot(page: Page, name: string): Promise<void> {
  await page.emulateMedia({ colorScheme: "light" });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.screenshot({ path: path.join(SHOTS, `${name}-dark.png`) });
  await page.emulateMedia({ colorScheme: "light" });
}

/**
 * Words of the page's `main` that the layout breaks across lines (at most `limit`, as "word (tag)"):
 * a table squeezed into a narrow window instead of scrolling shows its headers and values one letter
 * a line. Only words of up to 24 characters count: UIDs and tokens may break where they must; a break
 * after a hyphen or a slash is no break of a word.
 */
export async function brokenWords(page: Page, limit = 5): Promise<string[]> {
  return await page.evaluate((limit) => {
    // deno-lint-ignore no-explicit-any
    const doc = (globalThis as any).document;
    const main = doc.querySelector("main");
    if (!main) return [];
    const walker = doc.createTreeWalker(main, 4 /* NodeFilter.SHOW_TEXT */);
    const broken: string[] = [];
    for (let node = walker.nextNode(); node && broken.length < limit; node = walker.nextNode()) {
      const text: string = node.textContent ?? "";
      // Words as the browser may break them: at spaces, and after hyphens and slashes.
      for (const m of text.matchAll(/[^\s\-/]+[-/]?/g)) {
        if (m[0].length < 2 || m[0].length > 24) continue;
        const range = doc.createRange();
        range.setStart(node, m.index!);
        range.setEnd(node, m.index! + m[0].length);
        const lines = new Set([...range.getClientRects()].map((r: { top: number }) => Math.round(r.top)));
        if (lines.size > 1) broken.push(`${m[0]} (${node.parentElement?.tagName.toLowerCase()})`);
        if (broken.length >= limit) break;
      }
    }
    return broken;
  }, limit);
}

/** The page's form controls, buttons and links that have no accessible name (as "tag#n" and their HTML). */
export async function unnamedControls(page: Page): Promise<string[]> {
  return await page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const doc = (globalThis as any).document;
    const out: string[] = [];
    doc.querySelectorAll("body input, body select, body textarea, body button, body a[href]").forEach(
      // deno-lint-ignore no-explicit-any
      (el: any, i: number) => {
        if (el.type === "hidden") return;
        const labelled = el.getAttribute("aria-labelledby")
          ?.split(" ").map((id: string) => doc.getElementById(id)?.textContent ?? "").join("");
        const name = el.getAttribute("aria-label") || labelled ||
          [...(el.labels ?? [])].map((l: { textContent: string }) => l.textContent).join("").trim() ||
          (el.tagName === "INPUT" || el.tagName === "SELECT" ? "" : el.textContent.trim()) || el.title;
        if (!name) out.push(`${el.tagName.toLowerCase()}#${i} ${el.outerHTML.slice(0, 80)}`);
      },
    );
    return out;
  });
}

/**
 * Asserts that a refused value's error is tied to `field` (ui/src/field_error.ts): the field is marked
 * `aria-invalid`, described by an alert whose text matches `reason`, and has the focus.
 */
export async function assertTiedToError(field: Locator, reason: RegExp, what: string): Promise<void> {
  await field.page().waitForFunction(
    // deno-lint-ignore no-explicit-any
    (el: any) => el.getAttribute("aria-invalid") === "true",
    await field.elementHandle(),
    { timeout: 15_000 },
  ).catch((e) => {
    throw new Error(`${what}: not marked aria-invalid`, { cause: e });
  });
  const id = await field.getAttribute("aria-describedby");
  assert.ok(id, `${what}: described by the error`);
  const why = field.page().locator(`[id="${id}"]`);
  assert.equal(await why.getAttribute("role"), "alert", `${what}: described by an alert`);
  const said = await why.innerText();
  assert.match(said, reason, `${what}: the error's sentence: ${said}`);
  assert.ok(await field.evaluate((el) => el === el.ownerDocument.activeElement), `${what}: focused`);
}

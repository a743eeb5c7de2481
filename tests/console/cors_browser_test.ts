/**
 * The hub's DICOMweb from a page of another origin, in Chromium (`dicomweb.cors`, hub/dicomweb/cors.ts):
 * a tiny web server on another loopback port stands for a viewer's deployment, and its page fetches QIDO-RS
 * and WADO-RS metadata from the hub with a bearer token, and stores by STOW-RS (a preflighted POST). From
 * the allowed origin the browser hands the answers to the page, errors too; from another origin it blocks
 * them; and even from the allowed origin it never hands over an answer to a call made with the console's
 * session cookie. The same over plain HTTP: tests/dicomweb/cors_test.ts.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { skipReason } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { withConsole } from "../support/console_rig.ts";
import { hasChromium, logIn } from "../support/browser.ts";
import { CT, CT_STUDY } from "../dicomweb/_dicomweb.ts";

const skip = hasChromium() ? skipReason("storescu") : "chromium not installed";
if (skip) console.warn(`cors_browser_test: skipped: ${skip}`);

/** A web server on a loopback port of its own: an empty page at `/`, pydicom's CT at `/ct.dcm`. */
function pageServer(): { origin: string; server: Deno.HttpServer<Deno.NetAddr> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/ct.dcm") {
      return new Response(await Deno.readFile(CT), { headers: { "content-type": "application/dicom" } });
    }
    if (path === "/") {
      return new Response("<!doctype html><title>A viewer elsewhere</title><p>viewer", {
        headers: { "content-type": "text/html; charset=utf-8" },
      });
    }
    return new Response("not here", { status: 404 });
  });
  return { origin: `http://127.0.0.1:${server.addr.port}`, server };
}

/** What the page's `fetch` gave: the status, some headers and the body, or the error it threw. */
type Outcome =
  | {
    status: number;
    contentType: string | null;
    authenticate: string | null;
    warning: string | null;
    body: string;
  }
  | { error: string };

/** `fetch(url, init)` run by the page, in its origin; `stow` sends `/ct.dcm` of the page's server as STOW-RS. */
function fetchFromPage(
  page: Page,
  url: string,
  init: { token?: string; accept?: string; credentials?: "include" | "omit"; stow?: boolean } = {},
): Promise<Outcome> {
  return page.evaluate(async ({ url, init }) => {
    try {
      const headers: Record<string, string> = {};
      if (init.token) headers.authorization = `Bearer ${init.token}`;
      if (init.accept) headers.accept = init.accept;
      let body: Blob | undefined;
      if (init.stow) {
        const dicom = await (await fetch("/ct.dcm")).arrayBuffer();
        const boundary = "conduit-cors-test";
        headers["content-type"] = `multipart/related; type="application/dicom"; boundary=${boundary}`;
        body = new Blob([
          `--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`,
          dicom,
          `\r\n--${boundary}--\r\n`,
        ]);
      }
      const res = await fetch(url, {
        method: init.stow ? "POST" : "GET",
        headers,
        body,
        credentials: init.credentials ?? "same-origin",
      });
      return {
        status: res.status,
        contentType: res.headers.get("content-type"),
        authenticate: res.headers.get("www-authenticate"),
        warning: res.headers.get("warning"),
        body: await res.text(),
      };
    } catch (err) {
      return { error: String(err) };
    }
  }, { url, init });
}

/** Waits until the page's console has said `what` (Playwright delivers its messages as they come). */
async function reported(messages: string[], what: RegExp): Promise<void> {
  try {
    await eventually(
      `the browser's console to say ${what}`,
      () => messages.some((m) => what.test(m)),
      10_000,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; it said:\n${messages.join("\n")}`);
  }
}

const answered = (o: Outcome, what: string) => {
  if ("error" in o) throw new Error(`${what}: the browser withheld the answer: ${o.error}`);
  return o;
};

Deno.test({
  name:
    "a page of an allowed origin reads the hub's DICOMweb with a token; another origin's, or a session's, is blocked",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const allowed = pageServer();
    const other = pageServer();
    try {
      await withConsole(
        { buildIfMissing: true, hub: { cors: { origins: [allowed.origin] } } },
        async (rig) => {
          const north = await rig.startAgent("north", { aet: "NORTH" });
          const sent = await storescu([CT], north);
          assert.equal(sent.code, 0, sent.stderr);
          await eventually("north online", () => rig.hub.sessions.get("north"));
          const viewer = (await rig.hub.tokens.create("viewer elsewhere", "viewer")).token;
          const operator = (await rig.hub.tokens.create("stow elsewhere", "operator")).token;
          const dicomweb = `${rig.url}dicomweb/sites/north`;

          const page = await rig.browser.newPage();
          const messages: string[] = [];
          page.on("console", (m) => messages.push(m.text()));
          await page.goto(`${allowed.origin}/`);

          // QIDO-RS and WADO-RS metadata, as a viewer asks them.
          const studies = answered(
            await fetchFromPage(page, `${dicomweb}/studies`, {
              token: viewer,
              accept: "application/dicom+json",
            }),
            "QIDO-RS",
          );
          assert.equal(studies.status, 200, studies.body);
          assert.match(studies.contentType!, /^application\/dicom\+json/);
          const found = JSON.parse(studies.body) as Record<string, { Value: string[] }>[];
          assert.deepEqual(found.map((s) => s["0020000D"].Value[0]), [CT_STUDY]);
          const metadata = answered(
            await fetchFromPage(page, `${dicomweb}/studies/${CT_STUDY}/metadata`, {
              token: viewer,
              accept: "application/dicom+json",
            }),
            "WADO-RS metadata",
          );
          assert.equal(metadata.status, 200, metadata.body);
          const instances = JSON.parse(metadata.body) as Record<string, { Value: string[] }>[];
          assert.equal(instances.length, 1);
          assert.equal(instances[0]["0020000D"].Value[0], CT_STUDY);

          // A federated search names, in a Warning the page can read, a site it could not ask.
          await rig.hub.registry.enroll((await rig.hub.registry.add("south")).enrollmentToken);
          const federated = answered(
            await fetchFromPage(page, `${rig.url}dicomweb/studies`, { token: viewer }),
            "federated QIDO-RS",
          );
          assert.equal(federated.status, 200, federated.body);
          assert.equal(JSON.parse(federated.body).length, 1);
          assert.match(federated.warning ?? "", /^299 .*south/);

          // Its errors are readable too: the problem and the challenge of a 401.
          const refused = answered(await fetchFromPage(page, `${dicomweb}/studies`), "401");
          assert.equal(refused.status, 401);
          assert.equal(refused.contentType, "application/problem+json");
          assert.match(JSON.parse(refused.body).detail, /Authorization: Bearer/);
          assert.equal(refused.authenticate, 'Bearer realm="conduit"');

          // STOW-RS: a POST of multipart/related, which the browser preflights.
          const stored = answered(
            await fetchFromPage(page, `${dicomweb}/studies`, { token: operator, stow: true }),
            "STOW-RS",
          );
          assert.equal(stored.status, 200, stored.body);
          assert.equal(JSON.parse(stored.body)["00081199"].Value.length, 1);

          // The console's session cookie, from the same page: the hub takes the session, but the browser
          // withholds the answer of a credentialed call (no Access-Control-Allow-Credentials).
          await rig.hub.users.add("cors-admin", "admin", "a long enough password 1");
          const consolePage = await rig.browser.newPage();
          await consolePage.goto(rig.url);
          await logIn(consolePage, "cors-admin", "a long enough password 1");
          const cookies = await rig.browser.cookies(rig.url);
          assert.ok(cookies.some((c) => c.name === "conduit_session"), "logged in to the console");
          const withSession = await fetchFromPage(page, `${dicomweb}/studies`, { credentials: "include" });
          assert.ok(
            "error" in withSession,
            `a session's answer reached the page: ${JSON.stringify(withSession)}`,
          );
          assert.match(withSession.error, /TypeError: Failed to fetch/);
          // The browser says why on the page's console (its events may come after the fetch failed).
          await reported(messages, /blocked by CORS policy.*Access-Control-Allow-Credentials/s);

          // A page of another origin: the preflight is refused, the page gets nothing.
          const otherPage = await rig.browser.newPage();
          const otherMessages: string[] = [];
          otherPage.on("console", (m) => otherMessages.push(m.text()));
          await otherPage.goto(`${other.origin}/`);
          for (
            const [url, init] of [
              [`${dicomweb}/studies`, { token: viewer, accept: "application/dicom+json" }],
              [`${dicomweb}/studies/${CT_STUDY}/metadata`, { token: viewer }],
              [`${dicomweb}/studies`, { token: operator, stow: true }],
            ] as const
          ) {
            const blocked = await fetchFromPage(otherPage, url, init);
            assert.ok("error" in blocked, `${url} reached ${other.origin}: ${JSON.stringify(blocked)}`);
            assert.match(blocked.error, /TypeError: Failed to fetch/);
          }
          await reported(otherMessages, /blocked by CORS policy.*preflight/s);
        },
      );
    } finally {
      await allowed.server.shutdown();
      await other.server.shutdown();
    }
  },
});

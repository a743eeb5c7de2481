/**
 * How the hub refuses: tRPC errors from one mapper (unknown site NOT_FOUND, bad input BAD_REQUEST
 * with a sentence, never raw zod JSON), a pending site answered the same way on tRPC and DICOMweb
 * (503, "not connected yet"), and every unknown path under the API prefixes a 404 problem object,
 * never the console's page; rendered and thumbnail resources' errors JSON problems; bad names in a
 * path 400; a QIDO-RS date that is not one 400 with the reason; a transfer's bad windows BAD_REQUEST with
 * what is wrong (which window of a list), before its sites are asked.
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

const code = (c: string, message?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof TRPCClientError, String(e));
  assert.equal(e.data?.code, c, e.message);
  if (message) assert.match(e.message, message);
  assert.doesNotMatch(e.message, /^\s*\[|"code":|\n\s+at /, "a sentence, not zod JSON or a stack");
  return true;
};

/** A hub with two sites and no agent: north enrolled (so offline), east only added (pending). */
async function hubWithSites(): Promise<TestHub> {
  const hub = await startTestHub();
  await hub.registry.enroll((await hub.registry.add("north")).enrollmentToken);
  await hub.registry.add("east");
  return hub;
}

Deno.test({
  name:
    "tRPC: unknown site NOT_FOUND, bad input BAD_REQUEST with a sentence, pending site 503 on tRPC and DICOMweb",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await hubWithSites();
    try {
      const url = `http://127.0.0.1:${hub.port}`;
      const token = (await hub.tokens.create("ops", "admin")).token;
      const client = createConduitClient({ url, token });

      await assert.rejects(
        client.query.studies.query({ site: "nowhere" }),
        code("NOT_FOUND", /no site named nowhere/),
      );
      await assert.rejects(
        client.query.series.query({ site: "nowhere", studyInstanceUid: "1.2.3" }),
        code("NOT_FOUND", /no site named nowhere/),
      );
      await assert.rejects(client.site.nodes.query({ site: "nowhere" }), code("NOT_FOUND"));
      await assert.rejects(client.sites.echo.mutate({ site: "nowhere", node: "pacs" }), code("NOT_FOUND"));
      await assert.rejects(client.site.revoke.mutate({ site: "nowhere" }), code("NOT_FOUND"));
      await assert.rejects(
        client.transfers.create.mutate({
          source: { site: "nowhere" },
          destination: { site: "north" },
          studies: ["1.2"],
        }),
        code("NOT_FOUND", /no site named nowhere/),
      );
      await assert.rejects(client.transfers.get.query({ id: "0000" }), code("NOT_FOUND", /no transfer 0000/));
      await assert.rejects(client.batch.status.query({ id: "0000" }), code("NOT_FOUND", /no batch 0000/));

      await assert.rejects(
        client.query.series.query({ site: "north", studyInstanceUid: "1.2/../3" }),
        code("BAD_REQUEST", /^the input was refused: studyInstanceUid: not a DICOM UID/),
      );
      await assert.rejects(
        client.site.nodes.query({ site: "../etc" }),
        code("BAD_REQUEST", /site: not a site or node name/),
      );
      await assert.rejects(
        client.transfers.create.mutate({ source: { site: "north" } } as never),
        code("BAD_REQUEST", /destination: required/),
      );
      await assert.rejects(
        client.users.add.mutate({ name: "bob", role: "viewer", password: "short" }),
        code("BAD_REQUEST", /password/),
      );

      // Never enrolled: 503 "not connected yet", the same on tRPC and DICOMweb; offline: 503 too.
      await assert.rejects(
        client.query.studies.query({ site: "east" }),
        code("SERVICE_UNAVAILABLE", /not connected yet/),
      );
      await assert.rejects(
        client.site.nodes.query({ site: "east" }),
        code("SERVICE_UNAVAILABLE", /not connected yet/),
      );
      await assert.rejects(
        client.transfers.create.mutate({
          source: { site: "north" },
          destination: { site: "east" },
          studies: ["1.2"],
        }),
        code("SERVICE_UNAVAILABLE", /not connected yet/),
      );
      await assert.rejects(
        client.site.nodes.query({ site: "north" }),
        code("SERVICE_UNAVAILABLE", /not connected/),
      );
      for (
        const path of [
          "/sites/east/studies",
          "/sites/east/studies/1.2.3/metadata",
          "/sites/east/nodes/pacs/series",
        ]
      ) {
        const res = await fetch(`${url}/dicomweb${path}`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 503, path);
        assert.equal(res.headers.get("content-type"), "application/problem+json");
        assert.match((await res.json()).detail, /site east is not connected yet/);
      }
      const raw = await fetch(`${url}/trpc/query.studies?input=${encodeURIComponent('{"site":"east"}')}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(raw.status, 503);
      await raw.body?.cancel();
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name:
    "unknown paths under /dicomweb, /trpc, /auth and /api are 404 problem objects; rendered and thumbnail problems as JSON; bad names and dates 400",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      await hub.registry.enroll((await hub.registry.add("north")).enrollmentToken);
      const url = `http://127.0.0.1:${hub.port}`;
      const auth = { authorization: `Bearer ${(await hub.tokens.create("v", "viewer")).token}` };
      const expect = async (
        method: string,
        path: string,
        status: number,
        headers: Record<string, string>,
        detail?: RegExp,
      ) => {
        const res = await fetch(`${url}${path}`, { method, headers });
        const text = await res.text();
        assert.equal(res.status, status, `${method} ${path}: ${res.status} ${text.slice(0, 120)}`);
        assert.equal(res.headers.get("content-type"), "application/problem+json", `${method} ${path}`);
        const body = JSON.parse(text);
        assert.equal(body.status, status);
        if (detail) assert.match(body.detail, detail, path);
        assert.doesNotMatch(text, /<html|<!doctype|\n\s+at /i);
      };
      for (
        const path of [
          "/dicomweb/sites/north/bogus",
          "/dicomweb/bogus",
          "/dicomweb",
          "/dicomweb/sites/north/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5/frames/1/bogus",
          "/trpc/bogus",
          "/trpc/sites.list,bogus",
          "/trpc",
          "/auth/bogus",
          "/auth",
          "/api",
          "/api/v1/studies",
        ]
      ) {
        await expect("GET", path, 404, auth);
        await expect("POST", path, 404, auth);
      }
      for (const path of ["/trpc/bogus", "/auth/bogus", "/api/x"]) await expect("GET", path, 404, {});
      const i = "/studies/1.2.3/series/1.2.3.4/instances/1.2.3.4.5";
      for (const root of ["/dicomweb", "/dicomweb/sites/north", "/dicomweb/sites/north/nodes/pacs"]) {
        for (const level of ["/studies/1.2.3", "/studies/1.2.3/series/1.2.3.4", i, `${i}/frames/1`]) {
          // North is enrolled but offline: its roots are 503, the federated root finds no site (404);
          // a media type other than JPEG or PNG is 406 before any site is asked.
          for (const kind of ["rendered", "thumbnail"]) {
            const status = root === "/dicomweb" ? 404 : 503;
            await expect("GET", `${root}${level}/${kind}`, status, auth);
            await expect(
              "GET",
              `${root}${level}/${kind}`,
              406,
              { ...auth, accept: "image/gif" },
              /image\/png/,
            );
          }
        }
      }
      for (
        const path of [
          "/dicomweb/sites/north/nodes/a%20b/studies",
          "/dicomweb/sites/north/nodes/..%2F..%2Fetc/studies",
          "/dicomweb/sites/north/nodes/%00/studies/1.2.3",
          "/dicomweb/sites/north/nodes/-x/studies/1.2.3/metadata",
          `/dicomweb/sites/north/nodes/${"n".repeat(65)}/series`,
          "/dicomweb/sites/no%20rth/studies",
        ]
      ) {
        await expect("GET", path, 400, auth, /is not a valid name/);
      }
      // A long bad name or UID is quoted short: its first characters and its length.
      await expect(
        "GET",
        `/dicomweb/sites/${"n".repeat(5000)}/studies`,
        400,
        auth,
        /^site "n{79}… \(5002 characters\) is not a valid name/,
      );
      await expect(
        "GET",
        `/dicomweb/sites/north/studies/${"1.".repeat(3000)}1/series`,
        400,
        auth,
        /^study "1\.1\.[0-9.]{75}… \(6003 characters\) is not a UID$/,
      );
      // QIDO-RS: a date or date range that is not one is 400 with the reason, before any site is asked.
      for (
        const [query, reason] of [
          ["StudyDate=notadate", /StudyDate: "notadate" is not a date/],
          ["StudyDate=2024-13-45", /StudyDate: "2024-13-45" is not a date or a range/],
          ["StudyDate=20241345", /has no month 13/],
          ["StudyDate=20240201-20240101", /ends before it starts/],
          ["PatientBirthDate=19990230", /has no day 30/],
          ["StudyTime=2561", /not a time of day/],
        ] as const
      ) {
        for (const root of ["/dicomweb", "/dicomweb/sites/north"]) {
          await expect("GET", `${root}/studies?${query}`, 400, auth, reason);
        }
      }
      // The console still answers its own paths.
      const page = await fetch(`${url}/explorer`);
      assert.notEqual(page.headers.get("content-type"), "application/problem+json");
      await page.body?.cancel();
    } finally {
      await hub.stop();
    }
  },
});

/**
 * A path whose percent-encoding is not UTF-8 names nothing: 404, not a 500 with an error in the hub's
 * log (until 2026-12-04 the console's, the viewer's and tRPC's routes threw URIError on it, so anyone
 * could fill the log with errors).
 */
Deno.test({
  name: "a path with a malformed percent-encoding is a 404 problem, and no error in the hub's log",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const url = `http://127.0.0.1:${hub.port}`;
      const auth = { authorization: `Bearer ${(await hub.tokens.create("v", "viewer")).token}` };
      for (
        const path of ["/%E0%A4%A", "/explorer/%FF", "/assets/%C0.js", "/trpc/%E0%A4%A", "/viewer/%E0%A4%A"]
      ) {
        const res = await fetch(`${url}${path}`, { headers: auth });
        const text = await res.text();
        assert.equal(res.status, 404, `${path}: ${res.status} ${text.slice(0, 120)}`);
        assert.equal(res.headers.get("content-type"), "application/problem+json", path);
      }
      const errors = hub.lines.filter((l) => /"level":"error"/.test(l));
      assert.deepEqual(errors, []);
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name:
    "tRPC: transfers.create says what is wrong with its windows before it asks its sites (pending, offline)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await hubWithSites();
    try {
      const url = `http://127.0.0.1:${hub.port}`;
      const client = createConduitClient({ url, token: (await hub.tokens.create("ops", "operator")).token });
      const create = (window: unknown) =>
        client.transfers.create.mutate({
          source: { site: "north" },
          destination: { site: "east" },
          studies: ["1.2.3"],
          window: window as { start: string; end: string },
        });
      const good = { start: "19:00", end: "07:00" };
      const cases: [unknown, RegExp][] = [
        [{ start: "25:00", end: "06:00" }, /^the window's start "25:00" is not a time of day as HH:MM$/],
        [{ ...good, timeZone: "Mars/Olympus" }, /^"Mars\/Olympus" is not an IANA time zone/],
        [{ ...good, days: ["monday"] }, /^"monday" is not a day: use sun, mon/],
        [{ ...good, days: [] }, /days name at least one day/],
        [
          [good, { ...good, end: "7" }],
          /^window 2 of 2: the window's end "7" is not a time of day as HH:MM$/,
        ],
        [{ start: "19:00" }, /^the input was refused: window\.end: required$/],
        // In the service's words, not zod's (until 2026-12-07 "Array must contain at least 1 element(s)"...).
        [[], /^name at least one window \(or none at all\)$/],
        [Array(15).fill(good), /^at most 14 windows$/],
        [{ ...good, start: " 19:00" }, /^the window's start " 19:00" is not a time of day as HH:MM$/],
        [
          { ...good, timeZone: "+25:00" },
          /^"\+25:00" is not an IANA time zone \(e\.g\. Europe\/Paris\) or an offset/,
        ],
        [null, /^the input was refused: window: expected object or array, received null$/],
      ];
      for (const [window, message] of cases) {
        await assert.rejects(create(window), code("BAD_REQUEST", message), JSON.stringify(window));
      }
      // A good window: then the sites are asked (east has not enrolled).
      await assert.rejects(
        create(Array(14).fill(good)),
        code("SERVICE_UNAVAILABLE", /east is not connected yet/),
      );
      assert.deepEqual(await client.transfers.list.query({}), [], "nothing was created");
    } finally {
      await hub.stop();
    }
  },
});

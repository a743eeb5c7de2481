/**
 * Inputs at the edges, as a script sends them: a page's `offset` far past any end (1e20, more than the
 * database's integers hold) and a batch file that is not base64 are BAD_REQUEST naming the field, never
 * `internal error`; a `query.studies` filter that QIDO-RS would refuse (an unknown keyword: a typo, a date that
 * is not one) is refused by name, never ignored to match every study; a token limited to an empty list of sites
 * is refused, never made a token of every site.
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import { startTestHub } from "../support/hub.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

const refused = (field: string) => (e: unknown) => {
  assert.ok(e instanceof TRPCClientError, String(e));
  assert.equal(e.data?.code, "BAD_REQUEST", e.message);
  assert.match(e.message, new RegExp(`^the input was refused: ${field}: `));
  return true;
};

Deno.test({
  name: "tRPC: an offset past what the database holds and a batch file not in base64 are BAD_REQUEST by name",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const url = `http://127.0.0.1:${hub.port}`;
      const token = (await hub.tokens.create("edges", "admin")).token;
      const client = createConduitClient({ url, token });
      const huge = 1e20;
      await assert.rejects(client.transfers.list.query({ offset: huge }), refused("offset"));
      await assert.rejects(client.transfers.summaries.query({ offset: huge }), refused("offset"));
      await assert.rejects(client.batch.list.query({ offset: huge }), refused("offset"));
      await assert.rejects(client.audit.list.query({ offset: huge }), refused("offset"));
      // An id that is no job's (a whole file sent as the id) is refused by its length, not echoed back in a
      // NOT_FOUND of 30 KB (until 2026-12-06).
      const long = "x".repeat(30_000);
      for (
        const call of [
          () => client.transfers.get.query({ id: long }),
          () => client.transfers.cancel.mutate({ id: long }),
          () => client.batch.status.query({ id: long }),
        ]
      ) {
        await assert.rejects(call(), (e: unknown) => {
          refused("id")(e);
          assert.match((e as Error).message, /an id has at most 64 characters/);
          assert.ok((e as Error).message.length < 200, "the id is not echoed");
          return true;
        });
      }
      // Past the end but within reach: an empty page, as before.
      assert.deepEqual(await client.transfers.list.query({ offset: 1_000_000_000 }), []);
      assert.deepEqual(await client.batch.list.query({ offset: 1_000_000_000 }), []);

      const notBase64 = "Patient ID\nPAT1\n"; // the CSV's text, sent without encoding it
      await assert.rejects(
        client.batch.preview.mutate({ filename: "rows.csv", contentBase64: notBase64 }),
        refused("contentBase64"),
      );
      await assert.rejects(
        client.batch.upload.mutate({
          kind: "query",
          filename: "rows.csv",
          contentBase64: "!!!",
          sites: ["north"],
        }),
        refused("contentBase64"),
      );
      // The same file in base64 reads.
      const preview = await client.batch.preview.mutate({
        filename: "rows.csv",
        contentBase64: btoa(notBase64),
      });
      assert.equal(preview.rows, 1);
      for (
        const [filters, why] of [
          [
            { PatientNam: "DOE*" },
            /^the input was refused: filters: PatientNam is not a DICOM keyword or tag$/,
          ],
          [{ StudyDate: "yesterday" }, /^the input was refused: filters: StudyDate: /],
          [{ limit: "3" }, /^the input was refused: filters: limit is not an attribute to match$/],
          [{ "00091001": "x" }, /filters: 00091001: a tag the dictionary does not name cannot be matched/],
        ] as const
      ) {
        await assert.rejects(client.query.studies.query({ filters }), refused("filters"));
        await assert.rejects(client.query.studies.query({ site: "north", filters }), (e: Error) => {
          assert.match(e.message, why);
          return true;
        });
      }
      // A token limited to no site at all is refused: it was stored as a token of every site.
      await assert.rejects(
        client.tokens.create.mutate({ name: "none", role: "viewer", sites: [] }),
        (e: unknown) => {
          assert.ok(e instanceof TRPCClientError && e.data?.code === "BAD_REQUEST", String(e));
          assert.match(e.message, /^sites: name at least one site/);
          return true;
        },
      );
      assert.ok(!(await client.tokens.list.query()).some((t) => t.name === "none"), "no token made");
      // Its name is the audit log's actor and a column of `admin token list`: one line of text.
      await assert.rejects(
        client.tokens.create.mutate({ name: "nightly\nexport", role: "viewer" }),
        /^TRPCClientError: name: no control characters/,
      );
      // What is named and does not exist is NOT_FOUND, as an unknown transfer or batch is.
      const notFound = (what: RegExp) => (e: unknown) => {
        assert.ok(e instanceof TRPCClientError && e.data?.code === "NOT_FOUND", String(e));
        assert.match(e.message, what);
        return true;
      };
      await assert.rejects(
        client.tokens.revoke.mutate({ id: "000000000000" }),
        notFound(/^no token 000000000000$/),
      );
      await assert.rejects(
        client.users.setRole.mutate({ name: "nobody", role: "viewer" }),
        notFound(/^no user nobody$/),
      );
      await assert.rejects(
        client.users.setDisabled.mutate({ name: "nobody", disabled: true }),
        notFound(/^no user nobody$/),
      );
      for (const site of ["north", "south"]) {
        await hub.registry.enroll((await hub.registry.add(site)).enrollmentToken); // enrolled, offline
      }
      const { id } = await client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south" },
        studies: ["1.2.3"],
      });
      await assert.rejects(
        client.transfers.objects.query({ id, study: "1.2.4" }),
        notFound(/^the transfer has no study 1\.2\.4$/),
      );
      // Its source offline: the site is unavailable, as for any request to it, not a bad request.
      await assert.rejects(client.transfers.objects.query({ id, study: "1.2.3" }), (e: unknown) => {
        assert.ok(e instanceof TRPCClientError, String(e));
        assert.equal(e.data?.code, "SERVICE_UNAVAILABLE", e.message);
        assert.equal(e.message, "site north is not connected");
        return true;
      });
      // An idempotency key is per token, even between two tokens of one name.
      const named = async () =>
        createConduitClient({ url, token: (await hub.tokens.create("nightly", "operator")).token });
      const [first, second] = [await named(), await named()];
      const keyed = {
        source: { site: "north" },
        destination: { site: "south" },
        studies: ["1.2.3"],
        idempotencyKey: "row-1",
      };
      const mine = await first.transfers.create.mutate(keyed);
      assert.deepEqual(await first.transfers.create.mutate(keyed), mine, "the same token: the same job");
      assert.notDeepEqual(await second.transfers.create.mutate(keyed), mine, "another token: its own job");
      // A retry that spells out a default (priority 0) asks for the same job; another priority does not.
      assert.deepEqual(await first.transfers.create.mutate({ ...keyed, priority: 0 }), mine);
      await assert.rejects(
        first.transfers.create.mutate({ ...keyed, priority: 1 }),
        /given before with another/,
      );
      const deid = { ...keyed, idempotencyKey: "row-2", deid: { profile: "basic" as const } };
      const pseudonymized = await first.transfers.create.mutate(deid);
      assert.deepEqual(
        await first.transfers.create.mutate({
          ...deid,
          deid: { profile: "basic", options: [], allowBurnedIn: false },
        }),
        pseudonymized,
      );

      // Over plain HTTP, what tRPC refuses before any procedure runs says what was wrong and what to do.
      const raw = async (path: string, init: RequestInit = {}) => {
        const res = await fetch(`${url}/trpc/${path}`, {
          ...init,
          headers: { authorization: `Bearer ${token}`, ...init.headers as Record<string, string> },
        });
        const body = await res.json();
        return [res.status, body.error?.data?.code, body.error?.message];
      };
      const json = { "content-type": "application/json" };
      const [status, code, notJson] = await raw("tokens.revoke", {
        method: "POST",
        headers: json,
        body: "{id:",
      });
      assert.deepEqual([status, code], [400, "BAD_REQUEST"]);
      assert.match(notJson, /^the input is not JSON \(.+\): a query's input=, a mutation's body$/);
      const [, , notJsonQuery] = await raw("transfers.get?input=%7Bid");
      assert.match(notJsonQuery, /^the input is not JSON /);
      assert.deepEqual(
        await raw("tokens.revoke", { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" }),
        [
          415,
          "UNSUPPORTED_MEDIA_TYPE",
          `a mutation's body is its input as JSON: send Content-Type: application/json (not "text/plain")`,
        ],
      );
      assert.deepEqual(await raw("transfers.create"), [
        405,
        "METHOD_NOT_SUPPORTED",
        "transfers.create is a mutation: POST it, its input as the JSON body",
      ]);
      assert.deepEqual(await raw("sites.list", { method: "POST", headers: json, body: "{}" }), [
        405,
        "METHOD_NOT_SUPPORTED",
        "sites.list is a query: GET it, its input as ?input=JSON",
      ]);
      // Another method than GET and POST is 405 saying which the procedure takes, with Allow (until 2026-12-06
      // a 415 "a mutation's body is its input as JSON", for a query too).
      for (
        const [method, path, allow, message] of [
          ["PUT", "sites.list", "GET", "sites.list is a query: GET it, its input as ?input=JSON (not PUT)"],
          [
            "DELETE",
            "sites.list,transfers.get",
            "GET",
            "sites.list is a query: GET it, its input as ?input=JSON (not DELETE)",
          ],
          [
            "PATCH",
            "transfers.create",
            "POST",
            "transfers.create is a mutation: POST it, its input as the JSON body (not PATCH)",
          ],
        ]
      ) {
        const res = await fetch(`${url}/trpc/${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, ...json },
          body: "{}",
        });
        assert.equal(res.status, 405, `${method} ${path}`);
        assert.equal(res.headers.get("allow"), allow);
        const body = await res.json();
        assert.deepEqual([body.error.data.code, body.error.message], ["METHOD_NOT_SUPPORTED", message]);
      }
      // tRPC's own refusals are JSON, and say so (until 2026-12-06 labelled text/plain).
      for (
        const [path, init] of [
          ["tokens.revoke", { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" }],
          ["sites.list,tokens.revoke?batch=1", { method: "POST", headers: json, body: "{}" }],
        ] as const
      ) {
        const res = await fetch(`${url}/trpc/${path}`, {
          ...init,
          headers: { authorization: `Bearer ${token}`, ...init.headers },
        });
        assert.equal(res.headers.get("content-type"), "application/json", path);
        assert.ok((await res.json()).error.message, path);
      }
      assert.ok(!hub.lines.some((l) => l.includes("procedure failed")), "no failure the hub did not foresee");
    } finally {
      await hub.stop();
    }
  },
});

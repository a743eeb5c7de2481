/**
 * The audit log as a privacy or security officer reads it, against a real hub (libsql; PostgreSQL under
 * `deno task test:pg`): `audit.list` filtered by who, what (exact, or a prefix), on what and when (from
 * inclusive, to exclusive), newest first with ties by id, pages that neither repeat nor skip, admin only;
 * `audit.csv` the same entries as RFC 4180 CSV (quotes, commas, line breaks, formula-looking fields
 * defused), never a token or a password; and `hub admin audit` reading the database with the same filters,
 * as a table, JSON or CSV. Every export (`audit.csv`, each run of the CLI) is itself audited (`audit.export`:
 * who, the filter, how many entries); reading pages (`audit.list`) is not.
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
// @ts-types="npm:@types/papaparse@^5"
import Papa from "papaparse";
import { hubAdmin, startTestHub } from "../support/hub.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { audit } from "../../hub/db/schema.ts";
import { auditCsv, type AuditEntry, each } from "../../hub/auth/audit.ts";
import { fromBase64 } from "@conduit/shared/base64";

const refused = (code: string, message?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof TRPCClientError, String(e));
  assert.equal(e.data?.code, code, e.message);
  if (message) assert.match(e.message, message);
  return true;
};

/** A file's text from its base64. */
const decode = (b64: string) => new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));

const T0 = Date.parse("2026-03-01T08:00:00Z");
const MIN = 60_000;

/** A user name typed at the login form, as hostile to a spreadsheet as it gets. */
const HOSTILE = '=HYPERLINK("http://x","y"),\nnext';

/** Entries of March 2026, written straight to the table (their times chosen), oldest first. */
const SEEDED = [
  { at: T0, actor: "user:alice", action: "site.add", target: "north" },
  { at: T0 + MIN, actor: "user:alice", action: "site.uplink", target: "north", detail: { uplinkMbps: 10 } },
  { at: T0 + MIN, actor: "user:bob", action: "site.add", target: "south" },
  { at: T0 + MIN, actor: "user:bob", action: "login", target: null, detail: { address: "10.0.0.7" } },
  {
    at: T0 + 2 * MIN,
    actor: "anonymous",
    action: "login.failed",
    target: HOSTILE,
    detail: { address: "::1" },
  },
  { at: T0 + 24 * 60 * MIN, actor: "user:alice", action: "site.revoke", target: "south" },
  { at: T0 + 24 * 60 * MIN, actor: "cli", action: "user.add", target: "carol", detail: { role: "viewer" } },
  {
    at: T0 + 24 * 60 * MIN,
    actor: "user:alice",
    action: "login",
    target: null,
    detail: { address: "10.0.0.8" },
  },
  {
    at: T0 + 48 * 60 * MIN,
    actor: "user:bob",
    action: "site.uplink",
    target: "south",
    detail: { uplinkMbps: null },
  },
];

Deno.test({
  name: "audit: filters by who, what, on what and when; pages stable; admin only; CSV; the admin CLI",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const base = `http://127.0.0.1:${hub.port}`;
      const made = await hub.tokens.create("officer", "admin");
      const admin = createConduitClient({ url: base, token: made.token });
      const operator = createConduitClient({
        url: base,
        token: (await hub.tokens.create("o", "operator")).token,
      });
      for (const s of SEEDED) {
        await hub.db.insert(audit).values({ ...s, detail: s.detail ? JSON.stringify(s.detail) : null });
      }
      // Entries of now too, with secrets in the changes they record: none may be exported.
      const created = await admin.tokens.create.mutate({ name: "scripts", role: "viewer" });
      await admin.users.add.mutate({ name: "dora", role: "viewer", password: "dora's secret password" });
      await admin.users.resetPassword.mutate({ name: "dora", password: "another secret password" });

      const all = await admin.audit.list.query({ limit: 1000 });
      assert.equal(all.length, SEEDED.length + 5, "the seeded entries, 2 tokens made, and 3 of now");
      // Newest first, ties by id (the newest id first): the order of every page.
      const order = all.toSorted((a, b) => b.at.localeCompare(a.at) || b.id - a.id);
      assert.deepEqual(all, order);
      const march = all.filter((e) => e.at.startsWith("2026-03"));
      assert.deepEqual(march.map((e) => e.action), SEEDED.map((s) => s.action).toReversed());
      const where = (f: (e: (typeof all)[number]) => boolean) => all.filter(f);

      // Who, what, on what.
      assert.deepEqual(
        await admin.audit.list.query({ actor: "user:alice" }),
        where((e) => e.actor === "user:alice"),
      );
      assert.equal((await admin.audit.list.query({ actor: "user:alice" })).length, 4);
      assert.deepEqual(await admin.audit.list.query({ actor: "alice" }), [], "the actor is matched whole");
      assert.deepEqual(
        await admin.audit.list.query({ action: "site.add" }),
        where((e) => e.action === "site.add"),
      );
      const sites = where((e) => e.action.startsWith("site."));
      assert.equal(sites.length, 5);
      assert.deepEqual(await admin.audit.list.query({ action: "site." }), sites, "a prefix ending in a dot");
      assert.deepEqual(await admin.audit.list.query({ action: "site.*" }), sites, "or in a star");
      assert.deepEqual(
        (await admin.audit.list.query({ action: "login" })).map((e) => e.action),
        ["login", "login"],
        "an action without a dot or star at its end is matched exactly",
      );
      assert.deepEqual(
        (await admin.audit.list.query({ action: "login*" })).map((e) => e.action),
        ["login", "login.failed", "login"],
      );
      assert.deepEqual(await admin.audit.list.query({ action: "nothing." }), []);
      assert.deepEqual(await admin.audit.list.query({ target: "south" }), where((e) => e.target === "south"));
      assert.deepEqual(
        (await admin.audit.list.query({ target: HOSTILE })).map((e) => e.action),
        ["login.failed"],
      );
      assert.deepEqual(
        (await admin.audit.list.query({ actor: "user:bob", action: "site.", target: "south" })).map((e) =>
          e.at
        ),
        ["2026-03-03T08:00:00.000Z", "2026-03-01T08:01:00.000Z"],
      );

      // When: from inclusive, to exclusive; a date alone is its midnight UTC; offsets are instants.
      assert.deepEqual(
        await admin.audit.list.query({ from: "2026-03-01T08:01:00Z", to: "2026-03-02T08:00:00Z" }),
        where((e) => e.at >= "2026-03-01T08:01:00.000Z" && e.at < "2026-03-02T08:00:00.000Z"),
      );
      assert.equal(
        (await admin.audit.list.query({ from: "2026-03-01T08:01:00Z", to: "2026-03-02T08:00:00Z" })).length,
        4,
      );
      assert.deepEqual(
        (await admin.audit.list.query({ from: "2026-03-02", to: "2026-03-03" })).map((e) => e.action),
        ["login", "user.add", "site.revoke"],
      );
      assert.deepEqual(
        await admin.audit.list.query({ from: "2026-03-01T09:01:00+01:00", to: "2026-03-01T09:02:00+01:00" }),
        await admin.audit.list.query({ from: "2026-03-01T08:01:00Z", to: "2026-03-01T08:02:00Z" }),
      );
      assert.deepEqual(await admin.audit.list.query({ to: "2026-03-01T08:00:00Z" }), []);
      assert.deepEqual(await admin.audit.list.query({ to: "2026-04-01" }), march);
      assert.deepEqual(
        await admin.audit.list.query({ from: "2026-04-01" }),
        all.slice(0, all.length - march.length),
      );

      // Pages of a filter neither repeat nor skip, across the three entries of one millisecond too.
      const filtered = await admin.audit.list.query({ action: "site.*", to: "2026-04-01" });
      const paged = [];
      for (let offset = 0; offset < 10; offset += 2) {
        paged.push(...await admin.audit.list.query({ action: "site.*", to: "2026-04-01", limit: 2, offset }));
      }
      assert.deepEqual(paged, filtered);
      assert.deepEqual(
        [
          ...await admin.audit.list.query({ limit: 4 }),
          ...await admin.audit.list.query({ limit: 4, offset: 4 }),
          ...await admin.audit.list.query({ offset: 8 }),
        ],
        all,
      );

      // What the CSV exports are read with: pages that start where the last ended (by time and id), here two
      // entries a page across the three of one millisecond, stopping at a maximum.
      const walk = async (...args: Parameters<typeof each>) => {
        const out = [];
        for await (const e of each(...args)) out.push(e);
        return out;
      };
      assert.deepEqual(await walk(hub.db, {}, Infinity, 2), all);
      assert.deepEqual(await walk(hub.db, { action: "site." }, Infinity, 2), sites);
      assert.deepEqual(await walk(hub.db, { to: "2026-04-01" }, 5, 2), march.slice(0, 5));
      assert.deepEqual(await walk(hub.db, { action: "nothing." }), []);

      // Refused: a time that is not an instant, an unknown filter, and anyone but an admin.
      await assert.rejects(
        admin.audit.list.query({ from: "yesterday" }),
        refused("BAD_REQUEST", /from: not an ISO/),
      );
      await assert.rejects(
        admin.audit.list.query({ to: "2026-13-45" }),
        refused("BAD_REQUEST", /to: not an ISO/),
      );
      await assert.rejects(
        admin.audit.list.query({ from: "2026-02-30" }),
        refused("BAD_REQUEST", /from: not an ISO/),
      );
      await assert.rejects(
        admin.audit.list.query({ to: "2026-04-31T08:00:00Z" }),
        refused("BAD_REQUEST", /to: not an/),
      );
      await assert.rejects(
        admin.audit.list.query({ who: "bob" } as never),
        refused("BAD_REQUEST", /who/),
      );
      await assert.rejects(
        admin.audit.list.query({ target: "a\u0000b" }),
        refused("BAD_REQUEST", /target: holds a NUL/),
      );
      await assert.rejects(admin.audit.list.query({ actor: "" }), refused("BAD_REQUEST", /actor/));
      await assert.rejects(operator.audit.list.query({ actor: "user:bob" }), refused("FORBIDDEN"));
      await assert.rejects(operator.audit.csv.query({}), refused("FORBIDDEN"));
      assert.deepEqual(
        await admin.audit.list.query({ limit: 1000 }),
        all,
        "reading pages, and a refused export, leave no entry",
      );

      // CSV: the same entries, a row each, quoted where needed, the detail as JSON text.
      const csv = await admin.audit.csv.query({ action: "login*" });
      assert.match(csv.filename, /^audit-\d{8}T\d{6}Z\.csv$/);
      assert.equal(csv.entries, 3);
      assert.equal(csv.truncated, false);
      assert.deepEqual(
        [...fromBase64(csv.contentBase64).slice(0, 3)],
        [0xef, 0xbb, 0xbf],
        "a mark for Excel",
      );
      const text = decode(csv.contentBase64);
      assert.ok(text.startsWith("id,at,actor,action,target,detail\r\n"), text);
      assert.ok(text.endsWith("\r\n"));
      assert.ok(text.includes(`"'=HYPERLINK(""http://x"",""y""),\nnext"`), "quoted, quotes doubled, defused");
      const rows = Papa.parse<string[]>(text.trimEnd(), { newline: "\r\n" }).data;
      const logins = where((e) => e.action.startsWith("login"));
      assert.deepEqual(
        rows.slice(1),
        logins.map((e) => [
          String(e.id),
          e.at,
          e.actor,
          e.action,
          e.target === HOSTILE ? `'${HOSTILE}` : e.target ?? "",
          e.detail ? JSON.stringify(e.detail) : "",
        ]),
      );
      const everything = await admin.audit.csv.query();
      assert.equal(everything.entries, all.length + 1, "the log, and the export of a moment ago");
      const dump = decode(everything.contentBase64);
      assert.ok(dump.includes("token.create") && dump.includes("user.password"), "the changes are there");
      for (const secret of [made.token, created.token, "secret password"]) {
        assert.ok(!dump.includes(secret), "no token or password in the export");
      }
      assert.equal(
        decode((await admin.audit.csv.query({ action: "nothing." })).contentBase64),
        "id,at,actor,action,target,detail\r\n",
      );

      // The admin CLI on the same database, with the same filters.
      const cli = async (...args: string[]) => {
        const r = await hubAdmin(hub.dataDir, ["audit", ...args]);
        assert.equal(r.code, 0, r.stderr);
        return r;
      };
      const json = (await cli("--actor", "user:bob", "--action", "site.", "--json")).json!;
      assert.deepEqual(json.entries, await admin.audit.list.query({ actor: "user:bob", action: "site." }));
      assert.deepEqual(
        (await cli("--from", "2026-03-02", "--to", "2026-03-03T00:00:00Z", "--json")).json!.entries,
        await admin.audit.list.query({ from: "2026-03-02", to: "2026-03-03" }),
      );
      // Each run of the CLI is audited once it has read: the log as it was just before it.
      const before = await admin.audit.list.query({ limit: 1000 });
      assert.deepEqual((await cli("--limit", "3", "--json")).json!.entries, before.slice(0, 3));
      const now = await admin.audit.list.query({ limit: 1000 });
      assert.deepEqual((await cli("--limit", "all", "--json")).json!.entries, now);
      const table = (await cli("--target", "north")).stdout.trim().split("\n");
      assert.deepEqual(table[0].split("\t"), ["AT", "ACTOR", "ACTION", "TARGET", "DETAIL"]);
      assert.deepEqual(table.slice(1).map((l) => l.split("\t").slice(0, 4)), [
        ["2026-03-01T08:01:00.000Z", "user:alice", "site.uplink", "north"],
        ["2026-03-01T08:00:00.000Z", "user:alice", "site.add", "north"],
      ]);
      assert.equal(table[1].split("\t")[4], '{"uplinkMbps":10}');
      assert.equal((await cli("--target", "nobody")).stdout.trim(), "no audit entries");
      // CSV from the CLI: what the console's download holds, in pages (a thousand at a time) without a cap.
      assert.equal((await cli("--action", "login*", "--csv")).stdout, text);
      const current = await admin.audit.list.query({ limit: 1000 });
      assert.equal((await cli("--csv", "--limit", "all")).stdout, auditCsv(current as AuditEntry[]));
      assert.ok(current.length > everything.entries);
      // Refused: a time that is not one, a limit that is not, --csv with --json.
      for (
        const [args, message] of [
          [["--from", "last week"], /--from: "last week" is not an ISO 8601 instant/],
          [["--limit", "0"], /--limit: 0 is neither/],
          [["--csv", "--json"], /not both/],
          [["--who", "bob"], /Unknown option '--who'/],
        ] as const
      ) {
        const r = await hubAdmin(hub.dataDir, ["audit", ...args]);
        assert.equal(r.code, 2, args.join(" "));
        assert.match(r.stderr, message);
      }

      // --help reads nothing, and says that a run is audited.
      const help = await hubAdmin(hub.dataDir, ["audit", "--help"]);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /Each run is itself audited \(audit\.export by cli/);

      // The exports of the log, audited: who, the filter as given (its times as instants), how many
      // entries, in what form; newest first. Refused command lines read nothing and leave none.
      await admin.audit.csv.query({ actor: "user:bob", from: "2026-03-01T09:00:00+01:00", to: "2026-03-03" });
      await cli("--target", HOSTILE, "--from", "2026-03-01", "--limit", "all", "--csv");
      const exports = await admin.audit.list.query({ action: "audit.", limit: 1000 });
      assert.deepEqual(await admin.audit.list.query({ action: "audit.export" }), exports);
      assert.deepEqual(exports.map((e) => [e.actor, e.action, e.target, e.detail]), [
        ["cli", "audit.export", null, {
          format: "csv",
          filter: { target: HOSTILE, from: "2026-03-01T00:00:00.000Z" },
          entries: 1,
          limit: "all",
        }],
        ["token:officer", "audit.export", null, {
          format: "csv",
          filter: { actor: "user:bob", from: "2026-03-01T08:00:00.000Z", to: "2026-03-03T00:00:00.000Z" },
          entries: 2,
          truncated: false,
        }],
        ["cli", "audit.export", null, { format: "csv", filter: {}, entries: current.length, limit: "all" }],
        ["cli", "audit.export", null, {
          format: "csv",
          filter: { action: "login*" },
          entries: 3,
          limit: 100,
        }],
        ["cli", "audit.export", null, {
          format: "table",
          filter: { target: "nobody" },
          entries: 0,
          limit: 100,
        }],
        ["cli", "audit.export", null, {
          format: "table",
          filter: { target: "north" },
          entries: 2,
          limit: 100,
        }],
        ["cli", "audit.export", null, { format: "json", filter: {}, entries: now.length, limit: "all" }],
        ["cli", "audit.export", null, { format: "json", filter: {}, entries: 3, limit: 3 }],
        ["cli", "audit.export", null, {
          format: "json",
          filter: { from: "2026-03-02T00:00:00.000Z", to: "2026-03-03T00:00:00.000Z" },
          entries: 3,
          limit: 100,
        }],
        ["cli", "audit.export", null, {
          format: "json",
          filter: { actor: "user:bob", action: "site." },
          entries: 2,
          limit: 100,
        }],
        ["token:officer", "audit.export", null, {
          format: "csv",
          filter: { action: "nothing." },
          entries: 0,
          truncated: false,
        }],
        ["token:officer", "audit.export", null, {
          format: "csv",
          filter: {},
          entries: all.length + 1,
          truncated: false,
        }],
        ["token:officer", "audit.export", null, {
          format: "csv",
          filter: { action: "login*" },
          entries: 3,
          truncated: false,
        }],
      ]);
      // The officer's exports by who made them, as an auditor of the auditors reads them.
      assert.equal((await admin.audit.list.query({ actor: "token:officer", action: "audit." })).length, 4);
    } finally {
      await hub.stop();
    }
  },
});

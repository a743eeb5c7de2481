/** The audit log: newest first, filtered by who, what, on what and when; as pages or as a CSV file. */
import { z } from "zod";
import { toBase64 } from "@conduit/shared/base64";
import { UTF8_BOM } from "@conduit/shared/csv-text";
import { auditCsv, type AuditEntry, each, exportEntry, instantOf, recent } from "../auth/audit.ts";
import { actorOf, type ApiDeps, procedure, router } from "./trpc.ts";
import { pageOffset } from "./inputs.ts";

/** The most entries one CSV download holds; the admin CLI (`admin audit --csv`) exports any number. */
export const AUDIT_CSV_MAX = 50_000;

const instant = z.string().max(64).refine((v) => {
  try {
    instantOf(v);
    return true;
  } catch {
    return false;
  }
}, "not an ISO 8601 instant (2026-03-01 or 2026-03-01T08:00:00Z)");

/** A name to match: PostgreSQL's text holds no NUL, so one is refused here rather than fail there. */
const name = z.string().min(1).max(512).refine((v) => !v.includes("\0"), "holds a NUL character");

const filter = {
  actor: name.optional(),
  action: name.optional(),
  target: name.optional(),
  from: instant.optional(),
  to: instant.optional(),
};

export function auditRouter(d: Pick<ApiDeps, "db">) {
  return router({
    /**
     * The entries a filter matches (every field optional: who, what (exact, or a prefix ending in `.` or
     * `*`), on what, from (inclusive) and to (exclusive)), newest first, ties by id; `offset` of them skipped
     * (the console pages with it). Not itself audited: the console's Admin screen reads a page on each
     * visit and a monitoring script polls it; the exports (`csv`, the admin CLI) are.
     */
    list: procedure
      .input(
        z.object({
          limit: z.number().int().positive().max(1000).optional(),
          offset: pageOffset.optional(),
          ...filter,
        }).strict().optional(),
      )
      .query(({ input }) => {
        const { limit, offset, ...f } = input ?? {};
        return recent(d.db, limit, offset, f);
      }),
    /**
     * The entries a filter matches as a CSV file, base64 (UTF-8 with its byte order mark, for Excel; columns
     * id, at, actor, action, target, detail as JSON), newest first; at most AUDIT_CSV_MAX of them (`truncated` says there were more). Audited
     * (`audit.export`: who, the filter, how many entries): the file is given only once its entry is written.
     */
    csv: procedure
      .input(z.object(filter).strict().optional())
      .query(async ({ ctx, input }) => {
        const entries: AuditEntry[] = [];
        for await (const e of each(d.db, input ?? {}, AUDIT_CSV_MAX + 1)) entries.push(e);
        const truncated = entries.length > AUDIT_CSV_MAX;
        if (truncated) entries.pop();
        await exportEntry(d.db, actorOf(ctx.principal), {
          format: "csv",
          filter: input ?? {},
          entries: entries.length,
          truncated,
        });
        const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
        return {
          filename: `audit-${stamp}.csv`,
          contentBase64: toBase64(new TextEncoder().encode(UTF8_BOM + auditCsv(entries))),
          entries: entries.length,
          truncated,
        };
      }),
  });
}

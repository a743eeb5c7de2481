/** Batch work from a CSV or XLSX file: preview, upload (query or transfer), list, status, cancel, results. */
import { z } from "zod";
import { toBase64 } from "@conduit/shared/base64";
import { checkReach, mayReach } from "../auth/permissions.ts";
import type { Principal } from "../auth/tokens.ts";
import { CSV_ENCODINGS } from "@conduit/shared/csv-text";
import { readBatchFile } from "../transfers/rows.ts";
import { actorOf, type ApiDeps, procedure, router } from "./trpc.ts";
import { NotFoundError } from "./errors.ts";
import { byId, deid, endpoint, fileBase64, jobId, name, pageOffset } from "./inputs.ts";

type Deps = Pick<ApiDeps, "batches" | "registry">;

/** A CSV's encoding (shared/csv_text.ts): `auto` (the default) detects it; an XLSX ignores it. */
const encoding = z.enum(CSV_ENCODINGS).optional();

/** A batch the principal may see (every site it searched or moved to in reach). */
async function batch(d: Deps, principal: Principal, id: string) {
  const b = await d.batches.status(id);
  if (!b) throw new NotFoundError(`no batch ${id}`);
  checkReach(principal, b.sites);
  return b;
}

export function batchRouter(d: Deps) {
  return router({
    /**
     * Rows from a CSV or XLSX file (base64): kind query searches `sites`; kind transfer searches the
     * one source site and moves what it finds to `destination`.
     */
    upload: procedure.input(
      z.object({
        kind: z.enum(["query", "transfer"]),
        filename: z.string().min(1).max(255),
        contentBase64: fileBase64,
        encoding,
        sites: z.array(name).min(1),
        node: name.optional(),
        destination: endpoint.optional(),
        /** For a transfer: de-identify at the source; the file's Pseudonym column applies. */
        deid: deid.omit({ pseudonyms: true }).optional(),
      }).strict(),
    ).mutation(async ({ ctx, input }) => {
      // Its sites as transfers.create and the queries take them: one not enrolled (or revoked) is NOT_FOUND.
      const named = [...input.sites, ...(input.destination ? [input.destination.site] : [])];
      for (const site of new Set(named)) await d.registry.require(site);
      const { contentBase64: content, ...rest } = input;
      return await d.batches.upload({ ...rest, content }, actorOf(ctx.principal));
    }),
    /**
     * The rows of a CSV or XLSX file as they would be searched, each with its error if it cannot be
     * used, and a CSV's encoding as read (the one named, or detected); nothing is searched or stored. A file
     * that cannot be read at all is BAD_REQUEST, so is a CSV whose encoding cannot be told (it says so).
     */
    preview: procedure.input(
      z.object({ filename: z.string().min(1).max(255), contentBase64: fileBase64, encoding })
        .strict(),
    ).mutation(async ({ input }) => {
      const read = await readBatchFile(input.filename, input.contentBase64, input.encoding);
      const rows = read.rows;
      return {
        rows: rows.length,
        badRows: rows.filter((r) => r.error).length,
        first: rows.slice(0, 500),
        ...(read.encoding ? { encoding: read.encoding } : {}),
      };
    }),
    /** The latest batches (newest first) whose sites the principal may all reach. */
    list: procedure.input(
      z.object({
        limit: z.number().int().positive().max(1000).optional(),
        offset: pageOffset.optional(),
      }).strict().optional(),
    ).query(({ ctx, input }) =>
      // Unscoped, the page is read as it is; scoped, batches of other sites are passed over.
      d.batches.list(
        input?.limit,
        input?.offset,
        ctx.principal.sites ? (site) => mayReach(ctx.principal, site) : undefined,
      )
    ),
    status: procedure.input(byId).query(({ ctx, input }) => batch(d, ctx.principal, input.id)),
    /** Stops a running batch: what it found so far stays (results), and no transfer is made. */
    cancel: procedure.input(byId).mutation(async ({ ctx, input }) => {
      await batch(d, ctx.principal, input.id);
      return await d.batches.cancel(input.id, actorOf(ctx.principal));
    }),
    /** The results as a file, base64: one line per match, and one per row that failed with its reason. */
    results: procedure.input(
      z.object({ id: jobId, format: z.enum(["csv", "xlsx"]) }).strict(),
    )
      .query(async ({ ctx, input }) => {
        await batch(d, ctx.principal, input.id);
        const bytes = await d.batches.results(input.id, input.format);
        if (!bytes) throw new NotFoundError(`batch ${input.id} has no results yet`);
        return { filename: `batch-${input.id}.${input.format}`, contentBase64: toBase64(bytes) };
      }),
  });
}

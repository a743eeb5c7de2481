/**
 * Files under `/api` that the hub streams as it writes them, beside the tRPC procedures that hand a file
 * whole in base64: `GET /api/batches/{id}/results.csv` and `.../results.xlsx`, a batch's results (the same
 * bytes as `batch.results` with that format). Authenticated like tRPC (an API token, or a console session), checked
 * against the role matrix (`FILE_ROUTES`) and the principal's sites (every site the batch searched or
 * moved to), as `batch.results` is. Errors are problem objects, given before the first byte of a file.
 */
import { Hono } from "hono";
import type { Logger } from "@conduit/shared/log";
import { AccessError, authorize, checkReach, FILE_ROUTES } from "../auth/permissions.ts";
import { type AuthEnv, requireAuth } from "../auth/middleware.ts";
import type { ApiTokens } from "../auth/tokens.ts";
import type { Users } from "../auth/users.ts";
import type { BatchService } from "../transfers/batch.ts";
import { utf8Stream } from "../transfers/results_csv.ts";
import { problem } from "../problem.ts";

export interface DownloadDeps {
  tokens: ApiTokens;
  users: Users;
  batches: Pick<BatchService, "status" | "resultsCsv" | "resultsXlsx">;
  log: Logger;
}

/** A batch's id as the hub makes them (hex); anything else names no batch. */
const BATCH_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The media type of each file of a batch's results. */
const FILES = {
  csv: { type: "text/csv; charset=utf-8" },
  xlsx: { type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" },
} as const;

/** The routes, to mount at `/api`. */
export function downloadRoutes(d: DownloadDeps) {
  const app = new Hono<AuthEnv>();
  for (const format of ["csv", "xlsx"] as const) {
    const route = `/batches/:id/results.${format}`;
    // Only the routes authenticate: any other path under /api is 404 with or without a token, as under /trpc.
    app.use(route, requireAuth(d.tokens, d.users));
    app.get(route, async (c) => {
      const id = c.req.param("id") ?? "";
      try {
        authorize(c.get("principal"), FILE_ROUTES[`GET /api${route}`]);
        const batch = BATCH_ID.test(id) ? await d.batches.status(id) : undefined;
        if (!batch) return problem(c, 404, `no batch ${id}`);
        checkReach(c.get("principal"), batch.sites);
        const body = format === "csv"
          ? await d.batches.resultsCsv(id).then((pieces) => pieces && utf8Stream(pieces))
          : await d.batches.resultsXlsx(id);
        if (!body) return problem(c, 404, `batch ${id} has no results yet`);
        return c.body(body, 200, {
          "content-type": FILES[format].type,
          "content-disposition": `attachment; filename="batch-${id}.${format}"`,
          "cache-control": "no-store",
        });
      } catch (err) {
        if (err instanceof AccessError) return problem(c, 403, err.message);
        // Its results (or, for a batch from before summaries, what its status sums) do not parse as JSON.
        if (err instanceof SyntaxError) {
          // Not the parser's message: it quotes the text around the fault (names, patient IDs).
          d.log.error("batch results unreadable", { batch: id, reason: "not JSON" });
          return problem(c, 500, `the results of batch ${id} cannot be read; the hub's log says why`);
        }
        throw err;
      }
    });
  }
  return app;
}

/**
 * The automation API (tRPC v11 at `/trpc`): one router per domain, composed here. Who may call what
 * is the role matrix (hub/auth/permissions.ts), applied by `procedure` (./trpc.ts) from each
 * procedure's path, with the principal's sites checked on every site an input names; what a
 * procedure throws becomes a tRPC error in one place (./errors.ts).
 */
import { type ApiDeps, router } from "./trpc.ts";
import { siteRouter, sitesRouter } from "./sites.ts";
import { usersRouter } from "./users.ts";
import { queryRouter } from "./query.ts";
import { transfersRouter } from "./transfers.ts";
import { batchRouter } from "./batch.ts";
import { tokensRouter } from "./tokens.ts";
import { auditRouter } from "./audit.ts";
import { accountRouter } from "./account.ts";

export type { ApiDeps };

export function appRouter(d: ApiDeps) {
  return router({
    sites: sitesRouter(d),
    site: siteRouter(d),
    users: usersRouter(d),
    query: queryRouter(d),
    transfers: transfersRouter(d),
    batch: batchRouter(d),
    tokens: tokensRouter(d),
    audit: auditRouter(d),
    account: accountRouter(d),
  });
}

export type AppRouter = ReturnType<typeof appRouter>;

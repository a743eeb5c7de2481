/** The audit log. */
import { z } from "zod";
import { recent } from "../auth/audit.ts";
import { type ApiDeps, procedure, router } from "./trpc.ts";

export function auditRouter(d: Pick<ApiDeps, "db">) {
  return router({
    /** The latest entries, newest first, `offset` of them skipped (the console pages with it). */
    list: procedure
      .input(
        z.object({
          limit: z.number().int().positive().max(1000).optional(),
          offset: z.number().int().min(0).optional(),
        }).strict().optional(),
      )
      .query(({ input }) => recent(d.db, input?.limit, input?.offset)),
  });
}

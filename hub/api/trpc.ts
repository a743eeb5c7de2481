/** tRPC setup: the request's principal (from its API token) and role checks. */
import { initTRPC, TRPCError } from "@trpc/server";
import type { Principal, Role } from "../auth/tokens.ts";

export interface Context {
  principal?: Principal;
}

const t = initTRPC.context<Context>().create();

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export const router = t.router;

/** A procedure for principals with at least `role`. */
export function procedure(role: Role) {
  return t.procedure.use(({ ctx, next }) => {
    if (!ctx.principal) {
      throw new TRPCError({
        code: "UNAUTHORIZED",
        message: "send an API token as Authorization: Bearer <token>",
      });
    }
    if (RANK[ctx.principal.role] < RANK[role]) {
      throw new TRPCError({
        code: "FORBIDDEN",
        message: `this needs the ${role} role; the token has ${ctx.principal.role}`,
      });
    }
    return next({ ctx: { principal: ctx.principal } });
  });
}

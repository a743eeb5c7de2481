/** tRPC setup: the request's principal (from its API token) and role checks. */
import { initTRPC, TRPCError } from "@trpc/server";
import type { Principal, Role } from "../auth/tokens.ts";

export interface Context {
  principal?: Principal;
  /** Why the request has no principal: no valid credential, or a session call without its CSRF token. */
  refused?: "unauthenticated" | "csrf";
}

/** Each procedure names the least role that may call it (read by the role matrix test). */
export interface Meta {
  role: Role;
}

// isDev false: error answers never carry a stack trace.
const t = initTRPC.context<Context>().meta<Meta>().create({ isDev: false });

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export const router = t.router;

/** A procedure for principals with at least `role`. */
export function procedure(role: Role) {
  return t.procedure.meta({ role }).use(({ ctx, next }) => {
    if (ctx.refused === "csrf") {
      throw new TRPCError({
        code: "FORBIDDEN",
        message: "a console session must send its CSRF token in X-CSRF-Token",
      });
    }
    if (!ctx.principal) {
      throw new TRPCError({
        code: "UNAUTHORIZED",
        message: "log in, or send an API token as Authorization: Bearer <token>",
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

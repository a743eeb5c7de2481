/** Console users: list, add, disable and enable, change role, reset password (each change audited with it). */
import { z } from "zod";
import { ROLES } from "../auth/tokens.ts";
import { actorOf, type ApiDeps, procedure, router } from "./trpc.ts";

export function usersRouter(d: Pick<ApiDeps, "users">) {
  return router({
    /** Every user, the newest first. */
    list: procedure.query(() => d.users.list()),
    add: procedure.input(
      z.object({
        name: z.string().min(1).max(64),
        role: z.enum(ROLES),
        password: z.string().min(10).max(1024),
      }).strict(),
    ).mutation(async ({ ctx, input }) => {
      await d.users.add(input.name, input.role, input.password, actorOf(ctx.principal));
      return { user: input.name, role: input.role };
    }),
    /** Disables a user (ending their sessions) or enables them again. */
    setDisabled: procedure.input(
      z.object({ name: z.string().min(1).max(64), disabled: z.boolean() }).strict(),
    ).mutation(async ({ ctx, input }) => {
      await d.users.setDisabled(input.name, input.disabled, actorOf(ctx.principal));
      return { user: input.name, disabled: input.disabled };
    }),
    /** Gives a user another role, effective on their next call; the last enabled admin keeps theirs. */
    setRole: procedure.input(
      z.object({ name: z.string().min(1).max(64), role: z.enum(ROLES) }).strict(),
    ).mutation(async ({ ctx, input }) => {
      const { from, to } = await d.users.setRole(input.name, input.role, actorOf(ctx.principal));
      return { user: input.name, from, role: to };
    }),
    /** Sets a new password for a user and ends all of their sessions (they log in again with it). */
    resetPassword: procedure.input(
      z.object({ name: z.string().min(1).max(64), password: z.string().min(10).max(1024) }).strict(),
    ).mutation(async ({ ctx, input }) => {
      const { sessionsEnded } = await d.users.resetPassword(
        input.name,
        input.password,
        actorOf(ctx.principal),
      );
      return { user: input.name, sessionsEnded };
    }),
  });
}

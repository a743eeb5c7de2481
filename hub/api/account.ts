/** The caller's own account: a console user changes their own password (an admin resets others'). */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { type ApiDeps, procedure, router } from "./trpc.ts";

export function accountRouter(d: Pick<ApiDeps, "users">) {
  return router({
    /**
     * Changes the password of the session's user: the current one, then the new one (at least 10
     * characters). Ends the user's other sessions and keeps this one; audited. Console sessions only: an
     * API token has no password.
     */
    changePassword: procedure.input(
      z.object({ current: z.string().min(1).max(1024), password: z.string().max(1024) }).strict(),
    ).mutation(async ({ ctx, input }) => {
      const p = ctx.principal!;
      if (p.kind !== "user" || !p.session) {
        // Not FORBIDDEN: the role allows it; a token is simply not a thing with a password.
        throw new TRPCError({
          code: "BAD_REQUEST",
          message: "an API token has no password: log in to the console as the user to change theirs",
        });
      }
      const { sessionsEnded } = await d.users.changePassword(
        p.name,
        p.session,
        input.current,
        input.password,
      );
      return { user: p.name, sessionsEnded };
    }),
  });
}

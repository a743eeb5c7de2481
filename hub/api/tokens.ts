/** API tokens: list, create (the secret shown once), revoke. */
import { z } from "zod";
import { ROLES } from "../auth/tokens.ts";
import { actorOf, type ApiDeps, procedure, router } from "./trpc.ts";
import { name } from "./inputs.ts";

export function tokensRouter(d: Pick<ApiDeps, "tokens">) {
  return router({
    /** Every token, the newest first. */
    list: procedure.query(() => d.tokens.list()),
    create: procedure.input(
      z.object({
        name: z.string().min(1).max(64),
        role: z.enum(ROLES),
        sites: z.array(name).optional(),
      }).strict(),
    ).mutation(({ ctx, input }) =>
      d.tokens.create(input.name, input.role, input.sites, actorOf(ctx.principal))
    ),
    revoke: procedure.input(z.object({ id: z.string().min(1).max(64) }).strict())
      .mutation(async ({ ctx, input }) => {
        await d.tokens.revoke(input.id, actorOf(ctx.principal));
        return { id: input.id, revoked: true };
      }),
  });
}

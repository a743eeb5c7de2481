/** Authentication for the hub's HTTP APIs: 401 without a valid token or session, 403 without CSRF. */
import type { MiddlewareHandler } from "hono";
import type { ApiTokens, Principal } from "./tokens.ts";
import type { Users } from "./users.ts";
import { resolvePrincipal } from "./principal.ts";
import { commandOf } from "@conduit/shared/cli";

export type AuthEnv = { Variables: { principal: Principal } };

export function requireAuth(tokens: ApiTokens, users: Users): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const r = await resolvePrincipal(c, tokens, users);
    if ("error" in r) {
      const csrf = r.error === "csrf";
      return c.json(
        {
          type: "about:blank",
          title: csrf ? "Forbidden" : "Unauthorized",
          status: csrf ? 403 : 401,
          detail: csrf
            ? "a console session must send its CSRF token in X-CSRF-Token"
            : r.error === "bad-token"
            ? `the API token sent is not valid here (unknown, revoked or expired: ${
              commandOf("hub")
            } admin token list); send a valid one as Authorization: Bearer <token>`
            : `send an API token as Authorization: Bearer <token> (${commandOf("hub")} admin token create)`,
        },
        csrf ? 403 : 401,
        {
          ...(csrf ? {} : { "www-authenticate": 'Bearer realm="conduit"' }),
          "content-type": "application/problem+json",
        },
      );
    }
    c.set("principal", r.principal);
    await next();
  };
}

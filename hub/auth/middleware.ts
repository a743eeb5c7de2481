/** Bearer-token authentication for the hub's APIs: 401 without a valid token. */
import type { MiddlewareHandler } from "hono";
import type { ApiTokens, Principal } from "./tokens.ts";

export type AuthEnv = { Variables: { principal: Principal } };

export function requireToken(tokens: ApiTokens): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const m = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
    const principal = m ? await tokens.authenticate(m[1]) : undefined;
    if (!principal) {
      return c.json(
        {
          type: "about:blank",
          title: "Unauthorized",
          status: 401,
          detail: "send an API token as Authorization: Bearer <token> (deno task hub admin token create)",
        },
        401,
        { "www-authenticate": 'Bearer realm="conduit"', "content-type": "application/problem+json" },
      );
    }
    c.set("principal", principal);
    await next();
  };
}

/**
 * Who a request is: an API token (`Authorization: Bearer`), or a console session (cookie). A session
 * must echo its CSRF token in `X-CSRF-Token` on every call that is not a GET.
 */
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import type { ApiTokens, Principal } from "./tokens.ts";
import { LAST_INPUT_HEADER, SESSION_COOKIE, type Users } from "./users.ts";

export type Resolution = { principal: Principal } | { error: "unauthenticated" | "bad-token" | "csrf" };

/**
 * `use: false` for a check that is not a use of a session (a subscription asking as it goes whether its
 * credential still holds): it does not slide the session's idle end.
 */
export async function resolvePrincipal(
  c: Context,
  tokens: ApiTokens,
  users: Users,
  options: { use?: boolean } = {},
): Promise<Resolution> {
  const m = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
  if (m) {
    const principal = await tokens.authenticate(m[1]);
    // A token was sent and is not one (unknown, revoked, expired, mistyped): said so, not "send a token".
    return principal ? { principal } : { error: "bad-token" };
  }
  const id = getCookie(c, SESSION_COOKIE);
  const lastInput = options.use === false ? Infinity : lastInputOf(c);
  const session = id ? await users.session(id, Date.now(), lastInput) : undefined;
  if (!session) return { error: "unauthenticated" };
  if (c.req.method !== "GET" && c.req.method !== "HEAD" && c.req.header("x-csrf-token") !== session.csrf) {
    return { error: "csrf" };
  }
  return { principal: session.principal };
}

/**
 * How long ago the console's user last did something, in ms (the console's `X-Conduit-Last-Input`), or
 * undefined (not the console, or not a whole number): then the request itself is the use.
 */
export function lastInputOf(c: Context): number | undefined {
  const v = c.req.header(LAST_INPUT_HEADER);
  return v !== undefined && /^[0-9]{1,15}$/.test(v) ? Number(v) : undefined;
}

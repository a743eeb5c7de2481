/**
 * `/auth`: console login and logout with a session cookie (httpOnly, SameSite=Strict, Secure over
 * https), and `me` for the console to learn its user, role, CSRF token and the actions its role
 * allows (from the role matrix: the console shows only what the user may do) after a reload.
 */
import { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { z } from "zod";
import type { Logger } from "@conduit/shared/log.ts";
import { SESSION_COOKIE, UserError, type Users } from "./users.ts";
import { actionsOf } from "./permissions.ts";

const Login = z.object({ user: z.string().min(1).max(64), password: z.string().min(1).max(1024) }).strict();

export function authRoutes(users: Users, log: Logger) {
  const app = new Hono<{ Bindings: { remoteAddr?: { hostname?: string } } }>();
  app.post("/login", async (c) => {
    const parsed = Login.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) return c.json({ error: "send { user, password } as JSON" }, 400);
    const address = c.env?.remoteAddr?.hostname ?? "unknown";
    try {
      const s = await users.login(parsed.data.user, parsed.data.password, address);
      setCookie(c, SESSION_COOKIE, s.id, {
        httpOnly: true,
        sameSite: "Strict",
        secure: new URL(c.req.url).protocol === "https:",
        path: "/",
        maxAge: s.maxAgeSeconds,
      });
      log.info("login", { user: s.user });
      return c.json({ user: s.user, role: s.role, csrf: s.csrf, actions: actionsOf(s) });
    } catch (err) {
      if (err instanceof UserError) {
        log.warn("login refused", { user: parsed.data.user, reason: err.message });
        return c.json({ error: err.message }, err.message.startsWith("too many") ? 429 : 401);
      }
      throw err;
    }
  });
  app.get("/me", async (c) => {
    const id = getCookie(c, SESSION_COOKIE);
    const s = id ? await users.session(id) : undefined;
    if (!s) return c.json({ error: "not logged in" }, 401);
    return c.json({
      user: s.principal.name,
      role: s.principal.role,
      csrf: s.csrf,
      actions: actionsOf(s.principal),
    });
  });
  app.post("/logout", async (c) => {
    const id = getCookie(c, SESSION_COOKIE);
    const s = id ? await users.session(id) : undefined;
    if (s && c.req.header("x-csrf-token") !== s.csrf) {
      return c.json({ error: "missing or wrong CSRF token" }, 403);
    }
    if (id) await users.logout(id);
    deleteCookie(c, SESSION_COOKIE, { path: "/" });
    return c.json({ ok: true });
  });
  return app;
}

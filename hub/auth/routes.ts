/**
 * `/auth`: console login and logout with a session cookie (httpOnly, SameSite=Strict, and Secure
 * when the hub's public URL is https, as behind a TLS proxy, or the request came over https), and
 * `me` for the console to learn its user, role, CSRF token and the actions its role allows (from
 * the role matrix: the console shows only what the user may do) after a reload. Login takes only
 * `application/json` (a form post from another site cannot log anyone in); every failure is
 * audited and throttled (./users.ts). A login ends the session whose cookie it replaces. Errors are
 * problem objects.
 */
import { type Context, Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { bodyLimit } from "hono/body-limit";
import { z } from "zod";
import type { Logger } from "@conduit/shared/log";
import { LoginFailed, LoginRefused, SESSION_COOKIE, SESSION_STATE_HEADER, type Users } from "./users.ts";
import { lastInputOf } from "./principal.ts";
import { actionsOf } from "./permissions.ts";
import { problem } from "../problem.ts";
import { commandOf } from "@conduit/shared/cli";
import { agentCommand, tunnelUrlOf } from "../admin/agent_command.ts";

/** A login is a name and a password: a larger body is refused (413) before it is read to its end. */
const MAX_LOGIN_BYTES = 16 * 1024;

const Login = z.object({ user: z.string().min(1).max(64), password: z.string().min(1).max(1024) }).strict();

export interface AuthOptions {
  /** The hub's public URL: an https one makes the cookie Secure whatever the request's scheme. */
  publicUrl?: string;
  /** Take the client's address from X-Forwarded-For (its last entry, added by the trusted proxy). */
  trustForwarded: boolean;
  /** Whether the viewer is installed (hub/viewer.ts): the console offers "Open in viewer" only then. */
  viewerInstalled?: () => Promise<boolean>;
}

type Env = { Bindings: { remoteAddr?: { hostname?: string } } };

/** The address a request came from, for the throttle and the audit log. */
function sourceAddress(c: Context<Env>, trustForwarded: boolean): string {
  const forwarded = trustForwarded ? c.req.header("x-forwarded-for")?.split(",").at(-1)?.trim() : undefined;
  return forwarded || c.env?.remoteAddr?.hostname || "unknown";
}

export function authRoutes(users: Users, options: AuthOptions, log: Logger) {
  const app = new Hono<Env>();
  /**
   * The commands the console's hints name (an agent to enroll, a hub admin command): as this hub runs, from
   * the repository (`deno task agent`) or a build (the agent's launcher beside the hub's, `conduit-hub`); and
   * the tunnel URL an agent takes, from `publicUrl` (a placeholder without it), as `admin site add` says.
   */
  const commands = () => ({
    agent: agentCommand(),
    hub: commandOf("hub"),
    tunnel: tunnelUrlOf(options.publicUrl),
  });
  const viewerInstalled = () => options.viewerInstalled?.() ?? Promise.resolve(false);
  const secure = (c: Context) =>
    options.publicUrl
      ? new URL(options.publicUrl).protocol === "https:"
      : new URL(c.req.url).protocol === "https:";
  const loginBody = bodyLimit({
    maxSize: MAX_LOGIN_BYTES,
    onError: (c) => problem(c, 413, `send { user, password }: at most ${MAX_LOGIN_BYTES} bytes`),
  });
  app.post("/login", loginBody, async (c) => {
    const type = c.req.header("content-type")?.split(";")[0].trim().toLowerCase();
    if (type !== "application/json") {
      return problem(c, 415, "send { user, password } as application/json");
    }
    const parsed = Login.safeParse(await c.req.json().catch(() => undefined));
    if (!parsed.success) return problem(c, 400, "send { user, password } as JSON");
    const address = sourceAddress(c, options.trustForwarded);
    try {
      const s = await users.login(parsed.data.user, parsed.data.password, address);
      // The browser's session before this login (another user's, or its own from earlier) ends: its id,
      // perhaps seen or set by someone else, must not outlive the login that replaces its cookie.
      const previous = getCookie(c, SESSION_COOKIE);
      if (previous) await users.logout(previous, address, "replaced");
      setCookie(c, SESSION_COOKIE, s.id, {
        httpOnly: true,
        sameSite: "Strict",
        secure: secure(c),
        path: "/",
        maxAge: s.maxAgeSeconds,
      });
      log.info("login", { user: s.user, address });
      return c.json({
        user: s.user,
        role: s.role,
        csrf: s.csrf,
        actions: actionsOf(s),
        commands: commands(),
        viewerInstalled: await viewerInstalled(),
      });
    } catch (err) {
      if (err instanceof LoginRefused) {
        log.warn("login refused", { user: err.shownName, address, reason: err.message });
        return problem(c, 429, err.message, {
          "retry-after": String(Math.max(1, Math.ceil((err.until - Date.now()) / 1000))),
        });
      }
      if (err instanceof LoginFailed) {
        // A name nobody has is logged as a marker with a short keyed hash (users.ts), never as typed.
        log.warn("login failed", { user: err.shownName, address, reason: err.message });
        return problem(c, 401, err.message);
      }
      throw err;
    }
  });
  app.get("/me", async (c) => {
    const id = getCookie(c, SESSION_COOKIE);
    const s = id ? await users.sessionState(id, Date.now(), lastInputOf(c)) : { ended: "none" as const };
    if ("ended" in s) {
      // An expired session says so (the console's login then tells its user why), and the header with it.
      return s.ended === "expired"
        ? problem(c, 401, "your session expired: log in again", { [SESSION_STATE_HEADER]: "expired" })
        : problem(c, 401, "not logged in");
    }
    return c.json({
      user: s.principal.name,
      role: s.principal.role,
      csrf: s.csrf,
      actions: actionsOf(s.principal),
      commands: commands(),
      viewerInstalled: await viewerInstalled(),
    });
  });
  app.post("/logout", async (c) => {
    const id = getCookie(c, SESSION_COOKIE);
    const s = id ? await users.session(id) : undefined;
    if (s && c.req.header("x-csrf-token") !== s.csrf) {
      return problem(c, 403, "missing or wrong CSRF token");
    }
    if (id) {
      const address = sourceAddress(c, options.trustForwarded);
      await users.logout(id, address);
      if (s) log.info("logout", { user: s.principal.name, address });
    }
    deleteCookie(c, SESSION_COOKIE, { path: "/", secure: secure(c) });
    return c.json({ ok: true });
  });
  return app;
}

/**
 * `/tunnel`: agents connect here (a WebSocket with `Authorization: Bearer <site credential>`),
 * and `/tunnel/enroll` swaps a one-time enrollment token for that credential. A bad credential,
 * hello or version gets a refusal with a reason code and a close; it never touches another site.
 */
import { Hono } from "hono";
import { Reason, serverHandshake } from "@conduit/shared/tunnel";
import type { Logger } from "@conduit/shared/log";
import { SiteError, type SiteRegistry } from "../sites/registry.ts";
import type { Sessions } from "./sessions.ts";

export interface TunnelEnv {
  Bindings: { remoteAddr?: { hostname?: string; port?: number } };
}

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  return m?.[1];
}

export function tunnelRoutes(registry: SiteRegistry, sessions: Sessions, log: Logger, hubVersion: string) {
  const app = new Hono<TunnelEnv>();

  app.post("/enroll", async (c) => {
    const token = bearer(c.req.header("authorization"));
    if (!token) return c.json({ error: "send the enrollment token as Authorization: Bearer <token>" }, 401);
    try {
      const enrolled = await registry.enroll(token);
      log.info("site enrolled", { site: enrolled.site });
      return c.json(enrolled);
    } catch (err) {
      if (err instanceof SiteError) {
        log.warn("enrollment refused", { reason: err.message });
        return c.json({ error: err.message }, 403);
      }
      throw err;
    }
  });

  app.get("/", (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return c.json({ error: "this endpoint takes a WebSocket upgrade from a Conduit agent" }, 426);
    }
    const remote = c.env?.remoteAddr;
    const remoteAddress = remote?.hostname ? `${remote.hostname}:${remote.port}` : "unknown";
    const credential = bearer(c.req.header("authorization"));
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw, { idleTimeout: 0 });
    let site: string | undefined;
    serverHandshake(
      socket,
      async (hello) => {
        site = credential ? await registry.authenticate(credential) : undefined;
        if (!site) {
          log.warn("tunnel refused: bad credential", { remoteAddress, claimed: hello.site });
          return { ok: false, reason: Reason.BadCredential, message: "the site credential is not valid" };
        }
        if (site !== hello.site) {
          log.warn("tunnel refused: credential for another site", {
            remoteAddress,
            site,
            claimed: hello.site,
          });
          return {
            ok: false,
            reason: Reason.BadCredential,
            message: "the credential belongs to another site",
          };
        }
        return { ok: true, heartbeatSeconds: sessions.heartbeatSeconds, hubVersion };
      },
      (hello, transport) =>
        sessions.attach(hello.site, transport, {
          agentVersion: hello.agentVersion,
          remoteAddress,
          maxFrame: hello.maxFrame,
          features: hello.features,
        }),
    ).catch((err) =>
      log.warn("tunnel hello failed", { remoteAddress, site, reason: (err as Error).message })
    );
    return response;
  });

  return app;
}

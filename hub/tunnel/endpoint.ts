/**
 * `/tunnel`: agents connect here (a WebSocket with `Authorization: Bearer <site credential>`),
 * and `/tunnel/enroll` swaps a one-time enrollment token for that credential. A bad credential,
 * hello or version gets a refusal with a reason code and a close; it never touches another site.
 */
import { type Context, Hono } from "hono";
import { Reason, refusal, serverHandshake } from "@conduit/shared/tunnel";
import type { Logger } from "@conduit/shared/log";
import { SiteError, type SiteRegistry } from "../sites/registry.ts";
import { dbFailureReason } from "../db/errors.ts";
import { parseToken } from "../sites/tokens.ts";
import type { Sessions } from "./sessions.ts";

export interface TunnelEnv {
  Bindings: { remoteAddr?: { hostname?: string; port?: number } };
}

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  return m?.[1];
}

export interface TunnelOptions {
  /** The header in which the TLS proxy names the agent's verified client certificate (its CN): required. */
  clientCertHeader?: string;
  /** An upgraded WebSocket that sends no hello this long is closed (`tunnel.helloTimeoutSeconds`). */
  helloTimeoutMs?: number;
}

export function tunnelRoutes(
  registry: SiteRegistry,
  sessions: Sessions,
  log: Logger,
  hubVersion: string,
  options: TunnelOptions = {},
) {
  const app = new Hono<TunnelEnv>();
  /**
   * With `clientCertHeader`: why an agent that says it is `site` is not let in (no verified client
   * certificate named, or one of another site), else undefined. Without it: undefined.
   */
  const certRefusal = (c: Context, site: string): string | undefined => {
    const name = options.clientCertHeader;
    if (!name) return undefined;
    const headerValue = c.req.header(name);
    if (!headerValue) {
      return `this hub lets agents in only with a verified client certificate (mutual TLS); none was named ` +
        `(set hub.clientCertFile and hub.clientKeyFile at the site)`;
    }
    if (headerValue !== site) {
      return `the client certificate is for ${
        JSON.stringify(headerValue.slice(0, 64))
      }, not for site ${site}`;
    }
    return undefined;
  };

  app.post("/enroll", async (c) => {
    const token = bearer(c.req.header("authorization"));
    if (!token) return c.json({ error: "send the enrollment token as Authorization: Bearer <token>" }, 401);
    // Checked before the token is spent: the token names its site in the clear.
    const refused = certRefusal(c, parseToken("cte", token)?.site ?? "");
    if (refused) {
      log.warn("enrollment refused: client certificate", { reason: refused });
      return c.json({ error: refused }, 403);
    }
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

  app.get("/", async (c) => {
    const remote = c.env?.remoteAddr;
    const remoteAddress = remote?.hostname ? `${remote.hostname}:${remote.port}` : "unknown";
    const credential = bearer(c.req.header("authorization"));
    // The credential is checked before the upgrade: a peer without a valid one gets 401 with the
    // refusal a hello would get, and no WebSocket, so nothing it sends is read (a WebSocket message may
    // be 64 MiB; until 2026-12-04 anyone could make the hub read and parse one per connection).
    let site: string | undefined;
    try {
      site = credential ? await registry.authenticate(credential) : undefined;
    } catch (err) {
      // The agent learns only that the hub failed (a database error names tables and columns).
      log.error("tunnel credential check failed", { remoteAddress, reason: dbFailureReason(err) });
      return c.json(
        refusal(Reason.InternalError, "the hub could not check the credential; try again later"),
        503,
      );
    }
    if (!site) {
      log.warn("tunnel refused: bad credential", { remoteAddress });
      return c.json(refusal(Reason.BadCredential, "the site credential is not valid"), 401);
    }
    const refused = certRefusal(c, site);
    if (refused) {
      log.warn("tunnel refused: client certificate", { remoteAddress, site, reason: refused });
      return c.json(refusal(Reason.BadCredential, refused), 401);
    }
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return c.json({ error: "this endpoint takes a WebSocket upgrade from a Conduit agent" }, 426);
    }
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw, { idleTimeout: 0 });
    serverHandshake(
      socket,
      (hello) => {
        if (site !== hello.site) {
          log.warn("tunnel refused: credential for another site", {
            remoteAddress,
            site,
            claimed: hello.site,
          });
          return Promise.resolve({
            ok: false as const,
            reason: Reason.BadCredential,
            message: "the credential belongs to another site",
          });
        }
        return Promise.resolve({
          ok: true as const,
          heartbeatSeconds: sessions.heartbeatSeconds,
          heartbeatTimeoutSeconds: sessions.heartbeatTimeoutSeconds,
          hubVersion,
        });
      },
      (hello, transport) =>
        sessions.attach(hello.site, transport, {
          agentVersion: hello.agentVersion,
          remoteAddress,
          maxFrame: hello.maxFrame,
          features: hello.features,
        }),
      options.helloTimeoutMs,
    ).catch((err) =>
      log.warn("tunnel hello failed", { remoteAddress, site, reason: (err as Error).message })
    );
    return response;
  });

  return app;
}

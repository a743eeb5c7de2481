/**
 * The hub's Prometheus metrics: sites connected, tunnel bytes and round trips. Served at `/metrics`
 * on the main port to an API token not limited to sites (any role), and, when `metrics.port` is set,
 * without a token on that port of `metrics.host` (loopback by default), as the agent serves its own.
 */
import { type Context, Hono } from "hono";
import { Gauge, Registry } from "prom-client";
import type { CertificateExpiry } from "@conduit/shared/tls";
import type { Sessions } from "./tunnel/sessions.ts";

export class HubMetrics {
  readonly registry = new Registry();
  readonly certificateExpiry: Gauge;

  constructor(sessions: Sessions) {
    const registers = [this.registry];
    this.certificateExpiry = new Gauge({
      name: "conduit_hub_tls_certificate_expiry_seconds",
      help:
        "When each TLS certificate file the hub loaded at start ends (notAfter, Unix seconds; a chain: its " +
        "first end; a CA file: the first end among its valid certificates), by certificate: https, cluster-ca",
      labelNames: ["certificate"],
      registers,
    });
    new Gauge({
      name: "conduit_hub_sites_connected",
      help: "Sites with a live tunnel session",
      registers,
      collect() {
        this.set(sessions.list().length);
      },
    });
    new Gauge({
      name: "conduit_hub_tunnel_bytes",
      help: "Tunnel frame bytes since start, by direction",
      labelNames: ["direction"],
      registers,
      collect() {
        let bytesIn = sessions.bytesIn, bytesOut = sessions.bytesOut;
        for (const s of sessions.list()) {
          bytesIn += s.session.bytesIn;
          bytesOut += s.session.bytesOut;
        }
        this.set({ direction: "in" }, bytesIn);
        this.set({ direction: "out" }, bytesOut);
      },
    });
    new Gauge({
      name: "conduit_hub_tunnel_rtt_seconds",
      help: "Last heartbeat round trip per site",
      labelNames: ["site"],
      registers,
      collect() {
        this.reset();
        for (const s of sessions.list()) {
          if (s.rttMs !== undefined) this.set({ site: s.site }, s.rttMs / 1000);
        }
      },
    });
  }

  /** The certificates the hub loaded at start: when each ends. */
  setCertificateExpiries(expiries: CertificateExpiry[]): void {
    this.certificateExpiry.reset();
    for (const e of expiries) {
      this.certificateExpiry.set({ certificate: e.label }, Math.floor(e.validity.notAfter / 1000));
    }
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** The Prometheus answer. */
export async function metricsResponse(c: Context, metrics: HubMetrics): Promise<Response> {
  return c.text(await metrics.text(), 200, { "content-type": metrics.contentType });
}

/** The metrics-only listener's app: `/metrics`, nothing else. */
export function metricsApp(metrics: HubMetrics): Hono {
  const app = new Hono();
  app.get("/metrics", (c) => metricsResponse(c, metrics));
  app.all("*", (c) => c.text("only /metrics here\n", 404));
  return app;
}

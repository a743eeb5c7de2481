/** The hub's Prometheus metrics: sites connected, tunnel bytes and round trips. */
import { Gauge, Registry } from "prom-client";
import type { Sessions } from "./tunnel/sessions.ts";

export class HubMetrics {
  readonly registry = new Registry();

  constructor(sessions: Sessions) {
    const registers = [this.registry];
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

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

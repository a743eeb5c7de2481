/**
 * The hub's Prometheus metrics: sites connected, tunnel bytes and round trips, DICOMweb requests by kind
 * (./dicomweb/metrics.ts), tRPC calls by procedure and outcome, transfer tasks by state and those finished,
 * and the cluster's live peers and the requests carried between its hubs. Served at `/metrics` on the main port to an API token not limited to sites
 * (any role), and, when `metrics.port` is set, without a token on that port of `metrics.host` (loopback by
 * default), as the agent serves its own. Every label is bounded by the code (kinds, status classes,
 * procedures, states) or by the sites the hub holds: never a path, a UID or a token.
 */
import { type Context, Hono } from "hono";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { CertificateExpiry } from "@conduit/shared/tls";
import type { Sessions } from "./tunnel/sessions.ts";
import { BUILD_INFO_METRIC, buildInfoLabels } from "@conduit/shared/build";
import { BUILD } from "./version.ts";

/** Every state a transfer task can be in (hub/db/tables.ts transferTasks), each reported even at 0. */
export const TASK_STATES = [
  "pending",
  "queued",
  "in_progress",
  "canceling",
  "success",
  "warning",
  "failure",
  "canceled",
] as const;

/** What the metrics read from the rest of the hub, set once it is built. */
export interface HubMetricSources {
  /** Transfer tasks by state in the hub's database (every hub of a cluster reads the same). */
  taskCounts?: () => Promise<Record<string, number>>;
  /** Other hubs of the cluster whose heartbeat was live at this hub's last beat (none alone). */
  clusterPeers?: () => number;
}

export class HubMetrics {
  readonly registry = new Registry();
  readonly certificateExpiry: Gauge;
  readonly sources: HubMetricSources = {};

  /** DICOMweb requests answered, by kind (./dicomweb/metrics.ts) and status class (2xx, 4xx, 5xx). */
  readonly dicomwebRequests: Counter<"kind" | "status">;
  /** Seconds from a DICOMweb request to its answer's headers, by kind. */
  readonly dicomwebSeconds: Histogram<"kind">;
  /** Bytes of DICOMweb answers' bodies sent, by kind. */
  readonly dicomwebBytes: Counter<"kind">;
  /** Seconds from a retrieval's request to the end of its body, by kind (bodies sent whole only). */
  readonly dicomwebBodySeconds: Histogram<"kind">;
  /** DICOMweb answers cancelled because their client took no bytes for `dicomweb.stallSeconds`, by kind. */
  readonly dicomwebStalled: Counter<"kind">;
  /** tRPC procedure calls by procedure and outcome (ok, or the tRPC error code). */
  readonly trpcCalls: Counter<"procedure" | "outcome">;
  /** Transfer tasks this hub saw reach a final state, by that state. */
  readonly transferTasksFinished: Counter<"outcome">;
  /** Requests carried between hubs of a cluster, by direction (out: asked of the holder; in: served). */
  readonly clusterRequests: Counter<"direction" | "outcome">;

  constructor(sessions: Sessions) {
    const registers = [this.registry];
    const sources = this.sources;
    this.certificateExpiry = new Gauge({
      name: "conduit_hub_tls_certificate_expiry_seconds",
      help:
        "When each TLS certificate file the hub serves or trusts ends, as loaded at start or by the last " +
        "SIGHUP (notAfter, Unix seconds; a chain: its first end; a CA file: the first end among its valid " +
        "certificates), by certificate: https, cluster-ca",
      labelNames: ["certificate"],
      registers,
    });
    new Gauge({
      ...BUILD_INFO_METRIC,
      labelNames: [...BUILD_INFO_METRIC.labelNames],
      registers,
    }).set(buildInfoLabels(BUILD), 1);
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
      name: "conduit_hub_tunnel_streams",
      help:
        "Tunnel streams open now over every site's session (retrievals, stores, queries and relays under " +
        "way): back to 0 when none is, whatever way the last ones ended",
      registers,
      collect() {
        let open = 0;
        for (const s of sessions.list()) open += s.session.streamCount;
        this.set(open);
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
    this.dicomwebRequests = new Counter({
      name: "conduit_hub_dicomweb_requests_total",
      help: "DICOMweb requests answered, by kind and status class",
      labelNames: ["kind", "status"],
      registers,
    });
    this.dicomwebSeconds = new Histogram({
      name: "conduit_hub_dicomweb_response_seconds",
      help: "Seconds from a DICOMweb request to its answer's headers, by kind",
      labelNames: ["kind"],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120],
      registers,
    });
    this.dicomwebBytes = new Counter({
      name: "conduit_hub_dicomweb_response_bytes_total",
      help: "Bytes of DICOMweb answers' bodies sent, by kind",
      labelNames: ["kind"],
      registers,
    });
    this.dicomwebBodySeconds = new Histogram({
      name: "conduit_hub_dicomweb_body_seconds",
      help: "Seconds from a DICOMweb retrieval's request to the end of its body, by kind",
      labelNames: ["kind"],
      buckets: [0.05, 0.25, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    });
    this.dicomwebStalled = new Counter({
      name: "conduit_hub_dicomweb_stalled_total",
      help:
        "DICOMweb answers cancelled because their client took no bytes for dicomweb.stallSeconds, by kind",
      labelNames: ["kind"],
      registers,
    });
    this.trpcCalls = new Counter({
      name: "conduit_hub_trpc_calls_total",
      help: "tRPC procedure calls, by procedure and outcome (ok or the error code)",
      labelNames: ["procedure", "outcome"],
      registers,
    });
    new Gauge({
      name: "conduit_hub_transfer_tasks",
      help: "Transfer tasks (one study each) by state, as the hub's database has them",
      labelNames: ["state"],
      registers,
      async collect() {
        this.reset();
        if (!sources.taskCounts) return;
        let counts: Record<string, number>;
        try {
          counts = await sources.taskCounts();
        } catch {
          return; // the database does not answer: no series (/healthz says why)
        }
        for (const state of TASK_STATES) this.set({ state }, counts[state] ?? 0);
        for (const [state, n] of Object.entries(counts)) {
          if (!(TASK_STATES as readonly string[]).includes(state)) this.set({ state }, n);
        }
      },
    });
    this.transferTasksFinished = new Counter({
      name: "conduit_hub_transfer_tasks_finished_total",
      help: "Transfer tasks this hub saw reach a final state, by outcome",
      labelNames: ["outcome"],
      registers,
    });
    for (const outcome of ["success", "warning", "failure", "canceled"]) {
      this.transferTasksFinished.inc({ outcome }, 0);
    }
    this.clusterRequests = new Counter({
      name: "conduit_hub_cluster_requests_total",
      help: "Requests for a site carried between hubs of a cluster, by direction (out: this hub asked the " +
        "site's holder; in: this hub served one for another) and outcome (ok; out: unheld, no-url, " +
        "unreachable, refused, no-answer; in: not-here, failed)",
      labelNames: ["direction", "outcome"],
      registers,
    });
    new Gauge({
      name: "conduit_hub_cluster_peers",
      help: "Other hubs of the cluster with a live heartbeat at this hub's last beat (0 alone)",
      registers,
      collect() {
        this.set(sources.clusterPeers?.() ?? 0);
      },
    });
  }

  /** The certificates the hub loaded (at start, or the HTTPS pair by the last reload): when each ends. */
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

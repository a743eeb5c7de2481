/** The agent's Prometheus metrics, in one registry passed to whatever counts. */
import * as client from "./metrics_registry.ts";
import { type DimseEvent, statusHex } from "./dimse/handlers.ts";
import type { ForwardEvent } from "./forward/forwarder.ts";
import type { CommitmentEvent } from "./forward/commitment_requests.ts";
import type { StoredListener } from "./ingest/ingest.ts";
import type { RenderEvent } from "./render/mod.ts";
import { stageRoute, undelivered } from "./queue/keys.ts";
import type { CertificateExpiry } from "@conduit/shared/tls";
import type { DiskSpace } from "./archive/disk_space.ts";
import type { CommitmentReportOutcome } from "./commitment/commitment.ts";
import { BUILD_INFO_METRIC, buildInfoLabels } from "@conduit/shared/build";
import { BUILD } from "./version.ts";

export class AgentMetrics {
  readonly registry = new client.Registry();
  readonly buildInfo = new client.Gauge({
    ...BUILD_INFO_METRIC,
    labelNames: [...BUILD_INFO_METRIC.labelNames],
    registers: [this.registry],
  });
  readonly associations = new client.Counter({
    name: "conduit_agent_associations_total",
    help:
      "Associations by outcome: accepted or rejected, then how each accepted one ended (released, aborted by the peer, closed by the peer, protocol-abort, timed-out)",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  /** Set by the owner of the SCP: how many associations are open. */
  activeSource: () => number = () => 0;
  readonly activeAssociations: client.Gauge;
  readonly objectsReceived = new client.Counter({
    name: "conduit_agent_objects_received_total",
    help: "C-STORE requests answered, by status",
    labelNames: ["status"],
    registers: [this.registry],
  });
  readonly bytesReceived = new client.Counter({
    name: "conduit_agent_bytes_received_total",
    help: "Bytes of objects received successfully (file size)",
    registers: [this.registry],
  });
  readonly objectsStored = new client.Counter({
    name: "conduit_agent_objects_stored_total",
    help: "Objects newly committed to the archive",
    registers: [this.registry],
  });
  readonly bytesStored = new client.Counter({
    name: "conduit_agent_bytes_stored_total",
    help: "Bytes newly committed to the archive",
    registers: [this.registry],
  });
  readonly duplicates = new client.Counter({
    name: "conduit_agent_objects_duplicate_total",
    help: "Objects received again (already in the archive)",
    registers: [this.registry],
  });
  readonly removed = new client.Counter({
    name: "conduit_agent_objects_removed_total",
    help: "Archived files removed by retention after their routes were done",
    registers: [this.registry],
  });
  readonly discarded = new client.Counter({
    name: "conduit_agent_queue_discarded_total",
    help: "Dead-letter rows deleted for good, by an operator or after queue.keepDeadDays (by: operator, age)",
    labelNames: ["by"],
    registers: [this.registry],
  });
  readonly conflicts = new client.Counter({
    name: "conduit_agent_objects_conflict_total",
    help: "Objects received again with the same SOP Instance UID and other bytes",
    registers: [this.registry],
  });
  readonly operations = new client.Counter({
    name: "conduit_agent_operations_total",
    help: "C-FIND, C-MOVE, C-GET and N-ACTION (Storage Commitment) requests, by final status",
    labelNames: ["operation", "status"],
    registers: [this.registry],
  });
  readonly failures = new client.Counter({
    name: "conduit_agent_failures_total",
    help: "Failures by DIMSE status (or protocol-error)",
    labelNames: ["operation", "status"],
    registers: [this.registry],
  });

  /** Set by the owner of the queue: counts by destination and state, age of the oldest row. */
  queueSource: () => { destination: string; state: string; count: number; oldest: number }[] = () => [];
  readonly forwardAttempts = new client.Counter({
    name: "conduit_agent_forward_attempts_total",
    help: "Forward attempts, by destination and outcome (done, failed, dead)",
    labelNames: ["destination", "outcome"],
    registers: [this.registry],
  });
  readonly forwardFailures = new client.Counter({
    name: "conduit_agent_forward_failures_total",
    help: "Failed forward attempts by destination and DIMSE status (or association)",
    labelNames: ["destination", "status"],
    registers: [this.registry],
  });
  readonly forwardCommitment = new client.Counter({
    name: "conduit_agent_forward_commitment_total",
    help:
      "Storage Commitment asked of nodes with storageCommitment, by destination and outcome (requested, " +
      "refused: N-ACTION not answered Success; committed, failed: instances in reports; timeout: instances " +
      "asked again for want of a report)",
    labelNames: ["destination", "outcome"],
    registers: [this.registry],
  });
  readonly forwardLatency = new client.Histogram({
    name: "conduit_agent_forward_latency_seconds",
    help: "From the object's Success to its delivery, per destination",
    labelNames: ["destination"],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
    registers: [this.registry],
  });
  readonly commitmentReports = new client.Counter({
    name: "conduit_agent_commitment_reports_total",
    help:
      "Storage Commitment reports the agent owed requesters as an SCP, by outcome: delivered (answered), " +
      "unreachable (the requester is no configured node), given-up (not delivered after the last attempt)",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly groupCommitObjects = new client.Histogram({
    name: "conduit_agent_group_commit_objects",
    help: "Objects per group commit (one index transaction for objects answered Success; dimse.groupCommit)",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  readonly groupCommitSeconds = new client.Histogram({
    name: "conduit_agent_group_commit_seconds",
    help: "From the start of a group commit (placing its files) to the end of its index transaction",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  readonly deidObjects = new client.Counter({
    name: "conduit_agent_deid_objects_total",
    help: "Objects through the de-identification stage, by outcome (done, held back by the burned-in " +
      "text policy, failed)",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly rendered = new client.Counter({
    name: "conduit_agent_rendered_total",
    help: "Rendered images and thumbnails served to the hub, by kind (rendered, thumbnail) and outcome " +
      "(decoded: made from the object now; cached: a thumbnail from the cache; failed)",
    labelNames: ["kind", "outcome"],
    registers: [this.registry],
  });
  readonly renderSeconds = new client.Histogram({
    name: "conduit_agent_render_seconds",
    help: "Time to read, decode, render and encode one image, by kind",
    labelNames: ["kind"],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly certificateExpiry = new client.Gauge({
    name: "conduit_agent_tls_certificate_expiry_seconds",
    help: "When each TLS certificate file the agent loaded ends, at start or by the last " +
      "SIGHUP (notAfter, Unix seconds; a chain: its first end; a CA file: the first end among its valid certificates), by certificate: dimse, " +
      "dimse-ca, hub-client, hub-ca, node:<name>, node-ca:<name>",
    labelNames: ["certificate"],
    registers: [this.registry],
  });
  /** Set by the owner of the thumbnail cache: the bytes it holds. */
  thumbnailBytesSource: () => number = () => 0;
  readonly thumbnailCacheBytes: client.Gauge;
  /** Set by the agent: the streams open now in its tunnel session (0 without a hub or a session). */
  tunnelStreamsSource: () => number = () => 0;
  /**
   * Set by the agent: the checks `/healthz` makes, true when well (`hub` only with `hub.url`). Read when
   * scraped, so a Prometheus alert sees what a readiness probe sees.
   */
  healthSource: () => Promise<Record<string, boolean>> = () => Promise.resolve({});
  readonly health: client.Gauge;
  /** Set by the agent: the data directory's file system, read when scraped; throws when it cannot be read. */
  diskSource: () => DiskSpace = () => {
    throw new Error("no data directory");
  };
  /** Set by the agent: `archive.minFreeMegabytes` in bytes (0: the check is off). */
  diskFloorBytes = 0;
  readonly diskAvailable: client.Gauge;
  readonly diskSize: client.Gauge;
  readonly diskFloor: client.Gauge;
  readonly queueDepth: client.Gauge;
  readonly queueOldest: client.Gauge;

  constructor() {
    this.buildInfo.set(buildInfoLabels(BUILD), 1);
    const queueRows = () => this.queueSource();
    this.queueDepth = new client.Gauge({
      name: "conduit_agent_queue_rows",
      help:
        "Forward queue rows by destination and state (dead rows of a canceled transfer or abandoned: canceled, abandoned)",
      labelNames: ["destination", "state"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const r of queueRows()) this.set({ destination: r.destination, state: r.state }, r.count);
      },
    });
    this.queueOldest = new client.Gauge({
      name: "conduit_agent_queue_oldest_pending_seconds",
      help:
        "Age of the oldest row not yet delivered (pending, in flight or failed), per destination; a pending row from when it became due (held by a transfer's window: from the opening)",
      labelNames: ["destination"],
      registers: [this.registry],
      collect() {
        this.reset();
        const oldest = new Map<string, number>();
        for (const r of queueRows()) {
          if (!undelivered(r.state)) continue;
          oldest.set(r.destination, Math.max(oldest.get(r.destination) ?? 0, r.oldest / 1000));
        }
        for (const [destination, age] of oldest) this.set({ destination }, age);
      },
    });
    const thumbnailBytes = () => this.thumbnailBytesSource();
    this.thumbnailCacheBytes = new client.Gauge({
      name: "conduit_agent_thumbnail_cache_bytes",
      help: "Bytes of thumbnails kept in the site's cache (bounded by render.thumbnailCacheMegabytes)",
      registers: [this.registry],
      collect() {
        this.set(thumbnailBytes());
      },
    });
    const tunnelStreams = () => this.tunnelStreamsSource();
    new client.Gauge({
      name: "conduit_agent_tunnel_streams",
      help:
        "Streams open now in the tunnel session to the hub (retrievals, stores, queries, relays under way): " +
        "back to 0 when none is, whatever way the last ones ended",
      registers: [this.registry],
      collect() {
        this.set(tunnelStreams());
      },
    });
    const health = () => this.healthSource();
    this.health = new client.Gauge({
      name: "conduit_agent_health_ok",
      help: "1 when a check of /healthz is well, 0 when not: database (the index answers and its group " +
        "commits succeed), disk (free space at or above archive.minFreeMegabytes), hub (the link to the hub " +
        "online; only with hub.url)",
      labelNames: ["check"],
      registers: [this.registry],
      async collect() {
        this.reset();
        const checks = await health().catch(() => ({ database: false }));
        for (const [check, ok] of Object.entries(checks)) this.set({ check }, ok ? 1 : 0);
      },
    });
    // One statfs a scrape, read by the first of the two gauges; neither has a series when it fails.
    let disk: DiskSpace | undefined;
    const readDisk = () => {
      try {
        disk = this.diskSource();
      } catch {
        disk = undefined;
      }
    };
    const diskGauge = (name: string, help: string, read: () => number | undefined, before?: () => void) =>
      new client.Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          before?.();
          const v = read();
          if (v === undefined) this.clear();
          else this.set(v);
        },
      });
    this.diskAvailable = diskGauge(
      "conduit_agent_disk_available_bytes",
      "Bytes available to the agent on the data directory's file system (statfs f_bavail), read when scraped; " +
        "no series when it cannot be read",
      () => disk?.available,
      readDisk,
    );
    this.diskSize = diskGauge(
      "conduit_agent_disk_size_bytes",
      "Size in bytes of the data directory's file system, read when scraped; no series when it cannot be read",
      () => disk?.size,
    );
    this.diskFloor = diskGauge(
      "conduit_agent_disk_floor_bytes",
      "The free-space floor (archive.minFreeMegabytes) in bytes: below it every C-STORE is refused; 0 when off",
      () => this.diskFloorBytes,
    );
    const source = () => this.activeSource();
    this.activeAssociations = new client.Gauge({
      name: "conduit_agent_associations_active",
      help: "Associations open now",
      registers: [this.registry],
      collect() {
        this.set(source());
      },
    });
    // Each outcome reported from the start, so an alert's increase() sees the first report given up.
    for (const outcome of ["delivered", "unreachable", "given-up"]) {
      this.commitmentReports.inc({ outcome }, 0);
    }
    client.processMetrics(this.registry, "conduit_agent_");
  }

  /** The certificates the agent loaded (at start, or the DICOM over TLS ones by the last reload): when each ends. */
  setCertificateExpiries(expiries: CertificateExpiry[]): void {
    this.certificateExpiry.reset();
    for (const e of expiries) {
      this.certificateExpiry.set({ certificate: e.label }, Math.floor(e.validity.notAfter / 1000));
    }
  }

  /** The DIMSE layer's event hook. */
  onDimseEvent = (e: DimseEvent): void => {
    switch (e.type) {
      case "association":
        this.associations.inc({ outcome: e.outcome });
        break;
      case "ended":
        this.associations.inc({ outcome: e.outcome });
        break;
      case "store": {
        const status = statusHex(e.status);
        this.objectsReceived.inc({ status });
        if (e.status === 0) this.bytesReceived.inc(e.bytes);
        else this.failures.inc({ operation: "store", status });
        break;
      }
      case "find":
      case "move":
      case "get":
      case "commitment": {
        const status = statusHex(e.status);
        this.operations.inc({ operation: e.type, status });
        if (e.status !== 0 && e.status !== 0xfe00) this.failures.inc({ operation: e.type, status });
        break;
      }
      case "protocol-error":
        this.failures.inc({ operation: "association", status: "protocol-error" });
        break;
      case "tls-refused":
        this.failures.inc({ operation: "association", status: "tls-refused" });
        break;
    }
  };

  /** The forwarder's event hook. */
  /** Ingest's hook: an object committed (or received again). */
  onStored: StoredListener = (e) => {
    if (e.duplicate) this.duplicates.inc();
    if (e.stored) {
      this.objectsStored.inc();
      this.bytesStored.inc(e.bytes);
    }
    if (e.conflict) this.conflicts.inc();
  };

  onForwardEvent = (e: ForwardEvent): void => {
    if (e.type === "attempt") {
      this.forwardAttempts.inc({ destination: e.destination, outcome: e.outcome });
      if (e.outcome !== "done") {
        this.forwardFailures.inc({
          destination: e.destination,
          status: stageRoute(e.destination) !== undefined
            ? "deid"
            : e.status === null
            ? "association"
            : statusHex(e.status),
        });
      }
    } else if (e.type === "deid") this.deidObjects.inc({ outcome: e.outcome });
    else this.forwardLatency.observe({ destination: e.destination }, e.latencyMs / 1000);
  };

  /** The Storage Commitment requests' event hook (forward/commitment_requests.ts). */
  onCommitmentEvent = (e: CommitmentEvent): void => {
    this.forwardCommitment.inc({ destination: e.destination, outcome: e.outcome }, e.count);
    // A node that commits: delivered once committed.
    for (const ms of e.latenciesMs ?? []) {
      this.forwardLatency.observe({ destination: e.destination }, ms / 1000);
    }
  };

  /** The Storage Commitment SCP's hook (commitment/commitment.ts): a report delivered or not. */
  onCommitmentReport = (outcome: CommitmentReportOutcome): void => {
    this.commitmentReports.inc({ outcome });
  };

  /** The group commit's hook (ingest/group_commit.ts): once per group, nothing per object. */
  onGroupCommitted = (objects: number, seconds: number): void => {
    this.groupCommitObjects.observe(objects);
    this.groupCommitSeconds.observe(seconds);
  };

  /** The renderer's event hook. */
  onRenderEvent = (e: RenderEvent): void => {
    this.rendered.inc({ kind: e.kind, outcome: e.outcome });
    if (e.ms !== undefined) this.renderSeconds.observe({ kind: e.kind }, e.ms / 1000);
  };

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

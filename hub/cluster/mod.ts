/**
 * A hub as one of several on a shared PostgreSQL: its site leases and heartbeat (leases.ts), the
 * links to the other hubs that carry requests for the sites they hold (peers.ts), and the leases on
 * the transfer jobs it drives (transfer_lease.ts). A hub on its own libsql file has none of these.
 */
import { Hono } from "hono";
import type { Logger } from "@conduit/shared/log";
import { Reason } from "@conduit/shared/tunnel";
import type { HubDb } from "../db/db.ts";
import type { Sessions } from "../tunnel/sessions.ts";
import type { SiteRegistry } from "../sites/registry.ts";
import { problem } from "../problem.ts";
import { ClusterLeases } from "./leases.ts";
import { ClusterPeers } from "./peers.ts";
import { TransferLeases } from "./transfer_lease.ts";

export interface Cluster {
  hubId: string;
  leases: ClusterLeases;
  peers: ClusterPeers;
  transfers: TransferLeases;
  stop(): Promise<void>;
}

/** Joins the cluster on `db` (PostgreSQL): from now on `sessions` reaches sites on every hub. */
export async function startCluster(opts: {
  db: HubDb;
  sessions: Sessions;
  registry: SiteRegistry;
  clusterUrl?: string;
  /** CA certificates to trust, besides the system's, for other hubs' https cluster URLs. */
  caCerts?: string[];
  version: string;
  log: Logger;
  leaseMs?: number;
}): Promise<Cluster> {
  const log = opts.log;
  const leases = new ClusterLeases(opts.db, { clusterUrl: opts.clusterUrl, version: opts.version }, {
    leaseMs: opts.leaseMs,
  });
  const peers = new ClusterPeers(
    leases,
    async (site) => {
      const live = opts.sessions.get(site);
      return live && !live.session.isClosed ? await opts.sessions.open(site) : undefined;
    },
    log,
    (site) => {
      const live = opts.sessions.get(site);
      return live && !live.session.isClosed ? [...live.features] : undefined;
    },
    opts.caCerts,
  );
  // A relay into a site held here, carried from another hub, waits on the site's downlink cap here.
  peers.downlink = async (site, flow) => await opts.sessions.relayDownlink?.(flow.from, flow.route, site);
  leases.onLost = (site, holder) => {
    log.info("the site connected to another hub; closing its session here", { site, hub: holder.hubId });
    opts.sessions.drop(site, Reason.Replaced, "the site connected to another hub");
  };
  // A site revoked through another hub (or the admin CLI) loses its session here within a beat.
  leases.onBeat = async () => {
    const revoked = await opts.registry.revokedNames();
    for (const site of revoked) {
      if (opts.sessions.get(site)) {
        log.warn("site revoked; closing its session", { site });
        opts.sessions.drop(site, Reason.Revoked, "the site was revoked");
      }
    }
  };
  await leases.start();
  await peers.start();
  opts.sessions.elsewhere = {
    claim: (site) => leases.claim(site),
    release: (site) => leases.release(site),
    heldElsewhere: (site) => leases.heldElsewhere(site),
    open: (site) => peers.open(site),
    openRelay: (site, flow) => peers.openRelay(site, flow),
    features: (site) => peers.features(site),
  };
  if (!opts.clusterUrl) {
    log.warn("no --cluster-url: the other hubs cannot reach the sites connected to this one");
  }
  log.info("joined the hub cluster", { hub: leases.hubId, clusterUrl: opts.clusterUrl ?? null });
  const transfers = new TransferLeases(opts.db, leases.hubId);
  return {
    hubId: leases.hubId,
    leases,
    peers,
    transfers,
    async stop() {
      peers.stop();
      await transfers.releaseAll().catch(() => {});
      await leases.stop();
    },
  };
}

/** `/cluster` on a hub that is not part of a cluster. */
export function noClusterRoutes(): Hono {
  const app = new Hono();
  app.get(
    "/",
    (c) => problem(c, 404, "this hub is not part of a cluster (it runs on its own database file)"),
  );
  return app;
}

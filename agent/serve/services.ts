/** What a site's request handlers work with, passed down from the agent's start. */
import type { ConflictResolver } from "../ingest/resolve.ts";
import type { Logger } from "@conduit/shared/log";
import type { Ingest } from "../ingest/ingest.ts";
import type { Archive } from "../archive/archive.ts";
import type { QueryHandler } from "../dimse/handlers.ts";
import type { Database } from "../index/db.ts";
import type { NodeOperations } from "../nodes/operations.ts";
import type { Queue } from "../queue/queue.ts";
import type { Copies } from "../queue/copies.ts";
import type { Renderer } from "../render/mod.ts";
import type { Eraser } from "../erase/erase.ts";

export interface SiteServices {
  nodes: NodeOperations;
  /** The agent's own archive, for a find without a node. */
  archive: QueryHandler;
  queue: Queue;
  /** Where objects the hub sends are committed. */
  ingest: Ingest;
  /** Where retrieved objects are read from. */
  db: Database;
  files: Archive;
  /** Our AE title and the configured nodes' names. */
  aet: string;
  nodeNames: Set<string>;
  /** `dimse.acceptAnySopClass`: objects of private SOP classes are stored (from the tunnel too). */
  acceptAnySopClass?: boolean;
  /**
   * Starts and wakes forward workers for a destination; says whether the configuration in force has a
   * destination (false for a node removed from it).
   */
  forwarder: {
    ensure(destination: string): void;
    wake(destination?: string): void;
    configured(destination: string): boolean;
    /** Another site connected to the hub: rows for it that got no answer are due now (how many). */
    siteOnline(site: string): number;
  };
  agentVersion: string;
  /** Takes studies, series and instances out of the site for good. */
  eraser: Eraser;
  /** Rendered images and thumbnails (WADO-RS rendered resources). */
  render: Renderer;
  /** De-identification for transfers: where requests and copies are recorded, and whether a key is set. */
  deid: { copies: Copies; hasKey: boolean };
  /**
   * The site credential: `replace` saves a new one durably (throwing CredentialRefusedError for one of
   * another site) and has the tunnel use it from its next connection.
   */
  credential?: { replace(credential: string): Promise<void> };
  /** Resolves the site's conflicts (`resolveConflict`). */
  conflicts?: ConflictResolver;
  log: Logger;
}

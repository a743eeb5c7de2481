/** STOW-RS as a backend answers it: one object (its data set in a spooled file) stored into a site. */
import type { ObjectHeader } from "@conduit/shared/tunnel";

/** An object to store: its header, and where its data set starts in the file at `path`. */
export interface StowObject {
  header: ObjectHeader;
  path: string;
  datasetOffset: number;
}

export interface StoreResult {
  sopInstanceUid: string;
  sopClassUid: string;
  ok: boolean;
  /** Why it failed (PS3.18 FailureReason), when it did. */
  failureReason?: number;
  message?: string;
  /** It failed because the site's tunnel was lost (not the object's fault): the rest is not sent. */
  lost?: boolean;
}

export interface StowService {
  /**
   * Refuses, before a byte of the body is read, what every object would fail on: a node the site does not
   * have (a SiteRequestError `unknown-node`, 404). Resolves when it cannot tell.
   */
  check?(signal?: AbortSignal): Promise<void>;
  /** Stores one object into the site's node or archive. */
  store(object: StowObject, signal?: AbortSignal): Promise<StoreResult>;
}

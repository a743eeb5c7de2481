/** What asking a site can fail with, for every caller (DICOMweb, the API, transfers). */
import { commandOf } from "@conduit/shared/cli";

/** The site is not connected now. */
export class SiteUnavailableError extends Error {
  override name = "SiteUnavailableError";
}

/**
 * The site's agent takes at most 256 streams from the hub at once (each request and each object relayed to
 * it is one), and all of them stayed in use while this request waited its turn.
 */
export class SiteBusyError extends SiteUnavailableError {
  override name = "SiteBusyError";
}

/** A site answered a request with an `error` reply: its code (unknown-node, timeout, dimse...) and message. */
export class SiteRequestError extends Error {
  override name = "SiteRequestError";
  constructor(readonly code: string, message: string, readonly status?: number) {
    super(message);
  }
}

/** No such site (never added, or revoked). */
export class UnknownSiteError extends Error {
  override name = "UnknownSiteError";
}

/** The site was added but its agent never enrolled: it has never connected. */
export class SiteNotConnectedError extends Error {
  override name = "SiteNotConnectedError";
  constructor(readonly site: string) {
    super(
      `site ${site} is not connected yet: its agent has not enrolled (${commandOf("hub")} admin site add)`,
    );
  }
}

/**
 * A change that a site's agent makes (an erasure, a conflict resolved), audited on both sides of asking it.
 * The change is the agent's, so no entry can share its transaction; instead the request is audited before
 * it leaves the hub (detail `requested: true`), and its outcome once known, in a second entry of the same
 * action naming the first (`request: <its id>`) with one of: what the outcome function says (the site
 * answered ok), `failed` (the site refused or failed, or the request never left: the site was not
 * connected), or `unknown` (the answer never came: the tunnel dropped while the site was at it, so the
 * change may have happened). A hub stopped meanwhile leaves the request's entry with no outcome entry.
 */
import type { Logger } from "@conduit/shared/log";
import type { HubDb } from "../db/db.ts";
import { audit } from "../db/schema.ts";
import { entry } from "../auth/audit.ts";
import { SiteRequestError, SiteUnavailableError } from "../tunnel/errors.ts";

/** The request's entry: who asks what of which site, and what it names (no PHI: UIDs hashed). */
export interface AuditedRequest {
  actor: string;
  action: string;
  /** The site asked. */
  target: string;
  detail: Record<string, unknown>;
}

/** The request's entry could not be written, so the request was not sent. */
export class RequestNotAuditedError extends Error {
  override name = "RequestNotAuditedError";
}

/**
 * Audits `request`, then runs `send` (which asks the site) and audits its outcome: `outcome(result)`, or
 * the failure. Nothing is sent when the request's entry cannot be written (RequestNotAuditedError); an
 * outcome entry that cannot be written is logged, and the result (or the failure) given all the same.
 */
export async function auditedRequest<T>(
  db: HubDb,
  log: Logger,
  request: AuditedRequest,
  send: () => Promise<T>,
  outcome: (result: T) => Record<string, unknown>,
): Promise<T> {
  const { actor, action, target, detail } = request;
  let id: number;
  try {
    const [row] = await entry(db, actor, action, target, { ...detail, requested: true })
      .returning({ id: audit.id });
    id = row.id;
  } catch (err) {
    log.error("a request to a site could not be audited; not sent", {
      site: target,
      action,
      reason: (err as Error).message,
    });
    throw new RequestNotAuditedError(
      `${action} was not sent to ${target}: its audit entry could not be written (${(err as Error).message})`,
      { cause: err },
    );
  }
  const audited = async (what: Record<string, unknown>) => {
    try {
      await entry(db, actor, action, target, { ...detail, request: id, ...what });
    } catch (err) {
      log.error("the outcome of a request to a site could not be audited", {
        site: target,
        action,
        request: id,
        reason: (err as Error).message,
      });
    }
  };
  let result: T;
  try {
    result = await send();
  } catch (err) {
    const message = (err as Error).message;
    // The site's own answer, or never sent (not connected when asked): a failure. Anything else is an
    // answer lost on the way (the stream reset, the session closed): whether the site did it is unknown.
    const answered = err instanceof SiteRequestError || err instanceof SiteUnavailableError;
    await audited(answered ? { failed: message } : { unknown: message });
    throw err;
  }
  await audited(outcome(result));
  return result;
}

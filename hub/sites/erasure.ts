/**
 * Erasing a study, a series or an instance at a site for good (DICOMweb DELETE, `site.erase`): asked of
 * the site's agent (agent/erase/erase.ts), which must name the `erase` feature, and audited (`study.erase`,
 * `series.erase` or `instance.erase`, target the site, the UIDs hashed as the logs hash them): the request
 * before it is sent, then what the site removed, or why it failed, or that its answer was lost
 * (audited_request.ts: the change is the agent's, so it cannot share a transaction with its entry).
 */
import { type DetailOf, FEATURE_ERASE, type RequestOf, versionWithout } from "@conduit/shared/tunnel";
import { hashUid, type Logger } from "@conduit/shared/log";
import type { HubDb } from "../db/db.ts";
import { auditedRequest } from "./audited_request.ts";
import type { Sessions } from "../tunnel/sessions.ts";
import { SiteUnavailableError } from "../tunnel/errors.ts";
import type { SiteRegistry } from "./registry.ts";

/** A study, one series of it or one instance of that series (the tunnel's `erase` request's fields). */
export type ErasureTarget = Omit<RequestOf<"erase">, "op">;

/** What the site removed (the tunnel's `erase` answer; agent/erase/erase.ts). */
export type ErasureResult = DetailOf<"erase">;

/** The site's agent cannot erase (an earlier version), or no hub can say whether it can. */
export class ErasureUnsupportedError extends Error {
  override name = "ErasureUnsupportedError";
}

export class SiteErasure {
  constructor(
    private readonly registry: SiteRegistry,
    private readonly sessions: Sessions,
    private readonly db: HubDb,
    private readonly log: Logger,
  ) {}

  /** Erases `target` at `site` for `actor` (as the audit log names who: `user:alice`, `token:NAME`). */
  async erase(site: string, target: ErasureTarget, actor: string): Promise<ErasureResult> {
    await this.registry.require(site);
    const features = await this.sessions.featuresOf(site);
    if (!features) {
      if (this.sessions.online(site)) {
        throw new ErasureUnsupportedError(
          `the hub that holds ${site} cannot say whether its agent can erase (that hub is of an earlier ` +
            "version): upgrade it",
        );
      }
      throw new SiteUnavailableError(`site ${site} is not connected`);
    }
    if (!features.has(FEATURE_ERASE)) {
      const version = versionWithout(this.sessions.get(site)?.agentVersion, FEATURE_ERASE);
      throw new ErasureUnsupportedError(
        `this agent version (${version}) cannot erase: upgrade the agent of ${site}`,
      );
    }
    const level = target.sopInstanceUid ? "instance" : target.seriesInstanceUid ? "series" : "study";
    const named = {
      study: hashUid(target.studyInstanceUid),
      ...(target.seriesInstanceUid ? { series: hashUid(target.seriesInstanceUid) } : {}),
      ...(target.sopInstanceUid ? { instance: hashUid(target.sopInstanceUid) } : {}),
    };
    return await auditedRequest(
      this.db,
      this.log,
      { actor, action: `${level}.erase`, target: site, detail: named },
      () => this.sessions.ask(site, { op: "erase", ...target }),
      (removed) => ({ removed }),
    );
  }
}

/**
 * Erasing a study, a series or an instance at a site for good (DICOMweb DELETE, `site.erase`): asked of
 * the site's agent (agent/erase/erase.ts), which must name the `erase` feature, and audited (`study.erase`,
 * `series.erase` or `instance.erase`, target the site, the UIDs hashed as the logs hash them, what the
 * site removed; a refusal or failure of the site audited too, with its reason). The entry follows the
 * site's answer: the change is the agent's, so it cannot be written in one transaction with it.
 */
import { type DetailOf, FEATURE_ERASE, type RequestOf } from "@conduit/shared/tunnel";
import { hashUid, type Logger } from "@conduit/shared/log";
import type { HubDb } from "../db/db.ts";
import { entry } from "../auth/audit.ts";
import type { Sessions } from "../tunnel/sessions.ts";
import { SiteRequestError, SiteUnavailableError } from "../tunnel/errors.ts";
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

  /** Erases `target` at `site` for `actor` (as the audit log names who: `user:alice`, `token:ID`). */
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
      const version = this.sessions.get(site)?.agentVersion;
      throw new ErasureUnsupportedError(
        `this agent version${version ? ` (${version})` : ""} cannot erase: upgrade the agent of ${site}`,
      );
    }
    const level = target.sopInstanceUid ? "instance" : target.seriesInstanceUid ? "series" : "study";
    const named = {
      study: hashUid(target.studyInstanceUid),
      ...(target.seriesInstanceUid ? { series: hashUid(target.seriesInstanceUid) } : {}),
      ...(target.sopInstanceUid ? { instance: hashUid(target.sopInstanceUid) } : {}),
    };
    let result: ErasureResult;
    try {
      result = await this.sessions.ask(site, { op: "erase", ...target });
    } catch (err) {
      // Nothing there is not an erasure; anything else may have erased part of it: recorded.
      if (!(err instanceof SiteRequestError && err.code === "not-found")) {
        await this.#audit(actor, `${level}.erase`, site, { ...named, failed: (err as Error).message });
      }
      throw err;
    }
    await this.#audit(actor, `${level}.erase`, site, { ...named, removed: result });
    return result;
  }

  async #audit(actor: string, action: string, site: string, detail: Record<string, unknown>): Promise<void> {
    try {
      await entry(this.db, actor, action, site, detail);
    } catch (err) {
      this.log.error("an erasure could not be audited", { site, reason: (err as Error).message });
    }
  }
}

/**
 * Which sites a federated search asks (QIDO-RS at `/dicomweb/...`, `query.studies` without a site),
 * and which it leaves out, each named with the reason, so that a partial answer never passes for a
 * whole one.
 */
import type { Principal } from "../auth/tokens.ts";
import { mayReach } from "../auth/permissions.ts";
import type { BackendProvider } from "./services.ts";

export interface LeftOut {
  site: string;
  /** "outside the token's sites", "not connected yet", "offline", or why the site did not answer. */
  reason: string;
}

export async function federation(
  provider: BackendProvider,
  principal: Principal,
): Promise<{ sites: string[]; leftOut: LeftOut[] }> {
  const sites: string[] = [];
  const leftOut: LeftOut[] = [];
  for (const s of await provider.sites()) {
    if (!mayReach(principal, s.site)) {
      leftOut.push({
        site: s.site,
        reason: `outside the ${principal.kind === "token" ? "token" : "user"}'s sites`,
      });
    } else if (s.pending) leftOut.push({ site: s.site, reason: "not connected yet" });
    else if (!s.online) leftOut.push({ site: s.site, reason: "offline" });
    else sites.push(s.site);
  }
  return { sites, leftOut };
}

/** "site north is offline", "site east did not answer: ...". */
export function describe(l: LeftOut): string {
  return l.reason.startsWith("did not") ? `site ${l.site} ${l.reason}` : `site ${l.site} is ${l.reason}`;
}

/**
 * Which sites a federated search asks (QIDO-RS at `/dicomweb/...`, `query.studies` without a site),
 * and which it leaves out, each named with the reason, so that a partial answer never passes for a
 * whole one; and asking them (askEverySite): a few at once, each within its own time, so that one slow
 * site delays the answer by at most its time and the others' answers still come.
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

/** How many sites a federated search asks at once (the others wait for a place, their time not yet running). */
export const FEDERATED_CONCURRENCY = 8;

/** How long a federated search waits for one site by default (`dicomweb.federatedSiteSeconds`). */
export const FEDERATED_SITE_MS = 60_000;

/** One site's part of a federated search: what it answered, or why not (`did not answer: ...`). */
export type SiteAnswer<T> = { site: string; value: T } | { site: string; reason: string };

/**
 * `ask` of every site, at most `concurrency` at once, each given a signal that aborts `timeoutMs` after its
 * own start; the answers in the order of `sites`. A site that throws, or whose time ran out, has a `reason`.
 */
export async function askEverySite<T>(
  sites: string[],
  ask: (site: string, signal: AbortSignal) => Promise<T>,
  { timeoutMs = FEDERATED_SITE_MS, concurrency = FEDERATED_CONCURRENCY } = {},
): Promise<SiteAnswer<T>[]> {
  const answers: SiteAnswer<T>[] = new Array(sites.length);
  let next = 0;
  const worker = async () => {
    while (next < sites.length) {
      const i = next++;
      const site = sites[i];
      const signal = AbortSignal.timeout(timeoutMs);
      try {
        answers[i] = { site, value: await untilAborted(ask(site, signal), signal) };
      } catch (err) {
        const reason = signal.aborted
          ? `did not answer within ${timeoutMs / 1000} s`
          : `did not answer: ${(err as Error).message}`;
        answers[i] = { site, reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, sites.length) }, worker));
  return answers;
}

/** `work`, or a rejection once `signal` aborts (a site that ignores the signal cannot hold the answer). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/** The hub's `dicomweb.federatedSiteSeconds` in ms, for routes that find a study's site (set by routes.ts). */
export type FederationEnv = { Variables: { federatedSiteMs?: number } };

/**
 * The first of `sites` whose `has` says yes, asking them at once (at most `concurrency` at a time), each
 * within `timeoutMs` of its own start; the others' questions are aborted once one says yes. Undefined when
 * none does, with each site that failed or ran out of time in `leftOut`. So a hung or slow site holds a
 * federated retrieval up only when no other site has the study, and then for at most its time.
 */
export async function firstSiteWith(
  sites: string[],
  has: (site: string, signal: AbortSignal) => Promise<boolean>,
  { timeoutMs = FEDERATED_SITE_MS, concurrency = FEDERATED_CONCURRENCY } = {},
): Promise<{ site?: string; leftOut: LeftOut[] }> {
  const found = new AbortController();
  const leftOut: LeftOut[] = [];
  let site: string | undefined;
  let next = 0;
  const worker = async () => {
    while (next < sites.length && site === undefined) {
      const candidate = sites[next++];
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = AbortSignal.any([timeout, found.signal]);
      try {
        if (await untilAborted(has(candidate, signal), signal)) {
          site ??= candidate;
          found.abort();
        }
      } catch (err) {
        if (found.signal.aborted) return;
        leftOut.push({
          site: candidate,
          reason: timeout.aborted
            ? `did not answer within ${timeoutMs / 1000} s`
            : `did not answer: ${(err as Error).message}`,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, sites.length) }, worker));
  return { site, leftOut };
}

/**
 * Sites: the list with recent tunnel throughput, echo of a node, and (`site.*`) one site's lifecycle, nodes, dead
 * letter, conflicts (listed and resolved) and erasure.
 */
import { z } from "zod";
import {
  type AskOp,
  type DetailOf,
  FEATURE_CONFLICT_RESOLVE,
  FEATURE_CONFLICTS,
  FEATURE_DEAD_LETTER_MANAGE,
  Reason,
  type RequestOf,
  versionWithout,
} from "@conduit/shared/tunnel";
import { TRPCError } from "@trpc/server";
import { SiteUnavailableError } from "../tunnel/errors.ts";
import { mayReach } from "../auth/permissions.ts";
import { auditedRequest } from "../sites/audited_request.ts";
import type { Principal } from "../auth/tokens.ts";
import { actorOf, type ApiDeps, procedure, router } from "./trpc.ts";
import { name, pageOffset, uid } from "./inputs.ts";

type Deps = Pick<ApiDeps, "registry" | "sessions">;
type SiteDeps = Pick<ApiDeps, "db" | "log" | "registry" | "sessions" | "rotation" | "transfers" | "erasure">;

/**
 * The features of a site's agent, once it is known to have `feature` (needed to `what`): an unknown site
 * is NOT_FOUND, an offline one SERVICE_UNAVAILABLE, an agent without it (or held by a hub that cannot say)
 * PRECONDITION_FAILED, saying so, so that no agent is sent a request it would refuse.
 */
async function agentFeatures(
  d: Deps,
  site: string,
  what: string,
  feature: string,
): Promise<ReadonlySet<string>> {
  await d.registry.require(site);
  const features = await d.sessions.featuresOf(site);
  if (!features) {
    // Held by another hub of the cluster that cannot say (of an earlier version): not asked blindly.
    if (d.sessions.online(site)) {
      throw new TRPCError({
        code: "PRECONDITION_FAILED",
        message: `the hub that holds ${site} cannot say whether its agent can ${what} (that hub is of an ` +
          "earlier version): upgrade it",
      });
    }
    throw new SiteUnavailableError(`site ${site} is not connected`);
  }
  if (!features.has(feature)) {
    throw new TRPCError({
      code: "PRECONDITION_FAILED",
      message: `${tooOld(d, site, feature)} cannot ${what}: upgrade the agent of ${site}`,
    });
  }
  return features;
}

/** "this agent version (0.0.9, older than 2026-12-05 06:41 UTC)", of a site's agent without `feature`. */
function tooOld(d: Deps, site: string, feature: string): string {
  return `this agent version (${versionWithout(d.sessions.get(site)?.agentVersion, feature)})`;
}

/**
 * The `ok` detail of a request to a site's agent: an unknown site is NOT_FOUND, one never enrolled
 * or offline SERVICE_UNAVAILABLE, the site's own refusal mapped by its code (./errors.ts).
 */
async function siteReply<O extends AskOp>(
  d: Deps,
  site: string,
  request: RequestOf<O>,
): Promise<DetailOf<O>> {
  await d.registry.require(site);
  return await d.sessions.ask(site, request);
}

/** `sites.*`: every site. */
export function sitesRouter(d: Deps) {
  return router({
    /**
     * Every site the principal may reach, with its recent tunnel throughput (bytes/s per heartbeat, as the
     * hub holding it last wrote them to the database, so the same through every hub of a cluster) and, of
     * its queue depth, the objects stored at a node that commits and awaiting its Storage Commitment report
     * (`committing`: live from this hub's session, else as the hub holding it last wrote it; null when its
     * agent cannot say), and the rows a window holds until it opens (`held`, the same way).
     */
    list: procedure.query(async ({ ctx }) =>
      (await d.registry.list()).filter((s) => mayReach(ctx.principal, s.site))
        .map((s) => {
          const live = d.sessions.get(s.site);
          return { ...s, committing: live?.committing ?? s.committing, held: live?.held ?? s.held };
        })
    ),
    echo: procedure.input(z.object({ site: name, node: name }).strict()).mutation(
      async ({ input }) => {
        await d.registry.require(input.site);
        try {
          return {
            ok: true as const,
            ...(await d.sessions.ask(input.site, { op: "echo", node: input.node })),
          };
        } catch (err) {
          return { ok: false as const, error: (err as Error).message };
        }
      },
    ),
  });
}

/** `site.*`: one site. */
export function siteRouter(d: SiteDeps) {
  return router({
    /** Adds a site (or re-issues its token before enrollment); returns the one-time enrollment token. */
    add: procedure.input(z.object({ site: name }).strict()).mutation(({ ctx, input }) =>
      d.registry.add(input.site, Date.now(), actorOf(ctx.principal))
    ),
    /** Revokes a site: its credential stops working and its session closes now. */
    revoke: procedure.input(z.object({ site: name }).strict()).mutation(async ({ ctx, input }) => {
      const { already } = await d.registry.revoke(input.site, Date.now(), actorOf(ctx.principal));
      d.sessions.drop(input.site, Reason.Revoked, "the site was revoked");
      return { site: input.site, state: "revoked" as const, ...(already ? { already } : {}) };
    }),
    /**
     * Hands the site's connected agent a new credential (saved there before it answers); the old one is
     * accepted for the hub's grace period or until the agent connects with the new one. The outcome:
     * `confirmed`, `unconfirmed` (the answer did not come: both accepted until the agent uses the new one),
     * or `refused` (offline, an agent too old, nothing changed), with a sentence to show.
     */
    rotate: procedure.input(z.object({ site: name }).strict()).mutation(({ ctx, input }) =>
      d.rotation.rotate(input.site, actorOf(ctx.principal))
    ),
    /**
     * Sets (`null` clears) the site's uplink cap, Mbit/s: everything the hub relays from the site (its
     * transfers' objects and its routes') shares it, in turn; audited. Applies from the next object.
     */
    setUplink: procedure.input(
      z.object({ site: name, uplinkMbps: z.number().min(0.1).max(100_000).nullable() }).strict(),
    ).mutation(async ({ ctx, input }) => {
      const info = await d.registry.setUplink(input.site, input.uplinkMbps, actorOf(ctx.principal));
      d.transfers.forgetSite(input.site);
      return info;
    }),
    /**
     * Sets (`null` clears) the site's downlink cap, Mbit/s: everything the hub relays to the site (transfers'
     * objects and routes' from any site) shares it, in turn; audited. Applies from the next object.
     */
    setDownlink: procedure.input(
      z.object({ site: name, downlinkMbps: z.number().min(0.1).max(100_000).nullable() }).strict(),
    ).mutation(async ({ ctx, input }) => {
      const info = await d.registry.setDownlink(input.site, input.downlinkMbps, actorOf(ctx.principal));
      d.transfers.forgetSite(input.site);
      return info;
    }),
    nodes: procedure.input(z.object({ site: name }).strict()).query(async ({ input }) => {
      return (await siteReply(d, input.site, { op: "nodes" })).nodes;
    }),
    deadLetter: procedure.input(z.object({ site: name }).strict()).query(
      async ({ input }) => {
        return (await siteReply(d, input.site, { op: "deadLetter" })).rows;
      },
    ),
    /**
     * One page of the site's conflicts (objects its agent received again with other bytes: UIDs, hashes,
     * policy, calling AE title, kept copy, resolution), newest first, and how many there are: by `offset`,
     * or (stable while conflicts arrive) `before` the id of the last one of the page before; `unresolved`
     * leaves resolved ones out. Asked only of an agent that can answer: an older one is PRECONDITION_FAILED,
     * saying so.
     */
    conflicts: procedure.input(
      z.object({
        site: name,
        limit: z.number().int().min(1).max(1000).optional(),
        offset: pageOffset.optional(),
        before: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
        unresolved: z.boolean().optional(),
      }).strict(),
    ).query(async ({ input }) => {
      const features = await agentFeatures(d, input.site, "list conflicts", FEATURE_CONFLICTS);
      const newer = input.before !== undefined || input.unresolved === true;
      if (newer && !features.has(FEATURE_CONFLICT_RESOLVE)) {
        throw new TRPCError({
          code: "PRECONDITION_FAILED",
          message:
            `${
              tooOld(d, input.site, FEATURE_CONFLICT_RESOLVE)
            } cannot list conflicts by before or unresolved: upgrade the ` +
            `agent of ${input.site}`,
        });
      }
      const limit = input.limit ?? 50;
      const offset = input.offset ?? 0;
      return {
        limit,
        offset,
        ...(await d.sessions.ask(input.site, {
          op: "conflicts",
          limit,
          offset,
          ...(input.before !== undefined ? { before: input.before } : {}),
          ...(input.unresolved ? { unresolved: true as const } : {}),
        })),
      };
    }),
    /**
     * Erases a study, one series of it or one instance of that series at the site for good (its files,
     * index rows, queue rows, de-identified copies and conflict records): what the site removed. Audited;
     * an agent of an earlier version is PRECONDITION_FAILED, nothing there NOT_FOUND.
     */
    erase: procedure.input(
      z.object({
        site: name,
        studyInstanceUid: uid,
        seriesInstanceUid: uid.optional(),
        sopInstanceUid: uid.optional(),
      }).strict().refine((i) => !i.sopInstanceUid || i.seriesInstanceUid, {
        message: "an instance is named with its series (seriesInstanceUid)",
        path: ["seriesInstanceUid"],
      }),
    ).mutation(async ({ ctx, input }) => {
      const { site, ...target } = input;
      return await d.erasure.erase(site, target, actorOf(ctx.principal!));
    }),
    /**
     * Resolves one of the site's keepBoth conflicts: `stored` keeps the archived object (the kept copy is
     * deleted), `received` makes the kept copy the archived object (indexed and routed again there).
     * Audited (`site.conflict.resolve`): the request before it is sent, then its outcome. An agent that cannot is PRECONDITION_FAILED, saying so; one that
     * refuses (resolved already, nothing kept) BAD_REQUEST, an unknown id NOT_FOUND, with its sentence.
     */
    resolveConflict: procedure.input(
      z.object({
        site: name,
        id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
        keep: z.enum(["stored", "received"]),
      }).strict(),
    ).mutation(async ({ ctx, input }) => {
      await agentFeatures(d, input.site, "resolve conflicts", FEATURE_CONFLICT_RESOLVE);
      const { conflict } = await auditedRequest(
        d.db,
        d.log,
        {
          actor: actorOf(ctx.principal!),
          action: "site.conflict.resolve",
          target: input.site,
          detail: { conflict: input.id, keep: input.keep },
        },
        () => d.sessions.ask(input.site, { op: "resolveConflict", id: input.id, keep: input.keep }),
        () => ({ resolved: true }),
      );
      return conflict;
    }),
    /** Dead-letter rows back to the queue, attempts reset; audited (`site.deadLetter.replay`). */
    replay: procedure.input(
      z.object({ site: name, ids: ids }).strict(),
    ).mutation(async ({ ctx, input }) => {
      await d.registry.require(input.site);
      const { replayed } = await auditedRequest(
        d.db,
        d.log,
        { ...audited(ctx, "site.deadLetter.replay", input.site), detail: { rows: input.ids.length } },
        () => d.sessions.ask(input.site, { op: "replay", ids: input.ids }),
        (r) => ({ replayed: r.replayed }),
      );
      // Jobs that failed on those rows are followed again, and settle as their objects now are.
      if (replayed > 0) await d.transfers.reopenAfterReplay(input.site);
      return { replayed };
    }),
    /**
     * Dead-letter rows deleted for good at the site (no replay after; the archived objects stay until the
     * site's retention removes them), rows in any other state left; audited (`site.deadLetter.discard`). An
     * agent too old is PRECONDITION_FAILED, saying so.
     */
    discardDead: procedure.input(
      z.object({ site: name, ids: ids }).strict(),
    ).mutation(async ({ ctx, input }) => {
      await agentFeatures(d, input.site, "discard dead-letter rows", FEATURE_DEAD_LETTER_MANAGE);
      const { discarded } = await auditedRequest(
        d.db,
        d.log,
        { ...audited(ctx, "site.deadLetter.discard", input.site), detail: { rows: input.ids.length } },
        () => d.sessions.ask(input.site, { op: "discardDead", ids: input.ids }),
        (r) => ({ discarded: r.discarded }),
      );
      return { discarded };
    }),
    /**
     * The site's rows waiting for a destination its configuration no longer has (a node removed), by
     * destination, with the age of the oldest. An agent too old is PRECONDITION_FAILED, saying so.
     */
    stranded: procedure.input(z.object({ site: name }).strict()).query(async ({ input }) => {
      await agentFeatures(d, input.site, "list rows waiting for a removed node", FEATURE_DEAD_LETTER_MANAGE);
      return (await d.sessions.ask(input.site, { op: "stranded" })).destinations;
    }),
    /**
     * A destination's waiting rows (pending or failed) at the site given up to its dead letter, where replay
     * brings them back; audited (`site.queue.abandon`). An agent too old is PRECONDITION_FAILED, saying so.
     */
    abandon: procedure.input(
      z.object({ site: name, destination: z.string().min(1).max(256) }).strict(),
    ).mutation(async ({ ctx, input }) => {
      await agentFeatures(d, input.site, "abandon queued rows", FEATURE_DEAD_LETTER_MANAGE);
      const { abandoned } = await auditedRequest(
        d.db,
        d.log,
        { ...audited(ctx, "site.queue.abandon", input.site), detail: { destination: input.destination } },
        () => d.sessions.ask(input.site, { op: "abandon", destination: input.destination }),
        (r) => ({ abandoned: r.abandoned }),
      );
      return { abandoned };
    }),
  });
}

/** Dead-letter row ids in one request: as many as the tunnel's `replay` and `discardDead` carry. */
export const MAX_ROW_IDS = 10_000;

/** Dead-letter row ids, as the tunnel carries them (at most {@link MAX_ROW_IDS} a request). */
const ids = z.array(z.number().int().positive().max(Number.MAX_SAFE_INTEGER)).min(
  1,
  "name at least one row id",
)
  .max(
    MAX_ROW_IDS,
    `at most ${MAX_ROW_IDS} row ids in one request: send the rest in another (nothing was done)`,
  );

/** Who asks what of which site, for an audited request. */
function audited(ctx: { principal?: Principal }, action: string, site: string) {
  return { actor: actorOf(ctx.principal!), action, target: site };
}

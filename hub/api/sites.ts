/** Sites: the list with live throughput, echo of a node, and (`site.*`) one site's lifecycle, nodes and dead letter. */
import { z } from "zod";
import { type AskOp, type DetailOf, Reason, type RequestOf } from "@conduit/shared/tunnel";
import { mayReach } from "../auth/permissions.ts";
import { actorOf, type ApiDeps, procedure, router } from "./trpc.ts";
import { name } from "./inputs.ts";

type Deps = Pick<ApiDeps, "registry" | "sessions">;
type SiteDeps = Pick<ApiDeps, "registry" | "sessions" | "rotation" | "transfers">;

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
     * Every site the principal may reach, with its recent tunnel throughput (bytes/s per heartbeat) and,
     * of its queue depth, the objects stored at a node that commits and awaiting its Storage Commitment
     * report (`committing`: live from this hub's session, else as the hub holding it last wrote it; null when
     * its agent cannot say).
     */
    list: procedure.query(async ({ ctx }) =>
      (await d.registry.list()).filter((s) => mayReach(ctx.principal, s.site))
        .map((s) => {
          const live = d.sessions.get(s.site);
          return { ...s, throughput: live?.throughput ?? [], committing: live?.committing ?? s.committing };
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
      await d.registry.revoke(input.site, Date.now(), actorOf(ctx.principal));
      d.sessions.drop(input.site, Reason.Revoked, "the site was revoked");
      return { site: input.site, state: "revoked" };
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
    replay: procedure.input(
      z.object({ site: name, ids: z.array(z.number().int().positive()).min(1) }).strict(),
    )
      .mutation(async ({ input }) => {
        return {
          replayed: (await siteReply(d, input.site, { op: "replay", ids: input.ids })).replayed,
        };
      }),
  });
}

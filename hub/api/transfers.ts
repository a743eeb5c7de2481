/** Transfer jobs: create, follow (list, get, progress over SSE, objects), cancel, retry, reschedule. */
import { z } from "zod";
import { TRPCError } from "@trpc/server";
import { checkReach } from "../auth/permissions.ts";
import type { Principal } from "../auth/tokens.ts";
import { TERMINAL, type TransferSummary } from "../transfers/view.ts";
import { customSummary, deidProblem } from "../transfers/deid.ts";
import { MAX_STUDIES, TransferError } from "../transfers/service.ts";
import { type Day, MAX_WINDOWS } from "../transfers/window.ts";
import { actorOf, type ApiDeps, procedure, router } from "./trpc.ts";
import { NotFoundError, toTrpcError } from "./errors.ts";
import { byId, deid, endpoint, jobId, pageOffset, uid } from "./inputs.ts";

type Deps = Pick<ApiDeps, "registry" | "transfers">;

/**
 * Hours a job runs, HH:MM in an IANA zone (the hub's when absent), on the days named (every day when
 * absent); one window or several. The service checks the values and says what is wrong (a union's
 * own message would only say the input is invalid).
 */
// Bounds loose enough that the service's own words say what is wrong (` 19:00`, an empty list, 15 windows:
// until 2026-12-07 zod's "String must contain at most 5 character(s)" and the like; QA 35a).
const oneWindow = z.object({
  start: z.string().max(64),
  end: z.string().max(64),
  timeZone: z.string().min(1).max(64).optional(),
  days: z.array(z.string().max(16) as z.ZodType<Day>).max(7).optional(),
}).strict();
const timeWindow = z.union([oneWindow, z.array(oneWindow).max(4 * MAX_WINDOWS)]);
/** Some series of one study. */
const studySeries = z.object({ study: uid, series: z.array(uid).min(1).max(1000) }).strict();
/** Megabits per second. */
const bandwidth = z.number().min(0.1).max(100_000);

/** The states of a task (transfers.tasks filters by one). */
const TASK_STATES = [
  "pending",
  "queued",
  "in_progress",
  "success",
  "warning",
  "failure",
  "canceling",
  "canceled",
] as const;

/** A page of the latest jobs. */
const page = z.object({
  limit: z.number().int().positive().max(1000).optional(),
  offset: pageOffset.optional(),
}).strict().optional();

/** A transfer job the principal may see (both of its sites in reach), or NOT_FOUND / FORBIDDEN. */
async function job(d: Deps, principal: Principal, id: string) {
  const t = await d.transfers.get(id);
  if (!t) throw new NotFoundError(`no transfer ${id}`);
  checkReach(principal, [t.source.site, t.destination.site]);
  return t;
}

/** A job the principal may see, without its tasks (as job() checks it). */
async function jobSummary(d: Deps, principal: Principal, id: string) {
  const t = await d.transfers.summary(id);
  if (!t) throw new NotFoundError(`no transfer ${id}`);
  checkReach(principal, [t.source.site, t.destination.site]);
  return t;
}

/** What a job's progress reports a change of: its status and totals. */
const progressKey = (t: TransferSummary) => JSON.stringify([t.status, t.totals]);

export function transfersRouter(d: Deps) {
  const brief = actions(d, false);
  return router({
    create: procedure.input(
      z.object({
        source: endpoint,
        destination: endpoint,
        /** Whole studies. */
        studies: z.array(uid).min(1).max(10_000).optional(),
        /** Only some series of these studies (each study here or in `studies`, not both). */
        series: z.array(studySeries).min(1).max(10_000).optional(),
        priority: z.number().int().min(-10).max(10).optional(),
        window: timeWindow.optional(),
        bandwidthMbps: bandwidth.optional(),
        deid: deid.optional(),
        /**
         * Names this request: a create with the same key by the same caller answers the job the first one
         * made (a retry after a timeout starts nothing twice); with another request, CONFLICT.
         */
        idempotencyKey: z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, {
          message: "1 to 200 visible ASCII characters (no spaces)",
        }).optional(),
      }).strict().refine((i) => i.studies || i.series, {
        message: "name studies, or series of studies, to transfer",
        path: ["studies"],
      }),
    ).mutation(async ({ ctx, input }) => {
      d.transfers.checkRequest(input); // what is wrong with the request itself first, then its sites
      await d.registry.require(input.source.site);
      await d.registry.require(input.destination.site);
      const { idempotencyKey, ...request } = input;
      // Keys are per credential: a token by its id, since two tokens may bear one name (and one actor).
      const caller = ctx.principal.kind === "token" ? `token#${ctx.principal.id}` : actorOf(ctx.principal);
      return await d.transfers.create(request, actorOf(ctx.principal), idempotencyKey, caller);
    }),
    /**
     * Checks a transfer's `deid` as `create` does (a custom profile entry by entry, Clinical Trial
     * attributes), creating nothing: BAD_REQUEST naming what is wrong, or what the custom profile holds.
     */
    checkDeid: procedure.input(z.object({ deid }).strict()).mutation(({ input }) => {
      const problem = deidProblem(input.deid);
      if (problem) throw new TransferError(problem);
      return {
        ok: true as const,
        ...(input.deid.custom ? { custom: customSummary(input.deid.custom) } : {}),
      };
    }),
    /** The latest jobs (newest first) whose source and destination the principal may both reach. */
    list: procedure.input(page)
      // The scope is part of the query: filtered after the limit, newer jobs of other sites hid its own.
      .query(({ ctx, input }) => d.transfers.list(input?.limit, ctx.principal.sites, input?.offset)),
    /** The page `list` gives, each job without its tasks (their totals only): the console's lists. */
    summaries: procedure.input(page)
      .query(({ ctx, input }) => d.transfers.summaries(input?.limit, ctx.principal.sites, input?.offset)),
    /** The job and every one of its tasks at once (a job of 5 000 studies is most of a megabyte): see `tasks`. */
    get: procedure.input(byId).query(({ ctx, input }) => job(d, ctx.principal, input.id)),
    /**
     * A page of a job's tasks (in the order the job named them, by their ids; `after`: the page before's
     * `next`, or `offset`: tasks skipped), all or those in one state, with the job's totals and its tasks
     * counted by state.
     */
    tasks: procedure.input(
      z.object({
        id: jobId,
        limit: z.number().int().positive().max(1000).optional(),
        after: z.string().min(1).max(64).optional(),
        /** Tasks skipped (a page by its number, as the console's address names it), instead of `after`. */
        offset: z.number().int().min(0).max(MAX_STUDIES).optional(),
        status: z.enum(TASK_STATES).optional(),
      }).strict().refine((i) => i.after === undefined || i.offset === undefined, {
        message: "give after (the cursor of the page before) or offset, not both",
        path: ["offset"],
      }),
    ).query(async ({ ctx, input }) => {
      const page = await d.transfers.tasks(input.id, input);
      if (!page) throw new NotFoundError(`no transfer ${input.id}`);
      checkReach(ctx.principal, [page.job.source.site, page.job.destination.site]);
      return page;
    }),
    ...actions(d, true),
    /** cancel, retry and schedule answering the job without its tasks (as `summaries`): the console's. */
    cancelSummary: brief.cancel,
    retrySummary: brief.retry,
    scheduleSummary: brief.schedule,
    /**
     * The job each time its status or totals change, over SSE, until it ends (the last value is the
     * final state), or until the caller's token is revoked or its session ends (UNAUTHORIZED).
     */
    progress: procedure.input(
      z.object({
        id: jobId,
        /** false: the job without its tasks (its totals), as `summaries` gives it; the console's job page. */
        tasks: z.boolean().optional(),
      }).strict(),
    )
      .subscription(async function* ({ ctx, input, signal }) {
        let last = "";
        while (!signal?.aborted) {
          if (!(await (ctx.stillValid?.() ?? true))) {
            throw new TRPCError({
              code: "UNAUTHORIZED",
              message: "the credential was revoked or has expired",
            });
          }
          // Each poll reads the job's totals alone (summed by the database); its tasks only when they moved.
          const seen = await jobSummary(d, ctx.principal, input.id).catch((err) => {
            throw toTrpcError(err);
          });
          if (progressKey(seen) !== last) {
            const t = input.tasks === false ? seen : await job(d, ctx.principal, input.id).catch((err) => {
              throw toTrpcError(err);
            });
            last = progressKey(t);
            yield t;
            if (TERMINAL.has(t.status)) return;
          } else if (TERMINAL.has(seen.status)) return;
          await new Promise((r) => setTimeout(r, 500));
        }
      }),
    /**
     * One study's objects (only its series the job names, when it names some), with their state at the
     * source (pending, in flight, failed, done, dead): every one, or `limit` of them after the row `after`.
     */
    objects: procedure.input(
      z.object({
        id: jobId,
        study: uid,
        after: z.number().int().nonnegative().optional(),
        limit: z.number().int().min(1).max(10_000).optional(),
      }).strict(),
    )
      .query(async ({ ctx, input }) => {
        await jobSummary(d, ctx.principal, input.id);
        return await d.transfers.objects(input.id, input.study, { after: input.after, limit: input.limit });
      }),
  });
}

/**
 * Cancel, retry and reschedule, answering the job with every task (`tasks` true: as `get`, read once for
 * the answer) or without them (as `summaries`): the check of the caller's reach reads the job's totals,
 * the action only the tasks it changes.
 */
function actions<T extends boolean>(d: Deps, tasks: T) {
  return {
    cancel: procedure.input(byId)
      .mutation(async ({ ctx, input }) => {
        await jobSummary(d, ctx.principal, input.id);
        return await d.transfers.cancel(input.id, actorOf(ctx.principal), tasks);
      }),
    retry: procedure.input(byId)
      .mutation(async ({ ctx, input }) => {
        await jobSummary(d, ctx.principal, input.id);
        return await d.transfers.retry(input.id, actorOf(ctx.principal), tasks);
      }),
    /** Sets (or with null clears) a running job's time window and bandwidth cap; absent keeps. */
    schedule: procedure.input(
      z.object({
        id: jobId,
        window: timeWindow.nullable().optional(),
        bandwidthMbps: bandwidth.nullable().optional(),
      }).strict(),
    ).mutation(async ({ ctx, input }) => {
      await jobSummary(d, ctx.principal, input.id);
      return await d.transfers.schedule(
        input.id,
        { window: input.window, bandwidthMbps: input.bandwidthMbps },
        actorOf(ctx.principal),
        tasks,
      );
    }),
  };
}

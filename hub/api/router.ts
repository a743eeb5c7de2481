/**
 * The automation API (tRPC v11 at `/trpc`): sites, queries, transfers and tokens, with zod inputs.
 * Roles: viewer reads and queries; operator also echoes and moves studies; admin also manages tokens.
 */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import type { SiteRegistry } from "../sites/registry.ts";
import { type Sessions, SiteRequestError, SiteUnavailableError } from "../tunnel/sessions.ts";
import type { ApiTokens } from "../auth/tokens.ts";
import { mayReach, ROLES } from "../auth/tokens.ts";
import { TransferError, type TransferService } from "../transfers/service.ts";
import type { BackendProvider } from "../dicomweb/services.ts";
import { procedure, router } from "./trpc.ts";
import type { HubDb } from "../db/db.ts";
import { recent } from "../auth/audit.ts";
import type { Users } from "../auth/users.ts";
import { Reason, type Request } from "@conduit/shared/tunnel/mod.ts";
import type { BatchService } from "../transfers/batch.ts";
import { BatchFileError, parseBatchFile } from "../transfers/rows.ts";

const name = z.string().min(1).max(64);
const uid = z.string().regex(/^[0-9]+(\.[0-9]+)*$/).max(64);
const endpoint = z.object({ site: name, node: name.optional() }).strict();
/** Hours of the day a job runs, HH:MM in an IANA zone (the hub's when absent); checked again by the service. */
const timeWindow = z.object({
  start: z.string().regex(/^\d\d:\d\d$/, "HH:MM"),
  end: z.string().regex(/^\d\d:\d\d$/, "HH:MM"),
  timeZone: z.string().min(1).max(64).optional(),
}).strict();
/** Megabits per second. */
const bandwidth = z.number().min(0.1).max(100_000);

/** How a principal appears in the audit log and on jobs: `user:alice` or `token:scripts`. */
function actorOf(p: { kind: string; name: string }): string {
  return `${p.kind}:${p.name}`;
}

/** The `ok` detail of a request to a site's agent; its failures become tRPC errors. */
async function siteReply(d: ApiDeps, site: string, request: Request): Promise<Record<string, unknown>> {
  try {
    return await d.sessions.ask(site, request);
  } catch (err) {
    if (err instanceof SiteUnavailableError) {
      throw new TRPCError({ code: "PRECONDITION_FAILED", message: err.message });
    }
    if (err instanceof SiteRequestError) throw new TRPCError({ code: "BAD_REQUEST", message: err.message });
    throw err;
  }
}

export interface ApiDeps {
  db: HubDb;
  users: Users;
  registry: SiteRegistry;
  sessions: Sessions;
  tokens: ApiTokens;
  transfers: TransferService;
  provider: BackendProvider;
  batches: BatchService;
}

function checkSite(principal: { sites?: string[] }, site: string) {
  if (!mayReach(principal as never, site)) {
    throw new TRPCError({ code: "FORBIDDEN", message: `this token may not reach site ${site}` });
  }
}

function transferErrors<T>(fn: () => Promise<T>): Promise<T> {
  return fn().catch((err) => {
    if (err instanceof TransferError) throw new TRPCError({ code: "BAD_REQUEST", message: err.message });
    throw err;
  });
}

export function appRouter(d: ApiDeps) {
  return router({
    sites: router({
      /** Every site the principal may reach, with its recent tunnel throughput (bytes/s per heartbeat). */
      list: procedure("viewer").query(async ({ ctx }) =>
        (await d.registry.list()).filter((s) => mayReach(ctx.principal, s.site))
          .map((s) => ({ ...s, throughput: d.sessions.get(s.site)?.throughput ?? [] }))
      ),
      echo: procedure("operator").input(z.object({ site: name, node: name }).strict()).mutation(
        async ({ ctx, input }) => {
          checkSite(ctx.principal, input.site);
          try {
            return { ok: true, ...(await d.sessions.ask(input.site, { op: "echo", node: input.node })) };
          } catch (err) {
            return { ok: false, error: (err as Error).message };
          }
        },
      ),
    }),
    site: router({
      /** Adds a site (or re-issues its token before enrollment); returns the one-time enrollment token. */
      add: procedure("admin").input(z.object({ site: name }).strict()).mutation(async ({ ctx, input }) => {
        try {
          return await d.registry.add(input.site, Date.now(), actorOf(ctx.principal));
        } catch (err) {
          throw new TRPCError({ code: "BAD_REQUEST", message: (err as Error).message });
        }
      }),
      /** Revokes a site: its credential stops working and its session closes now. */
      revoke: procedure("admin").input(z.object({ site: name }).strict()).mutation(async ({ ctx, input }) => {
        try {
          await d.registry.revoke(input.site, Date.now(), actorOf(ctx.principal));
        } catch (err) {
          throw new TRPCError({ code: "NOT_FOUND", message: (err as Error).message });
        }
        d.sessions.drop(input.site, Reason.Revoked, "the site was revoked");
        return { site: input.site, state: "revoked" };
      }),
      nodes: procedure("viewer").input(z.object({ site: name }).strict()).query(async ({ ctx, input }) => {
        checkSite(ctx.principal, input.site);
        return (await siteReply(d, input.site, { op: "nodes" })).nodes as {
          name: string;
          aet: string;
          host: string;
          port: number;
          retrieve: string;
        }[];
      }),
      deadLetter: procedure("operator").input(z.object({ site: name }).strict()).query(
        async ({ ctx, input }) => {
          checkSite(ctx.principal, input.site);
          return (await siteReply(d, input.site, { op: "deadLetter" })).rows as {
            id: number;
            sopInstanceUid: string;
            route: string;
            destination: string;
            attempts: number;
            lastStatus: number | null;
            lastError: string;
            updatedAt: number;
          }[];
        },
      ),
      replay: procedure("operator").input(
        z.object({ site: name, ids: z.array(z.number().int().positive()).min(1) }).strict(),
      )
        .mutation(async ({ ctx, input }) => {
          checkSite(ctx.principal, input.site);
          return {
            replayed: Number((await siteReply(d, input.site, { op: "replay", ids: input.ids })).replayed),
          };
        }),
    }),
    users: router({
      list: procedure("admin").query(() => d.users.list()),
      add: procedure("admin").input(
        z.object({
          name: z.string().min(1).max(64),
          role: z.enum(ROLES),
          password: z.string().min(10).max(1024),
        }).strict(),
      ).mutation(async ({ ctx, input }) => {
        try {
          await d.users.add(input.name, input.role, input.password, actorOf(ctx.principal));
          return { user: input.name, role: input.role };
        } catch (err) {
          throw new TRPCError({ code: "BAD_REQUEST", message: (err as Error).message });
        }
      }),
      /** Disables a user (ending their sessions) or enables them again. */
      setDisabled: procedure("admin").input(
        z.object({ name: z.string().min(1).max(64), disabled: z.boolean() }).strict(),
      ).mutation(async ({ ctx, input }) => {
        try {
          await d.users.setDisabled(input.name, input.disabled, actorOf(ctx.principal));
          return { user: input.name, disabled: input.disabled };
        } catch (err) {
          throw new TRPCError({ code: "BAD_REQUEST", message: (err as Error).message });
        }
      }),
    }),
    query: router({
      /** The series of one study at a site (its archive or a node). */
      series: procedure("viewer").input(
        z.object({ site: name, node: name.optional(), studyInstanceUid: uid }).strict(),
      )
        .query(async ({ ctx, input }) => {
          checkSite(ctx.principal, input.site);
          const backend = await d.provider.backend(input.site, input.node);
          const keys = {
            StudyInstanceUID: input.studyInstanceUid,
            SeriesInstanceUID: "",
            Modality: "",
            SeriesNumber: "",
            SeriesDescription: "",
            NumberOfSeriesRelatedInstances: "",
          };
          const out: Record<string, unknown>[] = [];
          for await (const ds of backend.search({ level: "SERIES", keys }, AbortSignal.timeout(60_000))) {
            out.push(ds);
          }
          return out;
        }),
      /** Study-level search on one site (its archive or a node), or on every site the token may reach. */
      studies: procedure("viewer").input(
        z.object({
          site: name.optional(),
          node: name.optional(),
          filters: z.record(z.string(), z.string()).default({}),
          limit: z.number().int().positive().max(10_000).optional(),
        }).strict(),
      ).query(async ({ ctx, input }) => {
        const sites = input.site
          ? [input.site]
          : (await d.provider.sites()).filter((s) => s.online).map((s) => s.site);
        const out: { site: string; study: Record<string, unknown> }[] = [];
        for (const site of sites) {
          if (!mayReach(ctx.principal, site)) continue;
          const backend = await d.provider.backend(site, input.node);
          const keys: Record<string, string> = {
            StudyInstanceUID: "",
            PatientID: "",
            PatientName: "",
            StudyDate: "",
            ModalitiesInStudy: "",
            StudyDescription: "",
            NumberOfStudyRelatedInstances: "",
            ...input.filters,
          };
          for await (
            const ds of backend.search(
              { level: "STUDY", keys, limit: input.limit },
              AbortSignal.timeout(60_000),
            )
          ) {
            out.push({ site, study: ds });
          }
        }
        return out;
      }),
    }),
    transfers: router({
      create: procedure("operator").input(
        z.object({
          source: endpoint,
          destination: endpoint,
          studies: z.array(uid).min(1).max(10_000),
          priority: z.number().int().min(-10).max(10).optional(),
          window: timeWindow.optional(),
          bandwidthMbps: bandwidth.optional(),
          deid: z.object({ profile: z.string(), options: z.array(z.string()).optional() }).strict()
            .optional(),
        }).strict(),
      ).mutation(({ ctx, input }) => {
        checkSite(ctx.principal, input.source.site);
        checkSite(ctx.principal, input.destination.site);
        return transferErrors(() => d.transfers.create(input, actorOf(ctx.principal)));
      }),
      list: procedure("viewer").input(
        z.object({ limit: z.number().int().positive().max(1000).optional() }).strict().optional(),
      )
        .query(({ input }) => d.transfers.list(input?.limit)),
      get: procedure("viewer").input(z.object({ id: z.string().min(1) }).strict()).query(
        async ({ input }) => {
          const t = await d.transfers.get(input.id);
          if (!t) throw new TRPCError({ code: "NOT_FOUND", message: `no transfer ${input.id}` });
          return t;
        },
      ),
      cancel: procedure("operator").input(z.object({ id: z.string().min(1) }).strict())
        .mutation(({ ctx, input }) =>
          transferErrors(() => d.transfers.cancel(input.id, actorOf(ctx.principal)))
        ),
      /**
       * The job each time its status or totals change, over SSE, until it ends (the last value is the
       * final state).
       */
      progress: procedure("viewer").input(z.object({ id: z.string().min(1) }).strict())
        .subscription(async function* ({ input, signal }) {
          let last = "";
          while (!signal?.aborted) {
            const t = await d.transfers.get(input.id);
            if (!t) throw new TRPCError({ code: "NOT_FOUND", message: `no transfer ${input.id}` });
            const key = JSON.stringify([t.status, t.totals]);
            if (key !== last) {
              last = key;
              yield t;
            }
            if (["success", "warning", "failure", "canceled"].includes(t.status)) return;
            await new Promise((r) => setTimeout(r, 500));
          }
        }),
      /** One study's objects, with their state at the source (pending, in flight, failed, done, dead). */
      objects: procedure("viewer").input(z.object({ id: z.string().min(1), study: uid }).strict())
        .query(({ input }) => transferErrors(() => d.transfers.objects(input.id, input.study))),
      retry: procedure("operator").input(z.object({ id: z.string().min(1) }).strict())
        .mutation(({ input }) => transferErrors(() => d.transfers.retry(input.id))),
      /** Sets (or with null clears) a running job's time window and bandwidth cap; absent keeps. */
      schedule: procedure("operator").input(
        z.object({
          id: z.string().min(1),
          window: timeWindow.nullable().optional(),
          bandwidthMbps: bandwidth.nullable().optional(),
        }).strict(),
      ).mutation(({ ctx, input }) =>
        transferErrors(() =>
          d.transfers.schedule(
            input.id,
            { window: input.window, bandwidthMbps: input.bandwidthMbps },
            actorOf(ctx.principal),
          )
        )
      ),
    }),
    batch: router({
      /**
       * Rows from a CSV or XLSX file (base64): kind query searches `sites`; kind transfer searches the
       * one source site and moves what it finds to `destination`.
       */
      upload: procedure("operator").input(
        z.object({
          kind: z.enum(["query", "transfer"]),
          filename: z.string().min(1).max(255),
          contentBase64: z.string().max(50_000_000),
          sites: z.array(name).min(1),
          node: name.optional(),
          destination: endpoint.optional(),
        }).strict(),
      ).mutation(async ({ ctx, input }) => {
        for (const s of [...input.sites, ...(input.destination ? [input.destination.site] : [])]) {
          checkSite(ctx.principal, s);
        }
        const content = Uint8Array.from(atob(input.contentBase64), (c) => c.charCodeAt(0));
        try {
          return await d.batches.upload({ ...input, content }, actorOf(ctx.principal));
        } catch (err) {
          if (err instanceof BatchFileError || err instanceof TransferError) {
            throw new TRPCError({ code: "BAD_REQUEST", message: err.message });
          }
          throw err;
        }
      }),
      /**
       * The rows of a CSV or XLSX file as they would be searched, each with its error if it cannot be
       * used; nothing is searched or stored. A file that cannot be read at all is BAD_REQUEST.
       */
      preview: procedure("operator").input(
        z.object({ filename: z.string().min(1).max(255), contentBase64: z.string().max(50_000_000) })
          .strict(),
      ).mutation(async ({ input }) => {
        const content = Uint8Array.from(atob(input.contentBase64), (c) => c.charCodeAt(0));
        try {
          const rows = await parseBatchFile(input.filename, content);
          return {
            rows: rows.length,
            badRows: rows.filter((r) => r.error).length,
            first: rows.slice(0, 500),
          };
        } catch (err) {
          if (err instanceof BatchFileError) {
            throw new TRPCError({ code: "BAD_REQUEST", message: err.message });
          }
          throw err;
        }
      }),
      status: procedure("viewer").input(z.object({ id: z.string().min(1) }).strict()).query(
        async ({ input }) => {
          const b = await d.batches.status(input.id);
          if (!b) throw new TRPCError({ code: "NOT_FOUND", message: `no batch ${input.id}` });
          return b;
        },
      ),
      /** The results as a file, base64: one line per match, and one per row that failed with its reason. */
      results: procedure("viewer").input(
        z.object({ id: z.string().min(1), format: z.enum(["csv", "xlsx"]) }).strict(),
      )
        .query(async ({ input }) => {
          const bytes = await d.batches.results(input.id, input.format);
          if (!bytes) {
            throw new TRPCError({ code: "NOT_FOUND", message: `batch ${input.id} has no results yet` });
          }
          let binary = "";
          for (let i = 0; i < bytes.length; i += 0x8000) {
            binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          }
          return { filename: `batch-${input.id}.${input.format}`, contentBase64: btoa(binary) };
        }),
    }),
    tokens: router({
      list: procedure("admin").query(() => d.tokens.list()),
      create: procedure("admin").input(
        z.object({
          name: z.string().min(1).max(64),
          role: z.enum(ROLES),
          sites: z.array(name).optional(),
        }).strict(),
      ).mutation(({ ctx, input }) =>
        d.tokens.create(input.name, input.role, input.sites, actorOf(ctx.principal))
      ),
      revoke: procedure("admin").input(z.object({ id: z.string().min(1).max(64) }).strict())
        .mutation(async ({ ctx, input }) => {
          try {
            await d.tokens.revoke(input.id, actorOf(ctx.principal));
            return { id: input.id, revoked: true };
          } catch (err) {
            throw new TRPCError({ code: "BAD_REQUEST", message: (err as Error).message });
          }
        }),
    }),
    audit: router({
      /** The latest entries, newest first. */
      list: procedure("admin")
        .input(z.object({ limit: z.number().int().positive().max(1000).optional() }).strict().optional())
        .query(({ input }) => recent(d.db, input?.limit)),
    }),
  });
}

export type AppRouter = ReturnType<typeof appRouter>;

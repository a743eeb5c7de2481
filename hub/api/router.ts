/**
 * The automation API (tRPC v11 at `/trpc`): sites, queries, transfers and tokens, with zod inputs.
 * Who may call what is the role matrix (hub/auth/permissions.ts), applied by `procedure` from each
 * procedure's path, with the principal's sites checked on every site an input names; what a
 * procedure throws becomes a tRPC error in one place (./errors.ts).
 */
import { z } from "zod";
import type { SiteRegistry } from "../sites/registry.ts";
import type { Sessions } from "../tunnel/sessions.ts";
import type { ApiTokens, Principal } from "../auth/tokens.ts";
import { ROLES } from "../auth/tokens.ts";
import { checkReach, mayReach } from "../auth/permissions.ts";
import type { TransferService } from "../transfers/service.ts";
import type { BackendProvider } from "../dicomweb/services.ts";
import { procedure, router } from "./trpc.ts";
import { NotFoundError, toTrpcError } from "./errors.ts";
import type { HubDb } from "../db/db.ts";
import { recent } from "../auth/audit.ts";
import type { Users } from "../auth/users.ts";
import { type AskOp, type DetailOf, Reason, type RequestOf } from "@conduit/shared/tunnel/mod.ts";
import type { BatchService } from "../transfers/batch.ts";
import { parseBatchFile } from "../transfers/rows.ts";
import { federation, type LeftOut } from "../dicomweb/federation.ts";
import { DEID_OPTIONS } from "@conduit/shared/deid/options.ts";

/** A site or node name, as the tunnel carries it. */
const name = z.string().min(1).max(64).regex(
  /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
  "not a site or node name (letters, digits, . _ -, at most 64)",
);
const uid = z.string().max(64, "a UID has at most 64 characters").regex(
  /^[0-9]+(\.[0-9]+)*$/,
  "not a DICOM UID (digits separated by dots)",
);
const endpoint = z.object({ site: name, node: name.optional() }).strict();
/** Hours of the day a job runs, HH:MM in an IANA zone (the hub's when absent); checked again by the service. */
const timeWindow = z.object({
  start: z.string().regex(/^\d\d:\d\d$/, "HH:MM"),
  end: z.string().regex(/^\d\d:\d\d$/, "HH:MM"),
  timeZone: z.string().min(1).max(64).optional(),
}).strict();
/** Megabits per second. */
const bandwidth = z.number().min(0.1).max(100_000);
/** De-identification at the source (PS3.15 Basic Profile and options); the service checks the rest. */
const deid = z.object({
  profile: z.literal("basic", { errorMap: () => ({ message: 'the profile is "basic" (PS3.15 E.1)' }) }),
  options: z.array(z.enum(DEID_OPTIONS)).max(DEID_OPTIONS.length).optional(),
  allowBurnedIn: z.boolean().optional(),
  /** Original Patient ID -> pseudonym. */
  pseudonyms: z.record(z.string().min(1).max(64), z.string().min(1).max(64)).optional(),
}).strict();

/** How a principal appears in the audit log and on jobs: `user:alice` or `token:scripts`. */
function actorOf(p: { kind: string; name: string }): string {
  return `${p.kind}:${p.name}`;
}

/**
 * The `ok` detail of a request to a site's agent: an unknown site is NOT_FOUND, one never enrolled
 * or offline SERVICE_UNAVAILABLE, the site's own refusal mapped by its code (./errors.ts).
 */
async function siteReply<O extends AskOp>(
  d: ApiDeps,
  site: string,
  request: RequestOf<O>,
): Promise<DetailOf<O>> {
  await d.registry.require(site);
  return await d.sessions.ask(site, request);
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

/** A transfer job the principal may see (both of its sites in reach), or NOT_FOUND / FORBIDDEN. */
async function job(d: ApiDeps, principal: Principal, id: string) {
  const t = await d.transfers.get(id);
  if (!t) throw new NotFoundError(`no transfer ${id}`);
  checkReach(principal, [t.source.site, t.destination.site]);
  return t;
}

/** A batch the principal may see (every site it searched or moved to in reach). */
async function batch(d: ApiDeps, principal: Principal, id: string) {
  const b = await d.batches.status(id);
  if (!b) throw new NotFoundError(`no batch ${id}`);
  checkReach(principal, b.sites);
  return b;
}

export function appRouter(d: ApiDeps) {
  return router({
    sites: router({
      /** Every site the principal may reach, with its recent tunnel throughput (bytes/s per heartbeat). */
      list: procedure.query(async ({ ctx }) =>
        (await d.registry.list()).filter((s) => mayReach(ctx.principal, s.site))
          .map((s) => ({ ...s, throughput: d.sessions.get(s.site)?.throughput ?? [] }))
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
    }),
    site: router({
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
    }),
    users: router({
      list: procedure.query(() => d.users.list()),
      add: procedure.input(
        z.object({
          name: z.string().min(1).max(64),
          role: z.enum(ROLES),
          password: z.string().min(10).max(1024),
        }).strict(),
      ).mutation(async ({ ctx, input }) => {
        await d.users.add(input.name, input.role, input.password, actorOf(ctx.principal));
        return { user: input.name, role: input.role };
      }),
      /** Disables a user (ending their sessions) or enables them again. */
      setDisabled: procedure.input(
        z.object({ name: z.string().min(1).max(64), disabled: z.boolean() }).strict(),
      ).mutation(async ({ ctx, input }) => {
        await d.users.setDisabled(input.name, input.disabled, actorOf(ctx.principal));
        return { user: input.name, disabled: input.disabled };
      }),
    }),
    query: router({
      /** The series of one study at a site (its archive or a node). */
      series: procedure.input(
        z.object({ site: name, node: name.optional(), studyInstanceUid: uid }).strict(),
      )
        .query(async ({ input }) => {
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
      /**
       * Study-level search on one site (its archive or a node), or on every site the principal may
       * reach; `leftOut` names each site a federated search did not ask or that did not answer.
       */
      studies: procedure.input(
        z.object({
          site: name.optional(),
          node: name.optional(),
          filters: z.record(z.string(), z.string()).default({}),
          limit: z.number().int().positive().max(10_000).optional(),
        }).strict(),
      ).query(async ({ ctx, input }) => {
        const { sites, leftOut } = input.site
          ? { sites: [input.site], leftOut: [] as LeftOut[] }
          : await federation(d.provider, ctx.principal);
        const keys: Record<string, string> = {
          StudyInstanceUID: "",
          PatientID: "",
          PatientName: "",
          PatientBirthDate: "",
          PatientSex: "",
          StudyDate: "",
          StudyTime: "",
          AccessionNumber: "",
          ReferringPhysicianName: "",
          ModalitiesInStudy: "",
          StudyDescription: "",
          NumberOfStudyRelatedSeries: "",
          NumberOfStudyRelatedInstances: "",
          ...input.filters,
        };
        const studies: { site: string; study: Record<string, unknown> }[] = [];
        for (const site of sites) {
          const found: typeof studies = [];
          try {
            const backend = await d.provider.backend(site, input.node);
            const query = { level: "STUDY" as const, keys, limit: input.limit };
            for await (const ds of backend.search(query, AbortSignal.timeout(60_000))) {
              found.push({ site, study: ds });
            }
          } catch (err) {
            if (input.site) throw err;
            leftOut.push({ site, reason: `did not answer: ${(err as Error).message}` });
            continue;
          }
          studies.push(...found);
        }
        return { studies, leftOut };
      }),
    }),
    transfers: router({
      create: procedure.input(
        z.object({
          source: endpoint,
          destination: endpoint,
          studies: z.array(uid).min(1).max(10_000),
          priority: z.number().int().min(-10).max(10).optional(),
          window: timeWindow.optional(),
          bandwidthMbps: bandwidth.optional(),
          deid: deid.optional(),
        }).strict(),
      ).mutation(async ({ ctx, input }) => {
        await d.registry.require(input.source.site);
        await d.registry.require(input.destination.site);
        return await d.transfers.create(input, actorOf(ctx.principal));
      }),
      /** The latest jobs (newest first) whose source and destination the principal may both reach. */
      list: procedure.input(
        z.object({ limit: z.number().int().positive().max(1000).optional() }).strict().optional(),
      )
        .query(async ({ ctx, input }) =>
          (await d.transfers.list(input?.limit)).filter((t) =>
            mayReach(ctx.principal, t.source.site) && mayReach(ctx.principal, t.destination.site)
          )
        ),
      get: procedure.input(z.object({ id: z.string().min(1) }).strict()).query(({ ctx, input }) =>
        job(d, ctx.principal, input.id)
      ),
      cancel: procedure.input(z.object({ id: z.string().min(1) }).strict())
        .mutation(async ({ ctx, input }) => {
          await job(d, ctx.principal, input.id);
          return await d.transfers.cancel(input.id, actorOf(ctx.principal));
        }),
      /**
       * The job each time its status or totals change, over SSE, until it ends (the last value is the
       * final state).
       */
      progress: procedure.input(z.object({ id: z.string().min(1) }).strict())
        .subscription(async function* ({ ctx, input, signal }) {
          let last = "";
          while (!signal?.aborted) {
            const t = await job(d, ctx.principal, input.id).catch((err) => {
              throw toTrpcError(err);
            });
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
      objects: procedure.input(z.object({ id: z.string().min(1), study: uid }).strict())
        .query(async ({ ctx, input }) => {
          await job(d, ctx.principal, input.id);
          return await d.transfers.objects(input.id, input.study);
        }),
      retry: procedure.input(z.object({ id: z.string().min(1) }).strict())
        .mutation(async ({ ctx, input }) => {
          await job(d, ctx.principal, input.id);
          return await d.transfers.retry(input.id);
        }),
      /** Sets (or with null clears) a running job's time window and bandwidth cap; absent keeps. */
      schedule: procedure.input(
        z.object({
          id: z.string().min(1),
          window: timeWindow.nullable().optional(),
          bandwidthMbps: bandwidth.nullable().optional(),
        }).strict(),
      ).mutation(async ({ ctx, input }) => {
        await job(d, ctx.principal, input.id);
        return await d.transfers.schedule(
          input.id,
          { window: input.window, bandwidthMbps: input.bandwidthMbps },
          actorOf(ctx.principal),
        );
      }),
    }),
    batch: router({
      /**
       * Rows from a CSV or XLSX file (base64): kind query searches `sites`; kind transfer searches the
       * one source site and moves what it finds to `destination`.
       */
      upload: procedure.input(
        z.object({
          kind: z.enum(["query", "transfer"]),
          filename: z.string().min(1).max(255),
          contentBase64: z.string().max(50_000_000),
          sites: z.array(name).min(1),
          node: name.optional(),
          destination: endpoint.optional(),
          /** For a transfer: de-identify at the source; the file's Pseudonym column applies. */
          deid: deid.omit({ pseudonyms: true }).optional(),
        }).strict(),
      ).mutation(async ({ ctx, input }) => {
        const content = Uint8Array.from(atob(input.contentBase64), (c) => c.charCodeAt(0));
        return await d.batches.upload({ ...input, content }, actorOf(ctx.principal));
      }),
      /**
       * The rows of a CSV or XLSX file as they would be searched, each with its error if it cannot be
       * used; nothing is searched or stored. A file that cannot be read at all is BAD_REQUEST.
       */
      preview: procedure.input(
        z.object({ filename: z.string().min(1).max(255), contentBase64: z.string().max(50_000_000) })
          .strict(),
      ).mutation(async ({ input }) => {
        const content = Uint8Array.from(atob(input.contentBase64), (c) => c.charCodeAt(0));
        const rows = await parseBatchFile(input.filename, content);
        return { rows: rows.length, badRows: rows.filter((r) => r.error).length, first: rows.slice(0, 500) };
      }),
      status: procedure.input(z.object({ id: z.string().min(1) }).strict()).query(({ ctx, input }) =>
        batch(d, ctx.principal, input.id)
      ),
      /** The results as a file, base64: one line per match, and one per row that failed with its reason. */
      results: procedure.input(
        z.object({ id: z.string().min(1), format: z.enum(["csv", "xlsx"]) }).strict(),
      )
        .query(async ({ ctx, input }) => {
          await batch(d, ctx.principal, input.id);
          const bytes = await d.batches.results(input.id, input.format);
          if (!bytes) throw new NotFoundError(`batch ${input.id} has no results yet`);
          let binary = "";
          for (let i = 0; i < bytes.length; i += 0x8000) {
            binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
          }
          return { filename: `batch-${input.id}.${input.format}`, contentBase64: btoa(binary) };
        }),
    }),
    tokens: router({
      list: procedure.query(() => d.tokens.list()),
      create: procedure.input(
        z.object({
          name: z.string().min(1).max(64),
          role: z.enum(ROLES),
          sites: z.array(name).optional(),
        }).strict(),
      ).mutation(({ ctx, input }) =>
        d.tokens.create(input.name, input.role, input.sites, actorOf(ctx.principal))
      ),
      revoke: procedure.input(z.object({ id: z.string().min(1).max(64) }).strict())
        .mutation(async ({ ctx, input }) => {
          await d.tokens.revoke(input.id, actorOf(ctx.principal));
          return { id: input.id, revoked: true };
        }),
    }),
    audit: router({
      /** The latest entries, newest first. */
      list: procedure
        .input(z.object({ limit: z.number().int().positive().max(1000).optional() }).strict().optional())
        .query(({ input }) => recent(d.db, input?.limit)),
    }),
  });
}

export type AppRouter = ReturnType<typeof appRouter>;

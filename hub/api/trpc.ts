/**
 * tRPC setup: the request's principal (an API token or a console session), the role matrix applied
 * to every procedure by its path (hub/auth/permissions.ts), site scope on every site the input
 * names, and one error mapper (./errors.ts) for all procedures.
 */
import type { Logger } from "@conduit/shared/log";
import type { SiteErasure } from "../sites/erasure.ts";
import { initTRPC, TRPCError } from "@trpc/server";
import type { ApiTokens, Principal } from "../auth/tokens.ts";
import type { Users } from "../auth/users.ts";
import { authorize, checkReach, PROCEDURES } from "../auth/permissions.ts";
import type { HubDb } from "../db/db.ts";
import type { BackendProvider } from "../dicomweb/services.ts";
import type { SiteRegistry } from "../sites/registry.ts";
import type { CredentialRotation } from "../sites/rotation.ts";
import type { BatchService } from "../transfers/batch.ts";
import type { TransferService } from "../transfers/service.ts";
import type { Sessions } from "../tunnel/sessions.ts";
import { toTrpcError } from "./errors.ts";

/** What the procedures work with; each domain's router takes the part it needs. */
export interface ApiDeps {
  db: HubDb;
  users: Users;
  registry: SiteRegistry;
  sessions: Sessions;
  rotation: CredentialRotation;
  tokens: ApiTokens;
  transfers: TransferService;
  provider: BackendProvider;
  batches: BatchService;
  erasure: SiteErasure;
  /** How long a federated `query.studies` waits for each site (`dicomweb.federatedSiteSeconds`; 60 s). */
  federatedSiteMs?: number;
  /** The hub's logger (what cannot be audited is logged). */
  log: Logger;
}

export { actorOf } from "../auth/tokens.ts";

export interface Context {
  principal?: Principal;
  /** Why the request has no principal: no valid credential, or a session call without its CSRF token. */
  refused?: "unauthenticated" | "bad-token" | "csrf";
  /**
   * Whether the request's credential still holds (the token not revoked, the session not ended, the user
   * not disabled): a long call (a subscription) asks again as it goes.
   */
  stillValid?: () => Promise<boolean>;
  /** Counts each call by procedure and outcome (`ok`, or its tRPC error code): the hub's metrics. */
  observe?: (procedure: string, outcome: string) => void;
}

/**
 * The sentence of a refusal tRPC makes itself, before any procedure runs (the procedures' own go through
 * toTrpcError): a body or `input=` that is not JSON, a body of another type, a query POSTed or a mutation
 * got. Its own messages name neither what was wrong nor what to do (or are cut: `Unsupported content-type
 * "text/plain`).
 */
export function transportMessage(error: TRPCError): string | undefined {
  if (error.code === "BAD_REQUEST" && error.cause instanceof SyntaxError) {
    return `the input is not JSON (${error.cause.message}): a query's input=, a mutation's body`;
  }
  if (error.code === "UNSUPPORTED_MEDIA_TYPE") {
    const type = /content-type "([^"]*)/i.exec(error.message)?.[1];
    return `a mutation's body is its input as JSON: send Content-Type: application/json${
      type ? ` (not ${JSON.stringify(type)})` : ""
    }`;
  }
  if (error.code === "METHOD_NOT_SUPPORTED") {
    const m = /(GET|POST)-request to (query|mutation|subscription) procedure at path "([^"]*)"/.exec(
      error.message,
    );
    if (m) return methodMessage(m[3], m[2]);
  }
  return undefined;
}

/** How a procedure of `type` is called over plain HTTP, as a refusal of another method says it. */
export function methodMessage(path: string, type: string): string {
  const how = type === "mutation"
    ? "POST it, its input as the JSON body"
    : "GET it, its input as ?input=JSON";
  return `${path} is a ${type}: ${how}`;
}

// isDev false: error answers never carry a stack trace.
const t = initTRPC.context<Context>().create({
  isDev: false,
  errorFormatter: ({ shape, error }) => {
    const message = transportMessage(error);
    return message ? { ...shape, message } : shape;
  },
});

export const router = t.router;

/**
 * The site names an input carries, wherever they sit (`site`, `sites`, `source.site`,
 * `destination.site`, ...), read before the input is validated so that every procedure, new ones
 * too, is held to the principal's sites.
 */
function sitesNamed(input: unknown, depth = 0): string[] {
  if (depth > 4 || typeof input !== "object" || input === null) return [];
  const out: string[] = [];
  for (const [key, value] of Object.entries(input)) {
    if (key === "site" && typeof value === "string") out.push(value);
    else if (key === "sites" && Array.isArray(value)) {
      out.push(...value.filter((v): v is string => typeof v === "string"));
    } else if (typeof value === "object") out.push(...sitesNamed(value, depth + 1));
  }
  return out;
}

/**
 * Every procedure: counted with the code its caller sees, errors mapped, then the caller checked against the
 * matrix for its path.
 */
export const procedure = t.procedure
  .use(async ({ ctx, path, next }) => {
    const result = await next();
    ctx.observe?.(path, result.ok ? "ok" : result.error.code);
    return result;
  })
  .use(async ({ next }) => {
    const result = await next();
    if (!result.ok) throw toTrpcError(result.error);
    return result;
  })
  .use(async ({ ctx, path, getRawInput, next }) => {
    if (ctx.refused === "csrf") {
      throw new TRPCError({
        code: "FORBIDDEN",
        message: "a console session must send its CSRF token in X-CSRF-Token",
      });
    }
    if (!ctx.principal) {
      throw new TRPCError({
        code: "UNAUTHORIZED",
        message: ctx.refused === "bad-token"
          ? "the API token sent is not valid here (unknown, revoked or expired); send a valid one, or log in"
          : "log in, or send an API token as Authorization: Bearer <token>",
      });
    }
    // The role first: a principal that may not call the procedure at all gets no body read.
    authorize(ctx.principal, PROCEDURES[path]);
    checkReach(ctx.principal, sitesNamed(await getRawInput()));
    return next({ ctx: { principal: ctx.principal } });
  });

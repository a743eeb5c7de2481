/**
 * The one error mapper of the tRPC API: whatever a procedure throws becomes a TRPCError with the
 * code a client can act on and a sentence to show, never a stack trace or raw zod JSON.
 *
 * | thrown                                            | code                  |
 * | ------------------------------------------------- | --------------------- |
 * | input refused by its schema                       | BAD_REQUEST           |
 * | AccessError (role, site scope)                    | FORBIDDEN             |
 * | UnknownSiteError; a site's unknown node or object | NOT_FOUND             |
 * | an unknown transfer (or study of it), token, user | NOT_FOUND             |
 * | SiteNotConnectedError (never enrolled), offline,  | SERVICE_UNAVAILABLE   |
 * | SiteElsewhereError (its hub cannot be reached)    |                       |
 * | the hub's database away (restart, stop, failover) | SERVICE_UNAVAILABLE   |
 * | a site's timeout / other failure                  | GATEWAY_TIMEOUT / BAD_GATEWAY |
 * | StreamResetError (the site broke a request off)   | BAD_GATEWAY           |
 * | TransferError, BatchFileError, UserError, ...     | BAD_REQUEST           |
 * | IdempotencyConflictError (a key reused)           | CONFLICT              |
 * | UserExistsError, SiteExistsError (name taken)     | CONFLICT              |
 * | BatchStartedError (the same batch still running)  | CONFLICT              |
 * | anything else (logged whole)                      | INTERNAL_SERVER_ERROR "internal error" |
 */
import { ErasureUnsupportedError } from "../sites/erasure.ts";
import { TRPCError } from "@trpc/server";
import { ZodError, type ZodInvalidTypeIssue, type ZodIssue } from "zod";
import { SessionClosedError, StreamResetError } from "@conduit/shared/tunnel";
import { AccessError } from "../auth/permissions.ts";
import { TokenError, UnknownTokenError } from "../auth/tokens.ts";
import { UnknownUserError, UserError, UserExistsError } from "../auth/users.ts";
import { SiteError, SiteExistsError } from "../sites/registry.ts";
import {
  SiteNotConnectedError,
  SiteRequestError,
  SiteUnavailableError,
  UnknownSiteError,
} from "../tunnel/errors.ts";
import { BackendUnavailableError } from "../dicomweb/services.ts";
import { SiteElsewhereError } from "../cluster/peer_wire.ts";
import { TransferError, TransferNotFoundError } from "../transfers/service.ts";
import { IdempotencyConflictError } from "../transfers/idempotency.ts";
import { databaseAwayMessage, isDatabaseAway } from "../db/errors.ts";
import { BatchFileError } from "../transfers/rows.ts";
import { BatchStartedError } from "../transfers/batch.ts";

/** A NOT_FOUND for something named by id (a transfer, a batch). */
export class NotFoundError extends Error {
  override name = "NotFoundError";
}

/**
 * The issues of a union's refusal that say what is wrong: those of the branch the input was meant for (the
 * one that took its type: an object for `{...} | [...]`), else one "expected object or array" (zod's own
 * message is only "Invalid input").
 */
function unionIssues(issue: ZodIssue): ZodIssue[] {
  if (issue.code !== "invalid_union") return [issue];
  const depth = issue.path.length;
  const refusedType = (i: ZodIssue) => i.code === "invalid_type" && i.path.length === depth;
  const meant = issue.unionErrors.find((e) => e.issues.length && !e.issues.some(refusedType));
  if (meant) return meant.issues.flatMap(unionIssues);
  const types = issue.unionErrors.flatMap((e) => e.issues.filter(refusedType)) as ZodInvalidTypeIssue[];
  if (types.length !== issue.unionErrors.length) return [issue];
  const expected = [...new Set(types.map((t) => t.expected))].join(" or ");
  return [{ ...issue, message: `expected ${expected}, received ${types[0].received}` }];
}

/** "site: required; studyInstanceUid: not a DICOM UID" from a zod error. */
function zodSentence(err: ZodError): string {
  const issues = err.issues.flatMap(unionIssues);
  const parts = issues.slice(0, 5).map((i) => {
    const where = i.path.length ? i.path.join(".") : "input";
    const what = i.code === "invalid_type" && i.received === "undefined" ? "required" : i.message;
    return `${where}: ${what}`;
  });
  if (issues.length > 5) parts.push(`and ${issues.length - 5} more`);
  return `the input was refused: ${parts.join("; ")}`;
}

function codeOf(err: unknown): TRPCError["code"] | undefined {
  if (err instanceof AccessError) return "FORBIDDEN";
  if (
    err instanceof UnknownSiteError || err instanceof NotFoundError || err instanceof TransferNotFoundError ||
    err instanceof UnknownTokenError || err instanceof UnknownUserError
  ) {
    return "NOT_FOUND";
  }
  if (
    err instanceof SiteNotConnectedError || err instanceof SiteUnavailableError ||
    err instanceof BackendUnavailableError || err instanceof SessionClosedError ||
    err instanceof SiteElsewhereError
  ) {
    return "SERVICE_UNAVAILABLE";
  }
  if (err instanceof ErasureUnsupportedError) return "PRECONDITION_FAILED";
  if (
    err instanceof IdempotencyConflictError || err instanceof UserExistsError ||
    err instanceof SiteExistsError || err instanceof BatchStartedError
  ) {
    return "CONFLICT";
  }
  if (err instanceof StreamResetError) return "BAD_GATEWAY";
  if (err instanceof SiteRequestError) {
    if (err.code === "unknown-node" || err.code === "not-found") return "NOT_FOUND";
    if (err.code === "timeout") return "GATEWAY_TIMEOUT";
    if (err.code === "unavailable") return "SERVICE_UNAVAILABLE";
    if (err.code === "bad-request" || err.code === "unsupported") return "BAD_REQUEST";
    return "BAD_GATEWAY";
  }
  if (
    err instanceof TransferError || err instanceof BatchFileError || err instanceof UserError ||
    err instanceof TokenError || err instanceof SiteError
  ) {
    return "BAD_REQUEST";
  }
  return undefined;
}

/** The TRPCError a procedure's failure becomes. */
export function toTrpcError(err: unknown): TRPCError {
  const cause = err instanceof TRPCError && err.cause ? err.cause : err;
  if (cause instanceof ZodError) {
    return new TRPCError({ code: "BAD_REQUEST", message: zodSentence(cause), cause });
  }
  if (isDatabaseAway(cause)) {
    // Never drizzle's message: it is the query and its parameters.
    return new TRPCError({
      code: "SERVICE_UNAVAILABLE",
      message: databaseAwayMessage(cause),
      cause: cause as Error,
    });
  }
  const code = codeOf(cause);
  if (code) {
    const message = cause instanceof StreamResetError
      ? "the site broke the request off before answering: try again"
      : (cause instanceof SiteRequestError ? "the site answered: " : "") + (cause as Error).message;
    return new TRPCError({ code, message, cause: cause as Error });
  }
  // tRPC wraps what a procedure throws in a TRPCError with the thrown error's own message ("Failed query:
  // select ... params: ..." from drizzle, a driver's words): that message stays in the log, not the answer.
  const wrapped = err instanceof TRPCError && err.code === "INTERNAL_SERVER_ERROR" && err.cause &&
    err.message === err.cause.message;
  if (err instanceof TRPCError && !wrapped) return err;
  return new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "internal error", cause });
}

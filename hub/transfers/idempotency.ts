/**
 * Idempotency keys of `transfers.create`: a script that retries a create after a timeout (or sends it twice
 * at once) names the request with a key, and every create with the same key by the same caller answers the
 * job the first one made, instead of starting another. The same key with another request is refused
 * (IdempotencyConflictError), since its caller meant something else. Keys are per caller (the token, by
 * its id, or the user that creates), kept with the job for good.
 */
import { eq } from "drizzle-orm";
import type { HubDb } from "../db/db.ts";
import { transfers } from "../db/schema.ts";

/** A key already names a job made from another request. */
export class IdempotencyConflictError extends Error {
  override name = "IdempotencyConflictError";
}

/** What a keyed create stores with its job: the key (per caller) and its request, each as a SHA-256. */
export interface Keyed {
  idempotencyKey: string;
  requestHash: string;
}

/** The stored form of `key` given by `createdBy` with `request` (any JSON value). */
export async function keyed(createdBy: string, key: string, request: unknown): Promise<Keyed> {
  return {
    idempotencyKey: await sha256(JSON.stringify([createdBy, key])),
    requestHash: await sha256(canonical(withoutDefaults(request))),
  };
}

/**
 * A create's request with the fields given as their defaults left out (`priority: 0`, `deid.options: []`,
 * `deid.allowBurnedIn: false`): a retry that spells a default out asks for the same job as the create that
 * left it out.
 */
export function withoutDefaults(request: unknown): unknown {
  if (!request || typeof request !== "object" || Array.isArray(request)) return request;
  const { priority, deid, ...rest } = request as Record<string, unknown>;
  const out: Record<string, unknown> = { ...rest };
  if (priority !== undefined && priority !== 0) out.priority = priority;
  if (deid && typeof deid === "object" && !Array.isArray(deid)) {
    const { options, allowBurnedIn, ...d } = deid as Record<string, unknown>;
    out.deid = {
      ...d,
      ...(options === undefined || (Array.isArray(options) && !options.length) ? {} : { options }),
      ...(allowBurnedIn === undefined || allowBurnedIn === false ? {} : { allowBurnedIn }),
    };
  } else if (deid !== undefined) out.deid = deid;
  return out;
}

/**
 * The job an earlier create with the same key made, or undefined when there is none; throws
 * IdempotencyConflictError when that create asked for something else.
 */
export async function earlierJob(db: HubDb, k: Keyed): Promise<{ id: string } | undefined> {
  const [row] = await db.select({ id: transfers.id, requestHash: transfers.requestHash }).from(transfers)
    .where(eq(transfers.idempotencyKey, k.idempotencyKey)).limit(1);
  if (!row) return undefined;
  if (row.requestHash !== k.requestHash) {
    throw new IdempotencyConflictError(
      `the idempotency key was given before with another request (transfer ${row.id}): use a new key for a new transfer`,
    );
  }
  return { id: row.id };
}

/** JSON with every object's keys sorted: the same request gives the same text, however its fields were ordered. */
export function canonical(value: unknown): string {
  return JSON.stringify(
    value,
    (_, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
        : v,
  );
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

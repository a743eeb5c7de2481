/**
 * API tokens: `ctk.<id>.<secret>`, created by `deno task hub admin token create NAME --role ROLE
 * [--sites a,b]`. The id finds the row; only the secret's SHA-256 is stored. A token carries a role
 * and, optionally, the sites it may reach.
 */
import { randomBytes } from "node:crypto";
import { and, desc, eq, isNull } from "drizzle-orm";
import type { HubDb } from "../db/db.ts";
import { apiTokens } from "../db/schema.ts";
import { hashSecret, secretMatches } from "../sites/tokens.ts";
import { changeAudited, entry } from "./audit.ts";
import { atomically } from "../db/atomic.ts";

export const ROLES = ["admin", "operator", "viewer"] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  kind: "token" | "user";
  id: string;
  name: string;
  role: Role;
  /** Sites this principal may reach; undefined: all. */
  sites?: string[];
  /** A console session's id, hashed as stored (the session a password change keeps). */
  session?: string;
}

/** How a principal appears in the audit log and on jobs: `user:alice` or `token:scripts`. */
export function actorOf(p: { kind: string; name: string }): string {
  return `${p.kind}:${p.name}`;
}

export class TokenError extends Error {
  override name = "TokenError";
}

/** No token has the id named (NOT_FOUND on the API). */
export class UnknownTokenError extends TokenError {
  override name = "UnknownTokenError";
}

export class ApiTokens {
  constructor(private readonly db: HubDb) {}

  async create(
    name: string,
    role: string,
    sites?: string[],
    actor = "cli",
  ): Promise<{ id: string; token: string }> {
    if (!name.trim()) throw new TokenError("give the token a name");
    // The name is the audit log's actor (token:NAME) and a column of `admin token list`: one line of text.
    // deno-lint-ignore no-control-regex
    if (/[\x00-\x1f\x7f]/.test(name)) {
      throw new TokenError("name: no control characters (a line break, a tab) in a token's name");
    }
    if (!ROLES.includes(role as Role)) throw new TokenError(`role must be one of ${ROLES.join(", ")}`);
    // An empty list would be stored as no limit: a token for every site, where a script meant none.
    if (sites && !sites.length) {
      throw new TokenError("sites: name at least one site, or leave sites out for a token of every site");
    }
    const id = randomBytes(6).toString("hex");
    const secret = randomBytes(32).toString("base64url");
    await atomically(this.db, (tx) => [
      tx.insert(apiTokens).values({
        id,
        name,
        role,
        secretHash: hashSecret(secret),
        sites: sites?.length ? JSON.stringify(sites) : null,
        createdAt: Date.now(),
      }),
      entry(tx, actor, "token.create", id, { name, role, sites: sites ?? null }),
    ]);
    return { id, token: `ctk.${id}.${secret}` };
  }

  /** Every token, the newest first (ties by id). */
  async list() {
    const rows = await this.db.select().from(apiTokens).orderBy(
      desc(apiTokens.createdAt),
      desc(apiTokens.id),
    );
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      role: r.role,
      sites: r.sites ? JSON.parse(r.sites) as string[] : null,
      createdAt: new Date(r.createdAt).toISOString(),
      revoked: r.revokedAt !== null,
    }));
  }

  /**
   * Revokes a token for good (its next request is 401); the audit entry in the same transaction, written only
   * if this call revoked it: "not revoked yet" is part of the write, not only of the read before it (until
   * 2026-12-07 two revokes at once both read it unrevoked, both succeeded, and the log had two entries).
   */
  async revoke(id: string, actor = "cli"): Promise<void> {
    // Looked up first: an unknown or revoked id must leave no audit entry of a revocation that did not happen.
    const row = await this.db.query.apiTokens.findFirst({ where: eq(apiTokens.id, id) });
    if (!row) throw new UnknownTokenError(`no token ${id}`);
    const revokedAlready = new TokenError(`token ${id} is revoked already`);
    if (row.revokedAt !== null) throw revokedAlready;
    const revoked = await changeAudited(
      this.db,
      (tx) =>
        tx.update(apiTokens).set({ revokedAt: Date.now() }).where(
          and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)),
        ),
      actor,
      "token.revoke",
      id,
      { name: row.name },
    );
    if (!revoked) throw revokedAlready;
  }

  /** The principal a bearer token stands for, or undefined. */
  async authenticate(token: string): Promise<Principal | undefined> {
    const m = /^ctk\.([0-9a-f]{12})\.([A-Za-z0-9_-]{20,})$/.exec(token.trim());
    if (!m) return undefined;
    const row = await this.db.query.apiTokens.findFirst({ where: eq(apiTokens.id, m[1]) });
    if (!row || row.revokedAt !== null || !secretMatches(m[2], row.secretHash)) return undefined;
    return {
      kind: "token",
      id: row.id,
      name: row.name,
      role: row.role as Role,
      sites: row.sites ? JSON.parse(row.sites) : undefined,
    };
  }
}

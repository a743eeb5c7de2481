/**
 * Secrets that let an agent in: a one-time enrollment token (`cte.<site>.<secret>`) and the site
 * credential it is swapped for (`cts.<site>.<secret>`). The site name rides in the clear so the hub
 * can find the row; only SHA-256 hashes of the secrets are stored (they are 256 random bits, so a
 * fast hash is enough), compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export type SecretKind = "cte" | "cts";

export function newSecret(kind: SecretKind, site: string): { token: string; hash: string } {
  const secret = randomBytes(32).toString("base64url");
  return { token: `${kind}.${site}.${secret}`, hash: hashSecret(secret) };
}

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Splits a token into its site and secret, or undefined if it is not of `kind`. */
export function parseToken(kind: SecretKind, token: string): { site: string; secret: string } | undefined {
  const m = /^(cte|cts)\.([A-Za-z0-9][A-Za-z0-9._-]{0,63})\.([A-Za-z0-9_-]{20,})$/.exec(token.trim());
  if (!m || m[1] !== kind) return undefined;
  return { site: m[2], secret: m[3] };
}

export function secretMatches(secret: string, hash: string | null | undefined): boolean {
  if (!hash) return false;
  const a = Buffer.from(hashSecret(secret), "hex");
  const b = Buffer.from(hash, "hex");
  return a.length === b.length && timingSafeEqual(new Uint8Array(a), new Uint8Array(b));
}

/** The hub's tables (drizzle, libsql). Migrations: `deno task db:generate:hub`. */
import { integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";

/**
 * One row per site. Secrets are kept only as SHA-256 hashes: the enrollment token until it is
 * used, then the site credential.
 */
export const sites = sqliteTable("sites", {
  name: text("name").primaryKey(),
  /** pending (never enrolled), offline, online, revoked */
  state: text("state").notNull().default("pending"),
  enrollmentHash: text("enrollment_hash"),
  enrollmentExpiresAt: integer("enrollment_expires_at"),
  credentialHash: text("credential_hash"),
  createdAt: integer("created_at").notNull(),
  enrolledAt: integer("enrolled_at"),
  revokedAt: integer("revoked_at"),
  lastSeenAt: integer("last_seen_at"),
  agentVersion: text("agent_version"),
  remoteAddress: text("remote_address"),
  queueDepth: integer("queue_depth"),
  rttMs: real("rtt_ms"),
});

export type SiteRow = typeof sites.$inferSelect;

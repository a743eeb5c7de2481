/**
 * One hub drives a transfer job at a time: the job's row names its driver and until when
 * (`driver_hub`, `driver_expires_at`). Each pass of the transfer loop claims or renews the jobs it
 * may drive with one conditional update (free, already its own, or run out), which the database
 * serializes, so two hubs never drive one job at once; when the driver dies, its lease runs out and
 * the next pass of another hub takes the job over from the state in the database and the agents'
 * durable queues. The agents' idempotency (by transfer task and SOP Instance UID) covers a request
 * the old driver sent and the new one sends again.
 */
import { and, eq, inArray, isNull, lt, or } from "drizzle-orm";
import type { HubDb } from "../db/db.ts";
import { transfers } from "../db/schema.ts";

export class TransferLeases {
  constructor(
    private readonly db: HubDb,
    readonly hubId: string,
    readonly leaseMs = 10_000,
  ) {}

  /** Of the jobs `ids`, those this hub drives now (each claimed or renewed until now + leaseMs). */
  async drive(ids: string[], now = Date.now()): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const rows = await this.db.update(transfers)
      .set({ driverHub: this.hubId, driverExpiresAt: now + this.leaseMs })
      .where(and(
        inArray(transfers.id, ids),
        or(
          isNull(transfers.driverHub),
          eq(transfers.driverHub, this.hubId),
          lt(transfers.driverExpiresAt, now),
        ),
      ))
      .returning({ id: transfers.id });
    return new Set(rows.map((r) => r.id));
  }

  /** Gives up every job this hub drives (at a clean stop: another hub takes them at once). */
  async releaseAll(): Promise<void> {
    await this.db.update(transfers).set({ driverHub: null, driverExpiresAt: null })
      .where(eq(transfers.driverHub, this.hubId));
  }
}

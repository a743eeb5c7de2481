/**
 * The Forwarder's upkeep on timers: queue rows past their keeping (prune), and the files of de-identified
 * copies that went everywhere (sweep).
 */
import type { Logger } from "@conduit/shared/log";
import type { AgentConfig } from "../config/schema.ts";
import type { Queue } from "../queue/queue.ts";
import type { DeidStage } from "./deid_stage.ts";

/**
 * Done rows past queue.keepDoneDays go (retention of files needs their rows only until then), and dead rows
 * past queue.keepDeadDays when it is set (their files then fall to retention).
 */
export function prune(config: AgentConfig, queue: Queue, log: Logger): void {
  try {
    const n = queue.pruneDone(Date.now() - config.queue.keepDoneDays * 86_400_000);
    if (n) log.info("pruned delivered queue rows", { count: n });
  } catch (err) {
    log.error("pruning the queue failed", { reason: (err as Error).name });
  }
  const keepDeadDays = config.queue.keepDeadDays;
  if (keepDeadDays === undefined) return;
  try {
    const n = queue.discardDead({ deadBefore: Date.now() - keepDeadDays * 86_400_000 }, "age");
    if (n) log.info("discarded dead-letter rows past queue.keepDeadDays", { count: n, keepDeadDays });
  } catch (err) {
    log.error("discarding old dead-letter rows failed", { reason: (err as Error).name });
  }
}

/** Hourly; with queue.keepDeadDays under two hours, half of it (at least every 0.5 s). */
export function prunePeriod(config: AgentConfig): number {
  const dead = config.queue.keepDeadDays;
  return dead === undefined ? 3_600_000 : Math.max(500, Math.min(3_600_000, dead * 43_200_000));
}

export async function sweep(stage: DeidStage | undefined, log: Logger): Promise<void> {
  try {
    await stage?.sweep();
  } catch (err) {
    log.error("removing forwarded de-identified copies failed", { reason: (err as Error).name });
  }
}

/**
 * The site's dead letter: its rows (those of a canceled transfer and those the operator abandoned left out,
 * as the queue's summary and metrics count them apart), replaying and discarding them; the rows waiting for a
 * destination no longer configured, and abandoning them to the dead letter; and its record of conflicts
 * (objects received again with other bytes), which the site page shows beside it, and resolving one.
 */
import { listConflicts } from "../index/conflicts.ts";
import { ConflictResolveError } from "../ingest/resolve.ts";
import { ABANDONED, CANCELED, undelivered } from "../queue/keys.ts";
import { hubRow } from "../queue/rows.ts";
import { type Handlers, ok } from "./reply.ts";

export const deadLetterHandlers: Handlers = {
  async deadLetter(s, request, channel) {
    const rows = s.queue.list({ state: "dead", limit: request.limit ?? 500 }).filter((r) =>
      r.lastError !== CANCELED && r.lastError !== ABANDONED
    ).map(hubRow);
    await ok(channel, { rows });
  },

  async conflicts(s, request, channel) {
    await ok(
      channel,
      listConflicts(s.db, {
        limit: request.limit ?? 100,
        offset: request.offset ?? 0,
        before: request.before,
        unresolved: request.unresolved,
      }),
    );
  },

  async resolveConflict(s, request, channel) {
    if (!s.conflicts) throw new ConflictResolveError("this agent cannot resolve conflicts here", "refused");
    await ok(channel, { conflict: await s.conflicts.resolve(request.id, request.keep) });
  },

  async replay(s, request, channel) {
    const replayed = s.queue.replay({ ids: request.ids });
    s.forwarder.wake();
    await ok(channel, { replayed });
  },

  async discardDead(s, request, channel) {
    await ok(channel, { discarded: s.queue.discardDead({ ids: request.ids }) });
  },

  async stranded(s, _request, channel) {
    const by = new Map<string, { waiting: number; oldestMs: number }>();
    for (const r of s.queue.summary()) {
      if (r.state === "committing" || !undelivered(r.state) || s.forwarder.configured(r.destination)) {
        continue;
      }
      const d = by.get(r.destination) ?? { waiting: 0, oldestMs: 0 };
      by.set(r.destination, { waiting: d.waiting + r.count, oldestMs: Math.max(d.oldestMs, r.oldest) });
    }
    await ok(channel, {
      destinations: [...by].map(([destination, d]) => ({ destination, ...d })).sort((a, b) =>
        a.destination < b.destination ? -1 : 1
      ),
    });
  },

  async abandon(s, request, channel) {
    await ok(channel, { abandoned: s.queue.abandon({ destination: request.destination }) });
  },
};

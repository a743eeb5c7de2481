/**
 * The site's dead letter: its rows (those of a canceled transfer and those the operator abandoned left out,
 * as the queue's summary and metrics count them apart), and replaying them; and its record of conflicts
 * (objects received again with other bytes), which the site page shows beside it, and resolving one.
 */
import { listConflicts } from "../index/conflicts.ts";
import { ConflictResolveError } from "../ingest/resolve.ts";
import { ABANDONED, CANCELED } from "../queue/keys.ts";
import { hubRow } from "../queue/queue.ts";
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
};

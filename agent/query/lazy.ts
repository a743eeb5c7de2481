/**
 * The archive's C-FIND and QIDO handler, loaded on the first query (query/find.ts and what it imports are
 * not needed by an agent that only receives and forwards: issue 16, idle memory).
 */
import type { Database } from "../index/db.ts";
import type { Identifier, QueryHandler, QueryModel } from "../dimse/handlers.ts";
import type { FindOptions } from "./find.ts";
import { loadPart } from "../lazy_part.ts";

export function lazyQueryHandler(db: Database, options: FindOptions): QueryHandler {
  let handler: Promise<QueryHandler> | undefined;
  return {
    async *find(model: QueryModel, identifier: Identifier, signal: AbortSignal): AsyncIterable<Identifier> {
      handler ??= loadPart("query/find").then((m) => new m.IndexQueryHandler(db, options));
      yield* (await handler).find(model, identifier, signal);
    },
  };
}

/**
 * The archive's C-FIND and QIDO handler, loaded on the first query (query/find.ts and what it imports are
 * not needed by an agent that only receives and forwards: issue 16, idle memory).
 */
import type { Database } from "../index/db.ts";
import type { Identifier, QueryHandler, QueryModel } from "../dimse/handlers.ts";
import type { FindOptions } from "./find.ts";
import { loadPart } from "../lazy_part.ts";
import { loadOnce } from "@conduit/shared/load-once";

export function lazyQueryHandler(db: Database, options: FindOptions): QueryHandler {
  // A failed load fails the queries that waited on it; the next query loads again.
  const handler = loadOnce(() => loadPart("query/find").then((m) => new m.IndexQueryHandler(db, options)));
  return {
    async *find(
      model: QueryModel,
      identifier: Identifier,
      signal: AbortSignal,
      page?: { offset?: number },
    ): AsyncIterable<Identifier> {
      yield* (await handler()).find(model, identifier, signal, page);
    },
  };
}

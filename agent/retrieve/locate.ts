/**
 * The C-MOVE/C-GET SCP's backend: which archived files an identifier names, and where AEs live. The index
 * query (./_locate_files.ts, with drizzle) loads with the first retrieve, not with every agent (issue 16).
 */
import type {
  Identifier,
  NodeAddress,
  OutgoingObject,
  QueryModel,
  RetrieveHandler,
} from "../dimse/handlers.ts";
import type { Archive } from "../archive/archive.ts";
import type { Database } from "../index/db.ts";
import { loadPart } from "../lazy_part.ts";

const locateQuery = () => loadPart("retrieve/locate_files");

export class IndexRetrieveHandler implements RetrieveHandler {
  constructor(
    private readonly db: Database,
    private readonly archive: Archive,
    private readonly nodes: () => NodeAddress[],
  ) {}

  async locate(model: QueryModel, identifier: Identifier, _signal: AbortSignal): Promise<OutgoingObject[]> {
    return await (await locateQuery()).locateFiles(this.db, this.archive, model, identifier);
  }

  destination(aet: string): NodeAddress | undefined {
    return this.nodes().find((n) => n.aet === aet);
  }
}

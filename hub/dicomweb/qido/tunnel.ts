/** QIDO-RS answered by a site's agent through the tunnel: a C-FIND at the site (its archive or a node). */
import { toDicomJson } from "@conduit/shared/dicom";
import { FEATURE_QUERY_OFFSET } from "@conduit/shared/tunnel";
import type { Sessions } from "../../tunnel/sessions.ts";
import { SiteRequestError } from "../../tunnel/errors.ts";
import type { QidoQuery, QidoService } from "./service.ts";

/** Keys C-FIND answers carry that a QIDO result does not. */
const NOT_IN_QIDO = new Set(["QueryRetrieveLevel", "RetrieveAETitle"]);

export class TunnelQido implements QidoService {
  constructor(
    readonly site: string,
    readonly node: string | undefined,
    private readonly sessions: Sessions,
  ) {}

  async *search(query: QidoQuery, signal?: AbortSignal) {
    const offset = query.offset ?? 0;
    // An agent that skips matches itself is asked for the page alone; an older one for everything up to its end,
    // the first `offset` of which are skipped here.
    const skipsItself = offset > 0 && (await this.sessions.featuresOf(this.site))?.has(FEATURE_QUERY_OFFSET);
    const limit = query.limit === undefined ? undefined : skipsItself ? query.limit : query.limit + offset;
    let skip = skipsItself ? 0 : offset;
    const request = {
      op: "find" as const,
      level: query.level,
      query: query.keys,
      ...(this.node ? { node: this.node } : {}),
      ...(limit ? { limit } : {}),
      ...(skipsItself ? { offset } : {}),
    };
    for await (const reply of this.sessions.replies(this.site, request, signal)) {
      if (reply.type === "error") throw new SiteRequestError(reply.code, reply.message, reply.status);
      if (reply.type !== "match") continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      const ds: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(reply.dataset)) if (!NOT_IN_QIDO.has(k)) ds[k] = v;
      yield toDicomJson(ds);
    }
  }
}

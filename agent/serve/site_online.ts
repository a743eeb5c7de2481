/**
 * The hub says another site connected (`siteOnline`, FEATURE_SITE_ONLINE): this site's rows for it that
 * failed unanswered while it was away go now, instead of each at the end of its backoff.
 */
import { type Handlers, ok } from "./reply.ts";

export const siteOnlineHandlers: Handlers = {
  async siteOnline(s, request, channel) {
    const due = s.forwarder.siteOnline(request.site);
    if (due > 0) {
      s.log.info("a site connected to the hub: rows for it are due now", { site: request.site, due });
    }
    await ok(channel, { due });
  },
};

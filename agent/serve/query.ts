/**
 * The site's status, its configured nodes, an echo of one, and queries (C-FIND at a node, or in the site's
 * own archive), with the matches streamed back as they arrive.
 */
import type { Identifier } from "../dimse/handlers.ts";
import { undelivered } from "../queue/keys.ts";
import { type Handlers, ok } from "./reply.ts";

export const queryHandlers: Handlers = {
  async status(s, request, channel) {
    const summary = s.queue.summary();
    const queueDepth = summary.filter((r) => undelivered(r.state)).reduce((n, r) => n + r.count, 0);
    // Only to a hub that asks: one from before the field refuses it (FEATURE_COMMITMENT_STATE).
    const committing = request.committing
      ? { committing: summary.filter((r) => r.state === "committing").reduce((n, r) => n + r.count, 0) }
      : {};
    // The same for the rows a window holds (FEATURE_QUEUE_HELD).
    const held = request.held ? { held: summary.reduce((n, r) => n + (r.held ?? 0), 0) } : {};
    await channel.send({ type: "status", queueDepth, agentVersion: s.agentVersion, ...committing, ...held });
  },

  async echo(s, request, channel) {
    const { status, ms } = await s.nodes.echo(request.node);
    await ok(channel, { status, ms });
  },

  async find(s, request, channel, signal) {
    const identifier: Identifier = { QueryRetrieveLevel: request.level };
    for (const [k, v] of Object.entries(request.query)) identifier[k] = v;
    const model = request.level === "PATIENT" ? "patient" : "study";
    // The archive skips `offset` in its index query; a node's C-FIND has no offset, so its first matches are
    // skipped here (they still never cross the tunnel).
    const offset = request.offset ?? 0;
    const matches = request.node
      ? s.nodes.find(request.node, model, identifier, signal)
      : s.archive.find(model, identifier, signal, { offset });
    let skip = request.node ? offset : 0;
    let n = 0;
    for await (const match of matches) {
      if (signal.aborted) throw signal.reason;
      if (skip > 0) {
        skip--;
        continue;
      }
      await channel.send({ type: "match", dataset: match });
      n++;
      if (request.limit && n >= request.limit) break;
    }
    await channel.send({ type: "end", completed: n });
  },

  async nodes(s, _request, channel) {
    await ok(channel, {
      nodes: s.nodes.list().map(({ name, node }) => ({
        name,
        aet: node.aet,
        host: node.host,
        port: node.port,
        retrieve: node.retrieve,
      })),
    });
  },
};

/**
 * What the agent does for the hub, one request per stream: report its status, echo a node, query a
 * node or its own archive with the matches streamed back as they arrive, list its nodes and dead
 * letter; the requests that move objects are in serve_objects.ts, rendered images in serve_render.ts.
 * Each request has a deadline and stops when the hub resets its stream. Failures go back as an `error`
 * reply.
 */
import type { Channel, Reply, Request } from "@conduit/shared/tunnel/mod.ts";
import type { Identifier } from "../dimse/handlers.ts";
import { DimseStatusError } from "../dimse/handlers.ts";
import { UnknownNodeError } from "../nodes/operations.ts";
import { BulkDataError } from "./metadata.ts";
import { FrameNotFoundError, RenderError } from "../render/mod.ts";
import { FrameError } from "../part10/frames.ts";
import { renderOf } from "./serve_render.ts";
import type { TunnelServices } from "./services.ts";
import { CANCELED, transferRoute } from "../queue/keys.ts";
import {
  bulkDataOf,
  framesOf,
  metadataOf,
  retrieveObjects,
  SendRefusedError,
  sendStudy,
  storeObject,
} from "./serve_objects.ts";

export type { TunnelServices };

const DEFAULT_DEADLINE_MS = 5 * 60 * 1000;

export function send(channel: Channel, reply: Reply): Promise<void> {
  return channel.send(reply);
}

export async function serveRequest(
  services: TunnelServices,
  request: Request,
  channel: Channel,
): Promise<void> {
  const signal = AbortSignal.any([
    channel.stream.signal,
    AbortSignal.timeout(
      "deadlineMs" in request && request.deadlineMs ? request.deadlineMs : DEFAULT_DEADLINE_MS,
    ),
  ]);
  try {
    await dispatch(services, request, channel, signal);
  } catch (err) {
    if (channel.stream.signal.aborted) return; // the hub cancelled; nobody is listening
    const e = err as Error;
    const code = signal.aborted
      ? "timeout"
      : e instanceof UnknownNodeError
      ? "unknown-node"
      : e instanceof DimseStatusError
      ? "dimse"
      : e instanceof BulkDataError || e instanceof FrameError || e instanceof FrameNotFoundError
      ? "not-found"
      : e instanceof SendRefusedError
      ? "bad-request"
      : e instanceof RenderError
      ? "not-renderable"
      : "failed";
    services.log.warn("tunnel request failed", { op: request.op, code, reason: e.message });
    await send(channel, {
      type: "error",
      code,
      message: e.message,
      ...(e instanceof DimseStatusError ? { status: e.status } : {}),
    }).catch(() => {});
  }
  await channel.end().catch(() => {});
}

async function dispatch(s: TunnelServices, request: Request, channel: Channel, signal: AbortSignal) {
  switch (request.op) {
    case "status": {
      const queueDepth = s.queue.summary()
        .filter((r) => r.state !== "done" && r.state !== "dead")
        .reduce((n, r) => n + r.count, 0);
      return await send(channel, { type: "status", queueDepth, agentVersion: s.agentVersion });
    }
    case "echo": {
      const { status, ms } = await s.nodes.echo(request.node);
      return await send(channel, { type: "ok", detail: { status, ms } });
    }
    case "find": {
      const identifier: Identifier = { QueryRetrieveLevel: request.level };
      for (const [k, v] of Object.entries(request.query)) identifier[k] = v;
      const model = request.level === "PATIENT" ? "patient" : "study";
      const matches = request.node
        ? s.nodes.find(request.node, model, identifier, signal)
        : s.archive.find(model, identifier, signal);
      let n = 0;
      for await (const match of matches) {
        if (signal.aborted) throw signal.reason;
        await send(channel, { type: "match", dataset: match });
        n++;
        if (request.limit && n >= request.limit) break;
      }
      return await send(channel, { type: "end", completed: n });
    }
    case "store":
      return await storeObject(s, request, channel);
    case "retrieve":
      return await retrieveObjects(s, request, channel, signal);
    case "nodes":
      return await send(channel, {
        type: "ok",
        detail: {
          nodes: s.nodes.list().map(({ name, node }) => ({
            name,
            aet: node.aet,
            host: node.host,
            port: node.port,
            retrieve: node.retrieve,
          })),
        },
      });
    case "deadLetter": {
      const rows = s.queue.list({ state: "dead", limit: request.limit ?? 500 }).filter((r) =>
        r.lastError !== CANCELED
      );
      return await send(channel, { type: "ok", detail: { rows } });
    }
    case "replay": {
      const replayed = s.queue.replay({ ids: request.ids });
      s.forwarder.wake();
      return await send(channel, { type: "ok", detail: { replayed } });
    }
    case "send":
      return await sendStudy(s, request, channel, signal);
    case "progress": {
      const route = transferRoute(request.transfer);
      const identifiers = s.deid.copies.identifiers(route);
      return await send(channel, {
        type: "ok",
        detail: { ...s.queue.routeProgress(route), ...(identifiers ? { identifiers } : {}) },
      });
    }
    case "objects":
      return await send(channel, {
        type: "ok",
        detail: { objects: s.queue.routeRows(transferRoute(request.transfer), request.limit) },
      });
    case "cancel":
      return await send(channel, {
        type: "ok",
        detail: { canceled: s.queue.cancelRoute(transferRoute(request.transfer)) },
      });
    case "hold":
      return await send(channel, {
        type: "ok",
        detail: { held: s.queue.holdRoute(transferRoute(request.transfer), request.until) },
      });
    case "metadata":
      return await metadataOf(s, request, channel, signal);
    case "bulkdata":
      return await bulkDataOf(s, request, channel);
    case "frames":
      return await framesOf(s, request, channel);
    case "render":
      return await renderOf(s, request, channel, signal);
    default:
      return await send(channel, {
        type: "error",
        code: "unsupported",
        message: `this agent does not do ${request.op} over the tunnel yet`,
      });
  }
}

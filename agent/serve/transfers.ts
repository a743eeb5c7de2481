/**
 * A transfer at this site: at its source, the hand-over of a study to the queue (send), its progress, its
 * objects, cancel and hold (time windows); the rows are the queue's, under the transfer's route.
 */
import { optionsProblem } from "@conduit/shared/deid";
import { NO_KEY } from "../forward/stage_settings.ts";
import { UnknownNodeError } from "../nodes/operations.ts";
import { remoteDestination, TRANSFER_STAGE, transferRoute } from "../queue/keys.ts";
import { type Handlers, ok, type Replies, type RequestOf } from "./reply.ts";
import type { SiteServices } from "./services.ts";
import { instancesFor } from "./wado.ts";

/** A send the source refuses as asked (no key, bad options): the hub fails the task with the reason. */
export class SendRefusedError extends Error {
  override name = "SendRefusedError";
}

/**
 * A transfer's study at the source: fetched from the node first when one is named (a retrieve that
 * did not bring every object the node listed is reported, never hidden), then queued for the destination
 * site under the transfer's route; with `deid`, queued for the de-identification stage instead, whose
 * copies (made with this site's key) are what is queued for the destination, so nothing identified enters
 * the tunnel.
 */
async function sendStudy(
  s: SiteServices,
  request: RequestOf<"send">,
  channel: Replies<"send">,
  signal: AbortSignal,
) {
  if (request.deid) {
    if (!s.deid.hasKey) throw new SendRefusedError(NO_KEY);
    const problem = optionsProblem(request.deid.options ?? []);
    if (problem) throw new SendRefusedError(problem);
  }
  const { files, report } = await instancesFor(s, request, signal);
  const destination = remoteDestination(request.to.site, request.to.node);
  const route = transferRoute(request.transfer);
  const sops = files.map((f) => f.sopInstanceUid);
  let queued: number;
  if (request.deid) {
    s.deid.copies.saveTransfer(route, {
      options: request.deid.options ?? [],
      allowBurnedIn: request.deid.allowBurnedIn ?? false,
      ...(request.deid.pseudonyms ? { pseudonyms: request.deid.pseudonyms } : {}),
      destinations: [destination],
    });
    queued = s.queue.enqueueRoute(sops, route, TRANSFER_STAGE) + s.deid.copies.requeueCopies(route);
    s.forwarder.ensure(TRANSFER_STAGE);
    s.forwarder.wake(TRANSFER_STAGE);
  } else {
    queued = s.queue.enqueueRoute(sops, route, destination);
  }
  s.forwarder.ensure(destination);
  s.forwarder.wake(destination);
  await channel.send({
    type: "ok",
    detail: {
      objects: files.length,
      queued,
      missing: report?.missing.length ?? 0,
      ...(report
        ? {
          retrieve: {
            method: report.method,
            status: report.status,
            expected: report.expected,
            arrived: report.arrived,
          },
        }
        : {}),
    },
  });
}

export const transferHandlers: Handlers = {
  send: sendStudy,

  async progress(s, request, channel) {
    const route = transferRoute(request.transfer);
    const identifiers = s.deid.copies.identifiers(route);
    await ok(channel, { ...s.queue.routeProgress(route), ...(identifiers ? { identifiers } : {}) });
  },

  async objects(s, request, channel) {
    await ok(channel, { objects: s.queue.routeRows(transferRoute(request.transfer), request.limit) });
  },

  async cancel(s, request, channel) {
    await ok(channel, { canceled: s.queue.cancelRoute(transferRoute(request.transfer)) });
  },

  /** At the destination: how far the objects a transfer delivered here got on to the node it names. */
  async delivery(s, request, channel) {
    if (!s.nodeNames.has(request.node)) {
      throw new UnknownNodeError(`no node named ${JSON.stringify(request.node)} here`);
    }
    await ok(channel, s.queue.delivery(request.node, request.sopInstanceUids, request.replayDead ?? false));
  },

  async hold(s, request, channel) {
    await ok(channel, { held: s.queue.holdRoute(transferRoute(request.transfer), request.until) });
  },
};

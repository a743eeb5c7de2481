/**
 * A transfer at this site: at its source, the hand-over of a study to the queue (send), its progress, its
 * objects, cancel and hold (time windows); the rows are the queue's, under the transfer's route.
 */
import { optionsProblem, trialProblem } from "@conduit/shared/deid";
import { parseProfile, ProfileError } from "@conduit/shared/deid/profile-file";
import { NO_KEY, TRANSFER_PROFILE } from "../forward/stage_settings.ts";
import { type RetrieveReport, UnknownNodeError } from "../nodes/operations.ts";
import { remoteDestination, TRANSFER_STAGE, transferRoute } from "../queue/keys.ts";
import { hubRow } from "../queue/rows.ts";
import { type Handlers, ok, type Replies, type RequestOf } from "./reply.ts";
import type { SiteServices } from "./services.ts";
import { instancesFor } from "./wado.ts";

/** A send the source refuses as asked (no key, bad options): the hub fails the task with the reason. */
export class SendRefusedError extends Error {
  override name = "SendRefusedError";
}

/**
 * The instances a send hands over: the whole study, or only the series it names (each retrieved from the
 * node at SERIES level, their reports added up). A named series of which no object is found is refused:
 * the operator asked for it, and sending the others alone would hide that.
 */
async function instancesToSend(s: SiteServices, request: RequestOf<"send">, signal: AbortSignal) {
  if (!request.seriesInstanceUids) return await instancesFor(s, request, signal);
  const files: Awaited<ReturnType<typeof instancesFor>>["files"] = [];
  let report: RetrieveReport | undefined;
  const named = [...new Set(request.seriesInstanceUids)];
  // Positions in the order asked, not UIDs: the message is logged here as well as answered.
  const absent: number[] = [];
  for (const [i, seriesInstanceUid] of named.entries()) {
    const one = await instancesFor(s, { ...request, seriesInstanceUid }, signal);
    if (!one.files.length) absent.push(i + 1);
    files.push(...one.files);
    if (one.report) report = report ? addReports(report, one.report) : one.report;
  }
  if (absent.length) {
    throw new SendRefusedError(
      `no object of series ${absent.join(", ")} of the ${named.length} named (in the order asked) ${
        request.node ? `at this site or its node ${request.node}` : "at this site"
      }; nothing was sent`,
    );
  }
  return { files, report };
}

/** Two retrieve reports as one: counts added, the first status that is not a success kept. */
function addReports(a: RetrieveReport, b: RetrieveReport): RetrieveReport {
  return {
    method: a.method,
    status: a.ok ? b.status : a.status,
    expected: a.expected + b.expected,
    arrived: a.arrived + b.arrived,
    missing: [...a.missing, ...b.missing],
    completed: a.completed + b.completed,
    failed: a.failed + b.failed,
    warning: a.warning + b.warning,
    ok: a.ok && b.ok,
  };
}

/**
 * A transfer's study (or the series it names) at the source: fetched from the node first when one is
 * named (a retrieve that did not bring every object the node listed is reported, never hidden), then
 * queued for the destination site under the transfer's route; with `deid`, queued for the
 * de-identification stage instead, whose copies (made with this site's key) are what is queued for the
 * destination, so nothing identified enters the tunnel.
 */
async function sendStudy(
  s: SiteServices,
  request: RequestOf<"send">,
  channel: Replies<"send">,
  signal: AbortSignal,
) {
  if (request.deid) {
    if (!s.deid.hasKey) throw new SendRefusedError(NO_KEY);
    let customOptions: string[] = [];
    if (request.deid.custom) {
      // Checked by the hub already, with the same parser; checked again here, where it is applied.
      try {
        customOptions = parseProfile(request.deid.custom, TRANSFER_PROFILE).options;
      } catch (err) {
        if (err instanceof ProfileError) throw new SendRefusedError(`custom profile: ${err.message}`);
        throw err;
      }
    }
    const problem = optionsProblem([...customOptions, ...(request.deid.options ?? [])]) ??
      (request.deid.clinicalTrial ? trialProblem(request.deid.clinicalTrial) : undefined);
    if (problem) throw new SendRefusedError(problem);
  }
  const { files, report } = await instancesToSend(s, request, signal);
  const destination = remoteDestination(request.to.site, request.to.node);
  const route = transferRoute(request.transfer);
  const sops = files.map((f) => f.sopInstanceUid);
  let queued: number;
  if (request.deid) {
    s.deid.copies.saveTransfer(route, {
      options: request.deid.options ?? [],
      allowBurnedIn: request.deid.allowBurnedIn ?? false,
      ...(request.deid.pseudonyms ? { pseudonyms: request.deid.pseudonyms } : {}),
      ...(request.deid.custom ? { custom: request.deid.custom } : {}),
      ...(request.deid.clinicalTrial ? { clinicalTrial: request.deid.clinicalTrial } : {}),
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
    await ok(channel, {
      objects: s.queue.routeRows(transferRoute(request.transfer), request.limit, request.after)
        .map((r) => request.committing ? r : hubRow(r)),
    });
  },

  async cancel(s, request, channel) {
    await ok(channel, { canceled: s.queue.cancelRoute(transferRoute(request.transfer)) });
  },

  /** At the destination: how far the objects a transfer delivered here got on to the node it names. */
  async delivery(s, request, channel) {
    if (!s.nodeNames.has(request.node)) {
      throw new UnknownNodeError(`no node named ${JSON.stringify(request.node)} here`);
    }
    await ok(
      channel,
      s.queue.delivery(
        request.node,
        request.sopInstanceUids,
        request.replayDead ?? false,
        Date.now(),
        request.committing ?? false,
        request.listNotStored ?? false,
      ),
    );
  },

  async hold(s, request, channel) {
    await ok(channel, { held: s.queue.holdRoute(transferRoute(request.transfer), request.until) });
  },
};

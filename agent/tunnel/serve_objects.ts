/**
 * The tunnel requests that move objects: store (receive, check, commit, queue or C-STORE), retrieve,
 * metadata, bulk data and frames of archived instances, and a transfer's hand-over to the queue (send).
 */
import { type Channel, ObjectHeader, type Request, sendRanges } from "@conduit/shared/tunnel/mod.ts";
import { hashUid } from "@conduit/shared/log.ts";
import { sql } from "drizzle-orm";
import type { StoreContext } from "../dimse/handlers.ts";
import { archivedFiles } from "../index/files.ts";
import type { RetrieveReport } from "../nodes/operations.ts";
import { receiveObject, sendObjectAs } from "./objects.ts";
import { BulkDataError, bulkValue, instanceMetadata } from "./metadata.ts";
import { frameLayout } from "../part10/frames.ts";
import { type ByteSource, memorySource } from "../part10/source.ts";
import { withObject } from "../archive/archive.ts";
import { canTranscode, TranscodeError, transcodeObject } from "../transcode/mod.ts";
import { send } from "./operations.ts";
import { optionsProblem } from "@conduit/shared/deid/options.ts";
import {
  remoteDestination,
  TRANSFER_STAGE,
  transferRoute,
  tunnelCaller,
  tunnelRoute,
} from "../queue/keys.ts";
import { NO_KEY } from "../forward/stage_settings.ts";
import type { TunnelServices } from "./services.ts";

/** Receives one object, checks it, commits it (and queues it for the node named), then acknowledges. */
export async function storeObject(
  s: TunnelServices,
  request: Extract<Request, { op: "store" }>,
  channel: Channel,
) {
  const header = await channel.expect(ObjectHeader);
  const nack = (message: string) =>
    send(channel, { type: "nack", sopInstanceUid: header.sopInstanceUid, message });
  if (request.node && !s.nodeNames.has(request.node)) {
    channel.stream.reset("unknown node");
    return;
  }
  const callingAet = tunnelCaller(request.from);
  const ctx: StoreContext = {
    association: { callingAet, calledAet: s.aet, remoteAddress: "tunnel" },
    sopClassUid: "",
    sopInstanceUid: header.sopInstanceUid,
    transferSyntax: "",
  };
  let sink;
  try {
    sink = s.ingest.openObject({
      sopClassUid: header.sopClassUid,
      sopInstanceUid: header.sopInstanceUid,
      transferSyntax: header.transferSyntax,
    });
  } catch (err) {
    return await nack((err as Error).message);
  }
  const received = await receiveObject(channel, header, sink);
  ctx.sopClassUid = received.meta.sopClassUid;
  ctx.transferSyntax = received.meta.transferSyntax;
  if (received.meta.sopInstanceUid !== header.sopInstanceUid) {
    sink.discard();
    return await nack("the object's SOP Instance UID is not the one announced");
  }
  const now = request.deliver === "now" && request.node;
  try {
    const extra = request.node && !now ? [{ route: tunnelRoute(callingAet), destination: request.node }] : [];
    const outcome = await s.ingest.commitReceived(received, ctx, extra);
    if (outcome.status !== 0) return await nack(`not stored: status 0x${outcome.status.toString(16)}`);
  } catch (err) {
    sink.discard();
    return await nack(`not stored: ${(err as Error).message}`);
  }
  if (now) {
    const report = await s.nodes.storeTo(request.node!, { sopInstanceUids: [header.sopInstanceUid] });
    const failure = report.failed[0];
    if (failure || report.sent !== 1) {
      const status = failure?.status;
      return await send(channel, {
        type: "nack",
        sopInstanceUid: header.sopInstanceUid,
        message: `node ${request.node} refused the object${
          status === undefined ? "" : ` (0x${status.toString(16)})`
        }`,
        ...(status === undefined ? {} : { status }),
      });
    }
  }
  s.log.debug("object stored from the tunnel", { sop: hashUid(header.sopInstanceUid), from: callingAet });
  await send(channel, { type: "ack", sopInstanceUid: header.sopInstanceUid });
}

/**
 * Retrieves from a node into the archive (C-GET or C-MOVE, as the node is configured, with what
 * arrived checked against what the node listed), or takes what the archive holds when no node is
 * named, then streams the objects back one by one, skipping those the hub already has.
 */
export async function retrieveObjects(
  s: TunnelServices,
  request: Extract<Request, { op: "retrieve" }>,
  channel: Channel,
  signal: AbortSignal,
) {
  const { files, report } = await instancesFor(s, request, signal);
  const skip = new Set(request.skip ?? []);
  let completed = 0;
  for (const file of files) {
    if (skip.has(file.sopInstanceUid)) continue;
    if (signal.aborted) throw signal.reason;
    await sendObjectAs(channel, s.files, file, request.transferSyntax, s.log);
    completed++;
  }
  await send(channel, {
    type: "end",
    completed,
    failed: report?.missing.length ?? 0,
    warning: report?.warning ?? 0,
  });
}

/**
 * The archived instances a request names, after a retrieve from the node when one is named (C-GET or
 * C-MOVE, with what arrived checked against what the node listed: the report says what is missing).
 */
async function instancesFor(
  s: TunnelServices,
  request: { node?: string; studyInstanceUid: string; seriesInstanceUid?: string; sopInstanceUid?: string },
  signal: AbortSignal,
): Promise<{ files: Awaited<ReturnType<typeof archivedFiles>>; report?: RetrieveReport }> {
  let report: RetrieveReport | undefined;
  if (request.node) {
    report = await s.nodes.retrieve(request.node, {
      level: request.sopInstanceUid ? "IMAGE" : request.seriesInstanceUid ? "SERIES" : "STUDY",
      studyInstanceUid: request.studyInstanceUid,
      seriesInstanceUid: request.seriesInstanceUid,
      sopInstanceUid: request.sopInstanceUid,
    }, signal);
  }
  const conditions = [sql`i.study_instance_uid = ${request.studyInstanceUid}`];
  if (request.seriesInstanceUid) conditions.push(sql`i.series_instance_uid = ${request.seriesInstanceUid}`);
  if (request.sopInstanceUid) conditions.push(sql`i.sop_instance_uid = ${request.sopInstanceUid}`);
  return { files: await archivedFiles(s.db, s.files, sql.join(conditions, sql` AND `)), report };
}

export async function metadataOf(
  s: TunnelServices,
  request: Extract<Request, { op: "metadata" }>,
  channel: Channel,
  signal: AbortSignal,
) {
  let n = 0;
  for (const file of (await instancesFor(s, request, signal)).files) {
    if (signal.aborted) throw signal.reason;
    await send(channel, {
      type: "metadata",
      dataset: await withObject(s.files, file.key, instanceMetadata),
    });
    n++;
  }
  await send(channel, { type: "end", completed: n });
}

async function archivedFile(s: TunnelServices, sopInstanceUid: string) {
  const [file] = await archivedFiles(s.db, s.files, sql`i.sop_instance_uid = ${sopInstanceUid}`);
  if (!file) throw new BulkDataError("no such instance");
  return file;
}

export async function bulkDataOf(
  s: TunnelServices,
  request: Extract<Request, { op: "bulkdata" }>,
  channel: Channel,
) {
  const file = await archivedFile(s, request.sopInstanceUid);
  await withObject(s.files, file.key, async (source) => {
    const { offset, length } = await bulkValue(source, request.path);
    await send(channel, { type: "bulk", size: length });
    await sendRanges(channel, source, [{ offset, length }]);
  });
  await send(channel, { type: "end", completed: 1 });
}

export async function framesOf(
  s: TunnelServices,
  request: Extract<Request, { op: "frames" }>,
  channel: Channel,
) {
  const file = await archivedFile(s, request.sopInstanceUid);
  await withObject(s.files, file.key, async (stored) => {
    const transcoded = await transcodedCopy(stored, file.transferSyntax, request.transferSyntaxes);
    const source = transcoded ? memorySource(transcoded) : stored;
    const layout = await frameLayout(source, request.frames);
    await send(channel, {
      type: "frames",
      transferSyntax: layout.transferSyntax,
      encapsulated: layout.encapsulated,
    });
    for (const frame of layout.frames) {
      await send(channel, { type: "bulk", size: frame.size });
      await sendRanges(channel, source, frame.pieces);
    }
    await send(channel, { type: "end", completed: layout.frames.length });
  });
}

/**
 * The object in `stored` transcoded, in memory, to the first of `syntaxes` it can be transcoded to, when
 * its stored syntax is not among them; undefined to serve it as stored (the hub then answers 406 if the
 * client cannot take that).
 */
async function transcodedCopy(
  stored: ByteSource,
  syntax: string,
  syntaxes?: string[],
): Promise<Uint8Array | undefined> {
  if (!syntaxes || syntaxes.includes(syntax)) return undefined;
  for (const to of syntaxes.filter((ts) => canTranscode(syntax, ts))) {
    try {
      return await transcodeObject(stored, syntax, to);
    } catch (err) {
      if (!(err instanceof TranscodeError)) throw err;
    }
  }
  return undefined;
}

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
export async function sendStudy(
  s: TunnelServices,
  request: Extract<Request, { op: "send" }>,
  channel: Channel,
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
  await send(channel, {
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

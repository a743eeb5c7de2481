/**
 * What the agent does for the hub, one request per stream: report its status, echo a node, and
 * query a node or its own archive with the matches streamed back as they arrive. Each request has
 * a deadline and stops when the hub resets its stream. Failures go back as an `error` reply.
 */
import { type Channel, ObjectHeader, type Reply, type Request } from "@conduit/shared/tunnel/mod.ts";
import { hashUid } from "@conduit/shared/log.ts";
import type { ArchiveStoreHandler } from "../archive/store_handler.ts";
import type { StoreContext } from "../dimse/handlers.ts";
import { receiveObjectFile, sendFileRanges, sendObjectAs } from "./objects.ts";
import { sql } from "drizzle-orm";
import type { Database } from "../index/db.ts";
import type { Archive } from "../archive/archive.ts";
import { archivedFiles } from "../index/files.ts";
import { BulkDataError, bulkValue, instanceMetadata } from "./metadata.ts";
import { frameLayout } from "./frames.ts";
import { remoteDestination } from "../routes/rules.ts";
import type { Logger } from "@conduit/shared/log.ts";
import type { Identifier, QueryHandler } from "../dimse/handlers.ts";
import { DimseStatusError } from "../dimse/handlers.ts";
import { type NodeOperations, type RetrieveReport, UnknownNodeError } from "../nodes/operations.ts";
import type { Queue } from "../queue/queue.ts";

export interface TunnelServices {
  nodes: NodeOperations;
  /** The agent's own archive, for a find without a node. */
  archive: QueryHandler;
  queue: Queue;
  /** Where objects the hub sends are committed. */
  store: ArchiveStoreHandler;
  /** Where retrieved objects are read from. */
  db: Database;
  files: Archive;
  /** Our AE title and the configured nodes' names. */
  aet: string;
  nodeNames: Set<string>;
  /** Starts and wakes forward workers for a destination. */
  forwarder: { ensure(destination: string): void; wake(destination?: string): void };
  agentVersion: string;
  log: Logger;
}

const DEFAULT_DEADLINE_MS = 5 * 60 * 1000;

function send(channel: Channel, reply: Reply): Promise<void> {
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
      : e instanceof BulkDataError
      ? "not-found"
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
        r.lastError !== "canceled"
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
    case "progress":
      return await send(channel, {
        type: "ok",
        detail: { ...s.queue.routeProgress(`transfer:${request.transfer}`) },
      });
    case "objects":
      return await send(channel, {
        type: "ok",
        detail: { objects: s.queue.routeRows(`transfer:${request.transfer}`, request.limit) },
      });
    case "cancel":
      return await send(channel, {
        type: "ok",
        detail: { canceled: s.queue.cancelRoute(`transfer:${request.transfer}`) },
      });
    case "metadata":
      return await metadataOf(s, request, channel, signal);
    case "bulkdata":
      return await bulkDataOf(s, request, channel);
    case "frames":
      return await framesOf(s, request, channel);
    default:
      return await send(channel, {
        type: "error",
        code: "unsupported",
        message: `this agent does not do ${request.op} over the tunnel yet`,
      });
  }
}

/** Receives one object, checks it, commits it (and queues it for the node named), then acknowledges. */
async function storeObject(s: TunnelServices, request: Extract<Request, { op: "store" }>, channel: Channel) {
  const header = await channel.expect(ObjectHeader);
  const nack = (message: string) =>
    send(channel, { type: "nack", sopInstanceUid: header.sopInstanceUid, message });
  if (request.node && !s.nodeNames.has(request.node)) {
    channel.stream.reset("unknown node");
    return;
  }
  const callingAet = request.from ? `@${request.from}` : "@hub";
  const ctx: StoreContext = {
    association: { callingAet, calledAet: s.aet, remoteAddress: "tunnel" },
    sopClassUid: "",
    sopInstanceUid: header.sopInstanceUid,
    transferSyntax: "",
  };
  let tempPath: string;
  try {
    tempPath = s.store.reserve(ctx);
  } catch (err) {
    return await nack((err as Error).message);
  }
  const received = await receiveObjectFile(channel, header, tempPath, { sync: s.store.sync });
  ctx.sopClassUid = received.meta.sopClassUid;
  ctx.transferSyntax = received.meta.transferSyntax;
  if (received.meta.sopInstanceUid !== header.sopInstanceUid) {
    await Deno.remove(tempPath).catch(() => {});
    return await nack("the object's SOP Instance UID is not the one announced");
  }
  const now = request.deliver === "now" && request.node;
  try {
    const extra = request.node && !now ? [{ route: `tunnel:${callingAet}`, destination: request.node }] : [];
    const outcome = await s.store.commitWith(received, ctx, extra);
    if (outcome.status !== 0) return await nack(`not stored: status 0x${outcome.status.toString(16)}`);
  } catch (err) {
    await Deno.remove(tempPath).catch(() => {});
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
async function retrieveObjects(
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
    await sendObjectAs(channel, file, request.transferSyntax);
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

async function metadataOf(
  s: TunnelServices,
  request: Extract<Request, { op: "metadata" }>,
  channel: Channel,
  signal: AbortSignal,
) {
  let n = 0;
  for (const file of (await instancesFor(s, request, signal)).files) {
    if (signal.aborted) throw signal.reason;
    await send(channel, { type: "metadata", dataset: await instanceMetadata(file.path) });
    n++;
  }
  await send(channel, { type: "end", completed: n });
}

async function archivedFile(s: TunnelServices, sopInstanceUid: string) {
  const [file] = await archivedFiles(s.db, s.files, sql`i.sop_instance_uid = ${sopInstanceUid}`);
  if (!file) throw new BulkDataError("no such instance");
  return file;
}

async function bulkDataOf(
  s: TunnelServices,
  request: Extract<Request, { op: "bulkdata" }>,
  channel: Channel,
) {
  const file = await archivedFile(s, request.sopInstanceUid);
  const { offset, length } = await bulkValue(file.path, request.path);
  await send(channel, { type: "bulk", size: length });
  await sendFileRanges(channel, file.path, [{ offset, length }]);
  await send(channel, { type: "end", completed: 1 });
}

async function framesOf(s: TunnelServices, request: Extract<Request, { op: "frames" }>, channel: Channel) {
  const file = await archivedFile(s, request.sopInstanceUid);
  const layout = await frameLayout(file.path, request.frames);
  await send(channel, {
    type: "frames",
    transferSyntax: layout.transferSyntax,
    encapsulated: layout.encapsulated,
  });
  for (const frame of layout.frames) {
    await send(channel, { type: "bulk", size: frame.size });
    await sendFileRanges(channel, file.path, frame.pieces);
  }
  await send(channel, { type: "end", completed: layout.frames.length });
}

/**
 * A transfer's study at the source: fetched from the node first when one is named (a retrieve that
 * did not bring every object the node listed is reported, never hidden), then queued for the
 * destination site under the transfer's route.
 */
async function sendStudy(
  s: TunnelServices,
  request: Extract<Request, { op: "send" }>,
  channel: Channel,
  signal: AbortSignal,
) {
  const { files, report } = await instancesFor(s, request, signal);
  const destination = remoteDestination(request.to.site, request.to.node);
  const queued = s.queue.enqueueRoute(
    files.map((f) => f.sopInstanceUid),
    `transfer:${request.transfer}`,
    destination,
  );
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

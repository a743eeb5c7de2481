/**
 * WADO for the hub: archived instances (retrieved from the node first when one is named) sent back one by
 * one in the syntax asked for, their metadata as DICOM JSON, and one bulk value's bytes.
 */
import { sendRanges } from "@conduit/shared/tunnel";
import { sql } from "drizzle-orm";
import { type ArchivedObject, withObject } from "../archive/archive.ts";
import { archivedFiles, eachArchivedFile } from "../index/files.ts";
import { type ComputedHash, recordHashes } from "../index/instances.ts";
import type { RetrieveReport } from "../nodes/operations.ts";
import { sendObjectAs } from "../tunnel/objects.ts";
import { swappedSource } from "../part10/swapped.ts";
import { inflatedReader } from "../part10/inflate.ts";
import { datasetOf } from "../part10/stored.ts";
import { BulkDataError, bulkValue, instanceMetadata } from "./metadata.ts";
import type { Handlers, Replies, RequestOf } from "./reply.ts";
import type { SiteServices } from "./services.ts";

/** Hashes a retrieval computes are recorded this many at a time. */
const HASHES_AT_ONCE = 500;

/**
 * Retrieves from a node into the archive (C-GET or C-MOVE, as the node is configured, with what
 * arrived checked against what the node listed), or takes what the archive holds when no node is
 * named, then streams the objects back one by one, skipping those the hub already has.
 */
async function retrieve(
  s: SiteServices,
  request: RequestOf<"retrieve">,
  channel: Replies<"retrieve">,
  signal: AbortSignal,
) {
  const { files, report } = await instancesPaged(s, request, signal);
  const skip = new Set(request.skip ?? []);
  let completed = 0;
  // Hashes computed for objects not yet backfilled, recorded a transaction per HASHES_AT_ONCE objects and
  // once the study is sent (not held for the whole study).
  const hashed: ComputedHash[] = [];
  const record = () => {
    try {
      recordHashes(s.db, hashed.splice(0));
    } catch { /* the backfill computes them again */ }
  };
  try {
    for await (const file of files) {
      if (skip.has(file.sopInstanceUid)) continue;
      if (signal.aborted) throw signal.reason;
      await sendObjectAs(
        channel,
        s.files,
        file,
        request.transferSyntax,
        s.log,
        (sha256) => hashed.push({ sopInstanceUid: file.sopInstanceUid, path: file.key, sha256 }),
      );
      completed++;
      if (hashed.length >= HASHES_AT_ONCE) record();
    }
  } finally {
    record();
  }
  await channel.send({
    type: "end",
    completed,
    failed: report?.missing.length ?? 0,
    warning: report?.warning ?? 0,
  });
}

/** What a request names: a study, a series of it, or one instance, at the archive or at a node of the site. */
type Named = { node?: string; studyInstanceUid: string; seriesInstanceUid?: string; sopInstanceUid?: string };

/**
 * The archived instances a request names, after a retrieve from the node when one is named (C-GET or
 * C-MOVE, with what arrived checked against what the node listed: the report says what is missing).
 */
export async function instancesFor(
  s: SiteServices,
  request: Named,
  signal: AbortSignal,
): Promise<{ files: ArchivedObject[]; report?: RetrieveReport }> {
  const report = await fromNode(s, request, signal);
  return { files: await archivedFiles(s.db, s.files, named(request)), report };
}

/** instancesFor, read a page at a time as they are sent rather than listed whole first (eachArchivedFile). */
async function instancesPaged(
  s: SiteServices,
  request: Named,
  signal: AbortSignal,
): Promise<{ files: AsyncIterable<ArchivedObject>; report?: RetrieveReport }> {
  const report = await fromNode(s, request, signal);
  return { files: eachArchivedFile(s.db, s.files, named(request)), report };
}

/** The node listed objects for a request, and none is here: its retrieve failed (answered 502 at the hub). */
export class NodeRetrieveError extends Error {
  override name = "NodeRetrieveError";
}

/**
 * Retrieves what a request names from its node into the archive first, when it names one. A node that
 * listed objects and sent none of them (its C-MOVE back to us refused, say: the node has the wrong port for
 * this agent) fails the request with its status, rather than answering as if there were no such study
 * (until 2026-12-08 a viewer was told 404 while QIDO on the same node found the study).
 */
async function fromNode(s: SiteServices, request: Named, signal: AbortSignal) {
  if (!request.node) return undefined;
  const report = await s.nodes.retrieve(request.node, {
    level: request.sopInstanceUid ? "IMAGE" : request.seriesInstanceUid ? "SERIES" : "STUDY",
    studyInstanceUid: request.studyInstanceUid,
    seriesInstanceUid: request.seriesInstanceUid,
    sopInstanceUid: request.sopInstanceUid,
  }, signal);
  if (report.expected > 0 && report.arrived === 0) {
    throw new NodeRetrieveError(
      `the node ${request.node} listed ${report.expected} object(s) and sent none: its C-${report.method.toUpperCase()} ` +
        `ended with status 0x${
          report.status.toString(16).padStart(4, "0").toUpperCase()
        } (completed ${report.completed}, ` +
        `failed ${report.failed}, warning ${report.warning})` +
        (report.method === "move" ? "; check that the node has this agent's AE title, host and port" : ""),
    );
  }
  return report;
}

function named(request: Named) {
  const conditions = [sql`i.study_instance_uid = ${request.studyInstanceUid}`];
  if (request.seriesInstanceUid) conditions.push(sql`i.series_instance_uid = ${request.seriesInstanceUid}`);
  if (request.sopInstanceUid) conditions.push(sql`i.sop_instance_uid = ${request.sopInstanceUid}`);
  return sql.join(conditions, sql` AND `);
}

async function metadata(
  s: SiteServices,
  request: RequestOf<"metadata">,
  channel: Replies<"metadata">,
  signal: AbortSignal,
) {
  let n = 0;
  for await (const file of (await instancesPaged(s, request, signal)).files) {
    if (signal.aborted) throw signal.reason;
    await channel.send({
      type: "metadata",
      dataset: await withObject(s.files, file.key, instanceMetadata),
    });
    n++;
  }
  await channel.send({ type: "end", completed: n });
}

/**
 * The archived instance a `frames` or `bulkdata` request names, in the study and series of its path when
 * the hub names them. One the archive does not hold is retrieved from the path's node first, when the
 * request names one (C-GET or C-MOVE at IMAGE level, as for `retrieve`; once archived, later requests
 * are served from the archive). BulkDataError when there is none.
 */
export async function archivedFile(
  s: SiteServices,
  at: RequestOf<"frames"> | RequestOf<"bulkdata">,
  signal: AbortSignal,
) {
  const conditions = [sql`i.sop_instance_uid = ${at.sopInstanceUid}`];
  if (at.studyInstanceUid) conditions.push(sql`i.study_instance_uid = ${at.studyInstanceUid}`);
  if (at.seriesInstanceUid) conditions.push(sql`i.series_instance_uid = ${at.seriesInstanceUid}`);
  const find = async () => (await archivedFiles(s.db, s.files, sql.join(conditions, sql` AND `)))[0];
  let file = await find();
  if (!file && at.node && at.studyInstanceUid && at.seriesInstanceUid) {
    await s.nodes.retrieve(at.node, {
      level: "IMAGE",
      studyInstanceUid: at.studyInstanceUid,
      seriesInstanceUid: at.seriesInstanceUid,
      sopInstanceUid: at.sopInstanceUid,
    }, signal);
    file = await find();
  }
  if (!file) {
    throw new BulkDataError(
      at.studyInstanceUid ? "no such instance in this study and series" : "no such instance",
    );
  }
  return file;
}

/**
 * One bulk value: a `bulk` reply and its bytes; for encapsulated pixel data a `frames` reply naming its
 * syntax first, then a `bulk` reply and bytes for each part (each frame, or the one video bitstream).
 */
async function bulkdata(
  s: SiteServices,
  request: RequestOf<"bulkdata">,
  channel: Replies<"bulkdata">,
  signal: AbortSignal,
) {
  const file = await archivedFile(s, request, signal);
  const parts = await withObject(s.files, file.key, async (source) => {
    const value = await bulkValue(source, request.path);
    if ("offset" in value && value.inflated) {
      await channel.send({ type: "bulk", size: value.length });
      const reader = inflatedReader(datasetOf(source, file), file.datasetSize);
      try {
        await sendRanges(channel, reader, [value]);
      } finally {
        await reader.close();
      }
      return 1;
    }
    if ("offset" in value) {
      await channel.send({ type: "bulk", size: value.length });
      const bytes = value.swap > 1 ? swappedSource(source, value.offset, value.swap) : source;
      await sendRanges(channel, bytes, [value]);
      return 1;
    }
    await channel.send({ type: "frames", transferSyntax: value.transferSyntax, encapsulated: true });
    for (const part of value.parts) {
      await channel.send({ type: "bulk", size: part.size });
      await sendRanges(channel, source, part.pieces);
    }
    return value.parts.length;
  });
  await channel.send({ type: "end", completed: parts });
}

export const wadoHandlers: Handlers = { retrieve, metadata, bulkdata };

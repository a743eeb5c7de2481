/**
 * Rendered images and thumbnails (the `render` request): a rendered image or thumbnail of an archived instance, or of a series or
 * study (fetched from the node first when one is named). For a series or study the instance is chosen
 * here: series in Series Number order, instances in Instance Number order; the first one that renders for
 * a rendered image, the middle one of its series for a thumbnail. Objects without pixel data (reports,
 * structure sets) are passed over, a few at most.
 */
import { sql } from "drizzle-orm";
import {
  FrameNotFoundError,
  RenderError,
  type RenderOptions,
  type RenderSource,
  THUMBNAIL_SIZE,
} from "../render/mod.ts";
import type { Handlers, Replies, RequestOf } from "./reply.ts";
import type { SiteServices } from "./services.ts";

type RenderRequest = RequestOf<"render">;

/** Instances tried for a series or study before giving up. */
const MAX_TRIES = 8;

/** The instances a request may render, in the order they are tried. */
async function candidates(s: SiteServices, r: RenderRequest): Promise<RenderSource[]> {
  const conditions = [sql`i.study_instance_uid = ${r.studyInstanceUid}`];
  if (r.seriesInstanceUid) conditions.push(sql`i.series_instance_uid = ${r.seriesInstanceUid}`);
  if (r.sopInstanceUid) conditions.push(sql`i.sop_instance_uid = ${r.sopInstanceUid}`);
  await s.db.caughtUp();
  const rows = await s.db.read.all<{ path: string; sop: string; sha: string; series: string }>(
    sql`SELECT i.path, i.sop_instance_uid AS sop, i.sha256 AS sha, i.series_instance_uid AS series
      FROM instances i LEFT JOIN series se ON se.series_instance_uid = i.series_instance_uid
      WHERE i.removed_at IS NULL AND ${sql.join(conditions, sql` AND `)}
      ORDER BY CAST(se.series_number AS INTEGER), i.series_instance_uid,
        CAST(i.instance_number AS INTEGER), i.sop_instance_uid
      LIMIT 100000`,
  );
  const all = rows.map((row) => ({
    open: () => s.files.open(row.path),
    sopInstanceUid: row.sop,
    sha256: row.sha,
    series: row.series,
  }));
  if (!r.thumbnail || r.sopInstanceUid) return all;
  // Thumbnails: each series from its middle instance on, then its first half.
  const out: RenderSource[] = [];
  for (let start = 0; start < all.length;) {
    let end = start;
    while (end < all.length && all[end].series === all[start].series) end++;
    const mid = start + Math.floor((end - start) / 2);
    out.push(...all.slice(mid, end), ...all.slice(start, mid));
    start = end;
  }
  return out;
}

function optionsOf(r: RenderRequest): RenderOptions {
  const viewport = r.viewport ??
    (r.thumbnail ? { width: THUMBNAIL_SIZE, height: THUMBNAIL_SIZE } : undefined);
  return {
    media: r.media,
    ...(r.quality ? { quality: r.quality } : {}),
    ...(r.window ? { window: r.window } : {}),
    ...(viewport ? { viewport } : {}),
  };
}

async function render(s: SiteServices, r: RenderRequest, channel: Replies<"render">, signal: AbortSignal) {
  if (r.node) {
    await s.nodes.retrieve(r.node, {
      level: r.sopInstanceUid ? "IMAGE" : r.seriesInstanceUid ? "SERIES" : "STUDY",
      studyInstanceUid: r.studyInstanceUid,
      seriesInstanceUid: r.seriesInstanceUid,
      sopInstanceUid: r.sopInstanceUid,
    }, signal);
  }
  const list = await candidates(s, r);
  const what = r.sopInstanceUid ? "instance" : r.seriesInstanceUid ? "series" : "study";
  if (list.length === 0) throw new FrameNotFoundError(`${what} not found`);
  const options = optionsOf(r);
  let bytes: Uint8Array | undefined;
  let last: Error | undefined;
  for (const source of list.slice(0, r.sopInstanceUid ? 1 : MAX_TRIES)) {
    if (signal.aborted) throw signal.reason;
    try {
      bytes = await s.render.render(source, r.frame ?? 1, options, r.thumbnail ?? false);
      break;
    } catch (err) {
      // A series or study passes over objects it cannot show; an instance says why it cannot.
      if (r.sopInstanceUid || !(err instanceof RenderError || err instanceof FrameNotFoundError)) throw err;
      last = err as Error;
    }
  }
  if (!bytes) {
    throw new RenderError(`no image of the ${what} could be rendered (${last?.message ?? "none tried"})`);
  }
  await channel.send({ type: "image", mediaType: r.media, size: bytes.byteLength });
  await channel.sendBytes(bytes);
  await channel.send({ type: "end", completed: 1 });
}

export const renderedHandlers: Handlers = { render };

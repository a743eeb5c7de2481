/**
 * The tunnel's operations, validated with zod wherever they arrive: a stream's first message is a
 * request naming its operation (`op`), and the operation's replies follow on the same stream (the
 * hello that opens a session is in ./hello.ts). `OPERATIONS` gives each operation its request schema
 * and the replies it may get, `ok` replies with their `detail`; `RequestOf`, `ReplyOf` and `DetailOf`
 * are their types, so a caller that names an operation gets its answer typed.
 */
import { z } from "zod";
import { DEID_OPTIONS } from "../deid/options.ts";
import { deadline, name, transferId, uid } from "./_fields.ts";
import {
  AckReply,
  BulkReply,
  EndReply,
  ErrorReply,
  FramesReply,
  ImageReply,
  MatchReply,
  MetadataReply,
  NackReply,
  ObjectHeader,
  StatusReply,
} from "./replies.ts";

export { ObjectHeader, Reply } from "./replies.ts";

type ReplyOption = z.ZodDiscriminatedUnionOption<"type">;

/** An operation's replies: `options`, or an `error` instead. */
function answers<T extends [ReplyOption, ...ReplyOption[]]>(...options: T) {
  return z.discriminatedUnion("type", [...options, ErrorReply]);
}

/** An operation answered with one `ok` reply carrying `detail` (or an `error`). */
function okWith<D extends z.ZodTypeAny>(detail: D) {
  return answers(z.object({ type: z.literal("ok"), detail }).strict());
}

const count = z.number().int().nonnegative();

/**
 * A queue row at a site, as the dead letter and a transfer's objects list it. `committing` (stored at a node
 * that commits, awaiting its Storage Commitment report) only in answer to a request with `committing: true`;
 * else such a row is `in_flight`.
 */
export const QueueRowView = z.object({
  id: z.number().int(),
  sopInstanceUid: z.string(),
  route: z.string(),
  destination: z.string(),
  state: z.enum(["pending", "in_flight", "failed", "committing", "done", "dead"]),
  attempts: z.number().int(),
  nextAttemptAt: z.number(),
  lastStatus: z.number().int().nullable(),
  lastError: z.string(),
  createdAt: z.number(),
  updatedAt: z.number(),
  doneAt: z.number().nullable(),
  /** The de-identified copy the row forwards, or null for the archived object. */
  copyId: z.number().int().nullable(),
});
export type QueueRowView = z.infer<typeof QueueRowView>;

const echo = z.object({ op: z.literal("echo"), node: name, deadlineMs: deadline }).strict();

const find = z.object({
  op: z.literal("find"),
  node: name.optional(),
  level: z.enum(["PATIENT", "STUDY", "SERIES", "IMAGE"]),
  /** Keyword to value; an empty value asks for the attribute back. */
  query: z.record(z.string(), z.string()),
  limit: z.number().int().positive().optional(),
  /** Matches to skip before the first one sent (FEATURE_QUERY_OFFSET); `limit` counts those after them. */
  offset: z.number().int().nonnegative().optional(),
  deadlineMs: deadline,
}).strict();

const retrieve = z.object({
  op: z.literal("retrieve"),
  node: name.optional(),
  studyInstanceUid: uid,
  seriesInstanceUid: uid.optional(),
  sopInstanceUid: uid.optional(),
  /** Objects the receiver already holds (a resumed transfer skips them). */
  skip: z.array(uid).max(100_000).optional(),
  /** Send objects in this syntax where the site can without decoding pixels (else as stored). */
  transferSyntax: uid.optional(),
  deadlineMs: deadline,
}).strict();

/**
 * One object follows (ObjectHeader, then its bytes); the agent archives it, queues it for `node`
 * when one is named, and answers ack (committed) or nack.
 */
/** The `from` of a `store` the hub sends itself (a STOW-RS part); a relay's `from` names the sending site. */
export const STOW_FROM = "hub";

const store = z.object({
  op: z.literal("store"),
  node: name.optional(),
  from: name.optional(),
  /**
   * queue (default): acknowledged once archived and queued for the node (durable, for relays);
   * now: C-STORE to the node before answering, the node's refusal coming back as a nack (STOW-RS).
   */
  deliver: z.enum(["queue", "now"]).optional(),
  deadlineMs: deadline,
}).strict();

/**
 * Agent to hub: carry the object that follows to `site` (and its `node`), answering with its reply.
 * `route` names the queue route it goes under (`transfer:<task>` for a transfer: the hub applies
 * that transfer's bandwidth cap).
 */
const relay = z.object({
  op: z.literal("relay"),
  site: name,
  node: name.optional(),
  route: z.string().min(1).max(200).optional(),
  deadlineMs: deadline,
}).strict();

/** The most series of one study a `send` request names. */
export const MAX_SERIES_PER_SEND = 1000;

/** A value of a Clinical Trial attribute: printable ASCII without a backslash (shared/deid/trial.ts). */
const trialText = (max: number) => z.string().min(1).max(max).regex(/^[\x20-\x5b\x5d-\x7e]*$/);

/** A transfer's Clinical Trial attributes (PS3.3 C.7.1.3, C.7.2.3, C.7.3.2; Subject ID: the pseudonym). */
export const transferTrial = z.object({
  sponsorName: trialText(64),
  protocolId: trialText(64),
  protocolName: trialText(64).optional(),
  siteId: trialText(64),
  siteName: trialText(64).optional(),
  timePointId: trialText(64).optional(),
  timePointDescription: trialText(1024).optional(),
  coordinatingCenterName: trialText(64).optional(),
  seriesId: trialText(64).optional(),
  seriesDescription: trialText(64).optional(),
}).strict();

/**
 * Transfer at the source: fetch a study from `node` (or take it from the archive) and queue its
 * objects for `to` under the route `transfer:<transfer>`. Answers ok with what was queued.
 */
const send = z.object({
  op: z.literal("send"),
  transfer: transferId,
  studyInstanceUid: uid,
  /**
   * Only these series of the study (each retrieved from `node` at SERIES level); sent only to an agent
   * whose hello names the `series-transfer` feature (hello.ts).
   */
  seriesInstanceUids: z.array(uid).min(1).max(MAX_SERIES_PER_SEND).optional(),
  node: name.optional(),
  to: z.object({ site: name, node: name.optional() }).strict(),
  /**
   * De-identify at the source, with the source's own key, before anything enters the tunnel. A source
   * without a key answers `error` with code `bad-request`.
   */
  deid: z.object({
    profile: z.literal("basic"),
    options: z.array(z.enum(DEID_OPTIONS)).max(DEID_OPTIONS.length).optional(),
    allowBurnedIn: z.boolean().optional(),
    /** Original Patient ID -> pseudonym; kept at the source with the transfer's queue rows. */
    pseudonyms: z.record(z.string().min(1).max(64), z.string().min(1).max(64)).optional(),
    /**
     * A custom profile (the object a profile file holds), checked again at the source, and Clinical Trial
     * attributes: sent only to an agent whose hello names `transfer-deid-custom` (hello.ts).
     */
    custom: z.record(z.string(), z.unknown()).optional(),
    clinicalTrial: transferTrial.optional(),
  }).strict().optional(),
  deadlineMs: deadline,
}).strict();

/** The DICOM JSON of each instance (bulk values as relative `bulkdata/<tag path>` URIs). */
const metadata = z.object({
  op: z.literal("metadata"),
  node: name.optional(),
  studyInstanceUid: uid,
  seriesInstanceUid: uid.optional(),
  sopInstanceUid: uid.optional(),
  deadlineMs: deadline,
}).strict();

/**
 * The rows the hub asks of an `objects` request a page at a time (FEATURE_OBJECTS_AFTER): a reply of that many
 * fits one control record (1 MiB) with room for long last errors; 10 000 rows (what the hub asked before paging)
 * took some 3.2 MB, and the reply of a study of more than about 3 200 objects never came.
 */
export const OBJECTS_PAGE = 1000;

/** The most frames one `frames` request names. */
export const MAX_FRAMES_PER_REQUEST = 10_000;

/**
 * The study and series of a WADO-RS path, and its node, sent only to an agent whose hello names the
 * `instance-path` feature (hello.ts): an instance outside them is answered `not-found`; one the archive
 * does not hold is first retrieved from the node, when one is named.
 */
const instancePath = {
  node: name.optional(),
  studyInstanceUid: uid.optional(),
  seriesInstanceUid: uid.optional(),
};

/** Frames (1-based) of an archived instance: a `frames` reply, then per frame a `bulk` reply and its bytes. */
const frames = z.object({
  op: z.literal("frames"),
  ...instancePath,
  sopInstanceUid: uid,
  frames: z.array(z.number().int().positive()).min(1).max(MAX_FRAMES_PER_REQUEST),
  /** Acceptable syntaxes in preference order: as stored when it is one, else transcoded to the first possible. */
  transferSyntaxes: z.array(uid).min(1).max(32).optional(),
  deadlineMs: deadline,
}).strict();

/**
 * A rendered image (PS3.18 10.4) or a thumbnail (10.6) of an archived instance's frame (default 1), or
 * of a series or study: its first instance with pixel data for a rendered image, its middle one for
 * a thumbnail. An `image` reply, then its bytes.
 */
const render = z.object({
  op: z.literal("render"),
  node: name.optional(),
  studyInstanceUid: uid,
  seriesInstanceUid: uid.optional(),
  sopInstanceUid: uid.optional(),
  frame: z.number().int().positive().optional(),
  thumbnail: z.boolean().optional(),
  media: z.enum(["image/jpeg", "image/png"]),
  /** JPEG quality. */
  quality: z.number().int().min(1).max(100).optional(),
  window: z.object({
    center: z.number().finite(),
    width: z.number().finite().positive(),
    function: z.enum(["LINEAR", "LINEAR_EXACT", "SIGMOID"]),
  }).strict().optional(),
  /** The output fits in width × height (aspect kept); `region` is the part of the frame shown. */
  viewport: z.object({
    width: z.number().int().min(1).max(65535).optional(),
    height: z.number().int().min(1).max(65535).optional(),
    region: z.object({
      x: z.number().int().nonnegative(),
      y: z.number().int().nonnegative(),
      width: z.number().int().positive(),
      height: z.number().int().positive(),
    }).strict().optional(),
  }).strict().optional(),
  deadlineMs: deadline,
}).strict();

/**
 * One bulk value of an archived instance: a `bulk` reply, then its bytes. Encapsulated pixel data is
 * answered as `frames` does (a `frames` reply with its syntax, then a `bulk` reply and bytes per part): a
 * part per frame, or one for the whole bitstream of a video syntax.
 */
const bulkdata = z.object({
  op: z.literal("bulkdata"),
  ...instancePath,
  sopInstanceUid: uid,
  path: z.string().regex(/^[0-9A-F]{8}(\/\d+\/[0-9A-F]{8})*$/),
  deadlineMs: deadline,
}).strict();

/** A conflict as a site lists it: UIDs, hashes, policy, AE title, kept copy, and its resolution. */
const ConflictView = z.object({
  id: z.number().int(),
  sopInstanceUid: z.string(),
  storedSha256: z.string(),
  receivedSha256: z.string(),
  policy: z.enum(["keepFirst", "keepLast", "keepBoth"]),
  keptPath: z.string().nullable(),
  callingAet: z.string(),
  receivedAt: z.string(),
  /** Absent from an agent before `conflict-resolve`; null while unresolved. */
  resolution: z.enum(["stored", "received"]).nullable().optional(),
  /** When it was resolved; null while unresolved or under way. */
  resolvedAt: z.string().nullable().optional(),
});

/** Each operation: its request, and the replies it may get (every one may get `error` instead). */
export const OPERATIONS = {
  /** The agent's queue depth and version. */
  status: {
    request: z.object({
      op: z.literal("status"),
      /** Count objects awaiting Storage Commitment apart (FEATURE_COMMITMENT_STATE agents only). */
      committing: z.literal(true).optional(),
      /** Count the rows a window holds apart (FEATURE_QUEUE_HELD agents only). */
      held: z.literal(true).optional(),
    }).strict(),
    reply: answers(StatusReply),
  },
  /** C-ECHO to a node: its status and the round trip. */
  echo: { request: echo, reply: okWith(z.object({ status: z.number().int(), ms: z.number() })) },
  /** C-FIND at a node or in the archive: the matches as they come, then `end`. */
  find: { request: find, reply: answers(MatchReply, EndReply) },
  /** Each object (ObjectHeader, then its bytes), then `end` (failed: objects the node did not give). */
  retrieve: { request: retrieve, reply: answers(ObjectHeader, EndReply) },
  store: { request: store, reply: answers(AckReply, NackReply) },
  relay: { request: relay, reply: answers(AckReply, NackReply) },
  /** The nodes configured at the site. */
  nodes: {
    request: z.object({ op: z.literal("nodes") }).strict(),
    reply: okWith(z.object({
      nodes: z.array(z.object({
        name: z.string(),
        aet: z.string(),
        host: z.string(),
        port: z.number().int(),
        retrieve: z.enum(["get", "move"]),
      })),
    })),
  },
  /** The site's dead letter: rows that ran out of attempts (not canceled transfers). */
  deadLetter: {
    request: z.object({
      op: z.literal("deadLetter"),
      limit: z.number().int().positive().max(10_000).optional(),
    })
      .strict(),
    reply: okWith(z.object({ rows: z.array(QueueRowView) })),
  },
  /**
   * The site's record of conflicts (objects received again with other bytes), newest first: one page and
   * how many there are. Asked only of an agent whose hello names the `conflicts` feature; `before` and
   * `unresolved` only of one whose hello names `conflict-resolve` (it also says how each was resolved).
   */
  conflicts: {
    request: z.object({
      op: z.literal("conflicts"),
      limit: z.number().int().positive().max(1000).optional(),
      offset: z.number().int().nonnegative().optional(),
      /** Only those after this conflict in the listing's order (a page's last id): a stable cursor. */
      before: z.number().int().positive().optional(),
      /** Only those not resolved. */
      unresolved: z.literal(true).optional(),
    }).strict(),
    reply: okWith(z.object({
      total: count,
      conflicts: z.array(ConflictView).max(1000),
    })),
  },
  /**
   * Erases a study, one series of it or one instance of that series from the site for good (its files,
   * index rows, queue rows, de-identified copies and conflict records; agent/erase/erase.ts): what was
   * removed. `not-found` when the site holds none of it, `bad-request` for an instance without its series.
   * Asked only of an agent whose hello names the
   * `erase` feature.
   */
  erase: {
    request: z.object({
      op: z.literal("erase"),
      studyInstanceUid: uid,
      seriesInstanceUid: uid.optional(),
      sopInstanceUid: uid.optional(),
    }).strict(),
    reply: okWith(z.object({
      instances: count,
      files: count,
      bytes: count,
      series: count,
      studies: count,
      patients: count,
      queueRows: count,
      inFlight: count,
      copies: count,
      conflicts: count,
      thumbnails: count.optional(),
    })),
  },
  /**
   * Resolves a keepBoth conflict: `stored` deletes the kept copy, `received` makes it the archived object
   * (indexed and routed again). The reply: the conflict as now resolved. Asked only of an agent whose hello
   * names the `conflict-resolve` feature.
   */
  resolveConflict: {
    request: z.object({
      op: z.literal("resolveConflict"),
      id: z.number().int().positive(),
      keep: z.enum(["stored", "received"]),
    }).strict(),
    reply: okWith(z.object({ conflict: ConflictView })),
  },
  /** Dead-letter rows back to the queue, attempts reset. */
  /**
   * Hub to agent: `site` has connected to the hub. The agent's rows for it whose last attempt got no answer
   * (the site was not connected) are due now; the reply says how many (FEATURE_SITE_ONLINE).
   */
  siteOnline: {
    request: z.object({ op: z.literal("siteOnline"), site: name }).strict(),
    reply: okWith(z.object({ due: count })),
  },
  replay: {
    request: z.object({
      op: z.literal("replay"),
      ids: z.array(z.number().int().positive()).min(1).max(10_000),
    })
      .strict(),
    reply: okWith(z.object({ replayed: count })),
  },
  /**
   * Dead-letter rows deleted for good (no replay after; the archived objects stay until the site's retention
   * removes them); rows in any other state are left. Asked only of an agent whose hello names
   * `dead-letter-manage`.
   */
  discardDead: {
    request: z.object({
      op: z.literal("discardDead"),
      ids: z.array(z.number().int().positive()).min(1).max(10_000),
    })
      .strict(),
    reply: okWith(z.object({ discarded: count })),
  },
  /**
   * Rows waiting (pending, in flight or failed) for a destination the site's configuration no longer has (a
   * node removed, then a reload or restart): by destination, with the age of the oldest (ms). Asked only of an
   * agent whose hello names `dead-letter-manage`.
   */
  stranded: {
    request: z.object({ op: z.literal("stranded") }).strict(),
    reply: okWith(z.object({
      destinations: z.array(z.object({ destination: z.string(), waiting: count, oldestMs: z.number() })),
    })),
  },
  /**
   * A destination's waiting rows (pending or failed; not those in flight) given up: to the dead letter, where
   * replay brings them back. Asked only of an agent whose hello names `dead-letter-manage`.
   */
  abandon: {
    request: z.object({ op: z.literal("abandon"), destination: z.string().min(1).max(256) }).strict(),
    reply: okWith(z.object({ abandoned: count })),
  },
  send: {
    request: send,
    reply: okWith(z.object({
      /** Objects of the study found (after the retrieve from the node, when one was named). */
      objects: count,
      queued: count,
      /** Objects the node listed that did not arrive. */
      missing: count,
      retrieve: z.object({
        method: z.enum(["get", "move"]),
        status: z.number().int(),
        expected: count,
        arrived: count,
      }).optional(),
    })),
  },
  /** A transfer's queue rows at the source, counted by state. */
  progress: {
    request: z.object({ op: z.literal("progress"), transfer: transferId }).strict(),
    reply: okWith(z.object({
      pending: count,
      inFlight: count,
      failed: count,
      done: count,
      dead: count,
      canceled: count,
      /** Objects the de-identification stage held back (burned-in text policy). */
      held: count,
      lastError: z.string().optional(),
      /** The de-identified study's identifiers, once its first copy is made. */
      identifiers: z.object({
        patientId: z.string(),
        patientName: z.string(),
        studyInstanceUid: z.string(),
      }).optional(),
    })),
  },
  /** A transfer's rows at the source, one per object, with their state. */
  objects: {
    request: z.object({
      op: z.literal("objects"),
      transfer: transferId,
      limit: z.number().int().positive().max(10_000).optional(),
      /** Only the rows after this row id (FEATURE_OBJECTS_AFTER agents only): the next page. */
      after: z.number().int().nonnegative().optional(),
      /** Rows awaiting Storage Commitment as `committing` (FEATURE_COMMITMENT_STATE agents only). */
      committing: z.literal(true).optional(),
    }).strict(),
    reply: okWith(z.object({ objects: z.array(QueueRowView) })),
  },
  /**
   * At a transfer's destination: how far the objects it acknowledged got on to its `node` (its own
   * queue's rows for the node, whatever their route). Each object counts once, by its best row: done,
   * else waiting (pending, in flight or failed), else dead; `unknown` when no row names it. With
   * `replayDead`, the dead rows of these objects for the node are queued again first (a retried transfer).
   * With `committing` (asked only of FEATURE_COMMITMENT_STATE agents), objects stored at the node and
   * awaiting its Storage Commitment report count as `committing` (listed in `committingUids`), not waiting.
   * With `listNotStored` (asked only of FEATURE_DELIVERY_NOT_STORED agents), the objects counted waiting or
   * dead are listed in `notStored`, each with its best row's last error.
   */
  delivery: {
    request: z.object({
      op: z.literal("delivery"),
      node: name,
      sopInstanceUids: z.array(uid).max(10_000),
      replayDead: z.boolean().optional(),
      committing: z.literal(true).optional(),
      listNotStored: z.literal(true).optional(),
    }).strict(),
    reply: okWith(z.object({
      done: count,
      waiting: count,
      dead: count,
      unknown: count,
      /** The last error of a dead row, else of a failed one (else, of one awaiting commitment). */
      lastError: z.string().optional(),
      /**
       * Of `waiting`, those whose last attempt failed (a node down), tried again later; from agents since
       * 2026-12-07 (a hub takes its absence as none).
       */
      retrying: count.optional(),
      /** Only when asked with `committing`: objects awaiting the node's Storage Commitment report. */
      committing: count.optional(),
      committingUids: z.array(z.string()).max(10_000).optional(),
      /** Only when asked with `listNotStored`: the objects counted in `waiting` and `dead`. */
      notStored: z.array(z.object({
        sopInstanceUid: z.string(),
        state: z.enum(["waiting", "dead"]),
        lastError: z.string(),
      })).max(10_000).optional(),
    })),
  },
  /** Takes a transfer's rows that are not done out of the source's queue. */
  cancel: {
    request: z.object({ op: z.literal("cancel"), transfer: transferId }).strict(),
    reply: okWith(z.object({ canceled: count })),
  },
  /**
   * Holds a transfer's rows at the source that are not yet with a worker until `until` (epoch ms, the
   * time its window opens); `until` 0 lets held rows go now.
   */
  hold: {
    request: z.object({ op: z.literal("hold"), transfer: transferId, until: z.number().int().nonnegative() })
      .strict(),
    reply: okWith(z.object({ held: count })),
  },
  /**
   * A new site credential (`cts.<site>.<secret>`, as enrollment gives) in place of the agent's own: the
   * agent saves it durably (written, synced, renamed over the old file) before it answers `ok`, and
   * connects with it from then on. Asked only of an agent whose hello names the `credential` feature.
   */
  credential: {
    request: z.object({
      op: z.literal("credential"),
      credential: z.string().regex(/^cts\.[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.[A-Za-z0-9_-]{20,200}$/),
      deadlineMs: deadline,
    }).strict(),
    reply: okWith(z.object({ saved: z.literal(true) }).strict()),
  },
  metadata: { request: metadata, reply: answers(MetadataReply, EndReply) },
  frames: { request: frames, reply: answers(FramesReply, BulkReply, EndReply) },
  render: { request: render, reply: answers(ImageReply, EndReply) },
  bulkdata: { request: bulkdata, reply: answers(FramesReply, BulkReply, EndReply) },
} as const;

/** A request: the first message on a stream (hub to agent, or `relay` agent to hub). */
export const Request = z.discriminatedUnion("op", [
  OPERATIONS.echo.request,
  OPERATIONS.find.request,
  OPERATIONS.retrieve.request,
  OPERATIONS.store.request,
  OPERATIONS.relay.request,
  OPERATIONS.status.request,
  OPERATIONS.nodes.request,
  OPERATIONS.deadLetter.request,
  OPERATIONS.conflicts.request,
  OPERATIONS.erase.request,
  OPERATIONS.resolveConflict.request,
  OPERATIONS.replay.request,
  OPERATIONS.siteOnline.request,
  OPERATIONS.discardDead.request,
  OPERATIONS.stranded.request,
  OPERATIONS.abandon.request,
  OPERATIONS.send.request,
  OPERATIONS.progress.request,
  OPERATIONS.objects.request,
  OPERATIONS.cancel.request,
  OPERATIONS.delivery.request,
  OPERATIONS.hold.request,
  OPERATIONS.credential.request,
  OPERATIONS.metadata.request,
  OPERATIONS.frames.request,
  OPERATIONS.render.request,
  OPERATIONS.bulkdata.request,
]);
export type Request = z.infer<typeof Request>;

/** An operation's name. */
export type Op = keyof typeof OPERATIONS;
/** The request of operation `O`. */
export type RequestOf<O extends Op> = Extract<Request, { op: O }>;
/** A reply operation `O` may get. */
export type ReplyOf<O extends Op> = z.infer<(typeof OPERATIONS)[O]["reply"]>;
/** The operations answered with one `ok` reply. */
export type AskOp = { [O in Op]: Extract<ReplyOf<O>, { type: "ok" }> extends never ? never : O }[Op];
/** What the `ok` reply of operation `O` says it did. */
export type DetailOf<O extends AskOp> = Extract<ReplyOf<O>, { type: "ok" }>["detail"];

/** The schema of operation `op`'s replies, for `Channel.expect`. */
export function repliesOf<O extends Op>(op: O): z.ZodType<ReplyOf<O>> {
  return OPERATIONS[op].reply as unknown as z.ZodType<ReplyOf<O>>;
}

/**
 * The tunnel's typed messages, validated with zod wherever they arrive. The hello pair opens a
 * session (as WebSocket text messages); everything else travels as JSON records on a stream: the
 * stream's first message is a request naming the operation, and the answer follows on the same
 * stream.
 */
import { z } from "zod";
import { DEID_OPTIONS } from "../deid/options.ts";

export const PROTOCOL = "conduit-tunnel";
export const PROTOCOL_VERSION = 1;

const name = z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, "letters, digits, . _ -");

export const Hello = z.object({
  protocol: z.literal(PROTOCOL),
  version: z.number().int(),
  site: name,
  agentVersion: z.string().max(64),
}).strict();
export type Hello = z.infer<typeof Hello>;

export const Welcome = z.discriminatedUnion("accepted", [
  z.object({
    protocol: z.literal(PROTOCOL),
    version: z.number().int(),
    accepted: z.literal(true),
    site: name,
    hubVersion: z.string().max(64),
    /** Seconds between the agent's heartbeats. */
    heartbeatSeconds: z.number().positive(),
  }).strict(),
  z.object({
    protocol: z.literal(PROTOCOL),
    version: z.number().int(),
    accepted: z.literal(false),
    reason: z.number().int(),
    message: z.string(),
  }).strict(),
]);
export type Welcome = z.infer<typeof Welcome>;

const uid = z.string().min(1).max(64).regex(/^[0-9.]+$/, "a DICOM UID");
const deadline = z.number().int().positive().max(24 * 3600 * 1000).optional();

/** A request: the first message on a stream (hub to agent, or `relay` agent to hub). */
export const Request = z.discriminatedUnion("op", [
  z.object({ op: z.literal("echo"), node: name, deadlineMs: deadline }).strict(),
  z.object({
    op: z.literal("find"),
    node: name.optional(),
    level: z.enum(["PATIENT", "STUDY", "SERIES", "IMAGE"]),
    /** Keyword to value; an empty value asks for the attribute back. */
    query: z.record(z.string(), z.string()),
    limit: z.number().int().positive().optional(),
    deadlineMs: deadline,
  }).strict(),
  z.object({
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
  }).strict(),
  /**
   * One object follows (ObjectHeader, then its bytes); the agent archives it, queues it for `node`
   * when one is named, and answers ack (committed) or nack.
   */
  z.object({
    op: z.literal("store"),
    node: name.optional(),
    from: name.optional(),
    /**
     * queue (default): acknowledged once archived and queued for the node (durable, for relays);
     * now: C-STORE to the node before answering, the node's refusal coming back as a nack (STOW-RS).
     */
    deliver: z.enum(["queue", "now"]).optional(),
    deadlineMs: deadline,
  }).strict(),
  /**
   * Agent to hub: carry the object that follows to `site` (and its `node`), answering with its reply.
   * `route` names the queue route it goes under (`transfer:<task>` for a transfer: the hub applies
   * that transfer's bandwidth cap).
   */
  z.object({
    op: z.literal("relay"),
    site: name,
    node: name.optional(),
    route: z.string().min(1).max(200).optional(),
    deadlineMs: deadline,
  }).strict(),
  z.object({ op: z.literal("status") }).strict(),
  /** The nodes configured at the site. */
  z.object({ op: z.literal("nodes") }).strict(),
  /** The site's dead letter: rows that ran out of attempts (not canceled transfers). */
  z.object({ op: z.literal("deadLetter"), limit: z.number().int().positive().max(10_000).optional() })
    .strict(),
  /** Dead-letter rows back to the queue, attempts reset. */
  z.object({ op: z.literal("replay"), ids: z.array(z.number().int().positive()).min(1).max(10_000) })
    .strict(),
  /**
   * Transfer at the source: fetch a study from `node` (or take it from the archive) and queue its
   * objects for `to` under the route `transfer:<transfer>`. Answers ok with what was queued.
   */
  z.object({
    op: z.literal("send"),
    transfer: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    studyInstanceUid: uid,
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
    }).strict().optional(),
    deadlineMs: deadline,
  }).strict(),
  /** A transfer's queue rows at the source, counted by state. */
  z.object({ op: z.literal("progress"), transfer: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }).strict(),
  /** A transfer's rows at the source, one per object, with their state. */
  z.object({
    op: z.literal("objects"),
    transfer: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    limit: z.number().int().positive().max(10_000).optional(),
  }).strict(),
  /** Takes a transfer's rows that are not done out of the source's queue. */
  z.object({ op: z.literal("cancel"), transfer: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) }).strict(),
  /**
   * Holds a transfer's rows at the source that are not yet with a worker until `until` (epoch ms, the
   * time its window opens); `until` 0 lets held rows go now.
   */
  z.object({
    op: z.literal("hold"),
    transfer: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
    until: z.number().int().nonnegative(),
  }).strict(),
  /** The DICOM JSON of each instance (bulk values as relative `bulkdata/<tag path>` URIs). */
  z.object({
    op: z.literal("metadata"),
    node: name.optional(),
    studyInstanceUid: uid,
    seriesInstanceUid: uid.optional(),
    sopInstanceUid: uid.optional(),
    deadlineMs: deadline,
  }).strict(),
  /** Frames (1-based) of an archived instance: a `frames` reply, then per frame a `bulk` reply and its bytes. */
  z.object({
    op: z.literal("frames"),
    sopInstanceUid: uid,
    frames: z.array(z.number().int().positive()).min(1).max(10_000),
    /** Acceptable syntaxes in preference order: as stored when it is one, else transcoded to the first possible. */
    transferSyntaxes: z.array(uid).min(1).max(32).optional(),
    deadlineMs: deadline,
  }).strict(),
  /**
   * A rendered image (PS3.18 10.4) or a thumbnail (10.6) of an archived instance's frame (default 1), or
   * of a series or study: its first instance with pixel data for a rendered image, its middle one for
   * a thumbnail. An `image` reply, then its bytes.
   */
  z.object({
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
  }).strict(),
  /** One bulk value of an archived instance: a `bulk` reply, then its bytes. */
  z.object({
    op: z.literal("bulkdata"),
    sopInstanceUid: uid,
    path: z.string().regex(/^[0-9A-F]{8}(\/\d+\/[0-9A-F]{8})*$/),
    deadlineMs: deadline,
  }).strict(),
]);
export type Request = z.infer<typeof Request>;

/**
 * Announces one object; its data set (the bytes after the File Meta group, as archived and indexed)
 * follows as byte records. The receiver writes its own File Meta group from these fields.
 */
export const ObjectHeader = z.object({
  type: z.literal("object"),
  sopInstanceUid: uid,
  sopClassUid: uid,
  transferSyntax: uid,
  /** Bytes of the data set. */
  size: z.number().int().nonnegative(),
  /** Lower-case hex SHA-256 of the data set bytes. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
}).strict();
export type ObjectHeader = z.infer<typeof ObjectHeader>;

/** Everything that can answer a request. */
export const Reply = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ok"), detail: z.record(z.string(), z.unknown()).optional() }).strict(),
  /** One C-FIND match as DICOM JSON. */
  z.object({ type: z.literal("match"), dataset: z.record(z.string(), z.unknown()) }).strict(),
  /** One instance's metadata, DICOM JSON. */
  z.object({ type: z.literal("metadata"), dataset: z.record(z.string(), z.unknown()) }).strict(),
  /** The frames that follow: their transfer syntax, and whether they are compressed fragments. */
  z.object({ type: z.literal("frames"), transferSyntax: uid, encapsulated: z.boolean() }).strict(),
  /** A rendered image follows: `size` bytes as byte records. */
  z.object({
    type: z.literal("image"),
    mediaType: z.enum(["image/jpeg", "image/png"]),
    size: z.number().int().nonnegative(),
  }).strict(),
  /** A bulk value follows: `size` bytes as byte records. */
  z.object({ type: z.literal("bulk"), size: z.number().int().nonnegative() }).strict(),
  ObjectHeader,
  /** The receiver committed the object (idempotently); the sender may mark it done. */
  z.object({ type: z.literal("ack"), sopInstanceUid: uid }).strict(),
  /** The receiver refused the object (bad checksum, rejected by its node...). */
  z.object({
    type: z.literal("nack"),
    sopInstanceUid: uid,
    message: z.string(),
    /** The DIMSE status the node answered, when it refused the object. */
    status: z.number().int().optional(),
  }).strict(),
  z.object({
    type: z.literal("end"),
    completed: z.number().int().nonnegative().optional(),
    failed: z.number().int().nonnegative().optional(),
    warning: z.number().int().nonnegative().optional(),
  }).strict(),
  z.object({
    type: z.literal("status"),
    queueDepth: z.number().int().nonnegative(),
    agentVersion: z.string(),
  }).strict(),
  z.object({
    type: z.literal("error"),
    /** A short machine-readable code: unknown-node, timeout, dimse, cancelled, bad-request, internal. */
    code: z.string(),
    message: z.string(),
    /** The DIMSE status when a peer answered with one. */
    status: z.number().int().optional(),
  }).strict(),
]);
export type Reply = z.infer<typeof Reply>;

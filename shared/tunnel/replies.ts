/**
 * What can answer a tunnel request, each reply a JSON record on the request's stream (bytes records
 * follow some of them). Which replies each operation gets is in ./messages.ts (`OPERATIONS`).
 */
import { z } from "zod";
import { uid } from "./_fields.ts";

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

/** A request done, with what it did (each operation's `detail` is in ./messages.ts). */
export const OkReply = z.object({
  type: z.literal("ok"),
  detail: z.record(z.string(), z.unknown()).optional(),
})
  .strict();
/** One C-FIND match as DICOM JSON. */
export const MatchReply = z.object({ type: z.literal("match"), dataset: z.record(z.string(), z.unknown()) })
  .strict();
/** One instance's metadata, DICOM JSON. */
export const MetadataReply = z.object({
  type: z.literal("metadata"),
  dataset: z.record(z.string(), z.unknown()),
}).strict();
/** The frames that follow: their transfer syntax, and whether they are compressed fragments. */
export const FramesReply = z.object({
  type: z.literal("frames"),
  transferSyntax: uid,
  encapsulated: z.boolean(),
})
  .strict();
/** A rendered image follows: `size` bytes as byte records. */
export const ImageReply = z.object({
  type: z.literal("image"),
  mediaType: z.enum(["image/jpeg", "image/png"]),
  size: z.number().int().nonnegative(),
}).strict();
/** A bulk value follows: `size` bytes as byte records. */
export const BulkReply = z.object({ type: z.literal("bulk"), size: z.number().int().nonnegative() }).strict();
/** The receiver committed the object (idempotently); the sender may mark it done. */
export const AckReply = z.object({ type: z.literal("ack"), sopInstanceUid: uid }).strict();
/** The receiver refused the object (bad checksum, rejected by its node...). */
export const NackReply = z.object({
  type: z.literal("nack"),
  sopInstanceUid: uid,
  message: z.string(),
  /** The DIMSE status the node answered, when it refused the object. */
  status: z.number().int().optional(),
}).strict();
/** The last reply of a request that streams its results. */
export const EndReply = z.object({
  type: z.literal("end"),
  completed: z.number().int().nonnegative().optional(),
  failed: z.number().int().nonnegative().optional(),
  warning: z.number().int().nonnegative().optional(),
}).strict();
export const StatusReply = z.object({
  type: z.literal("status"),
  queueDepth: z.number().int().nonnegative(),
  agentVersion: z.string(),
  /**
   * Of the queue depth, objects stored at a node that commits and awaiting its Storage Commitment report;
   * sent only to a `status` request with `committing: true` (hello.ts FEATURE_COMMITMENT_STATE).
   */
  committing: z.number().int().nonnegative().optional(),
  /**
   * Of the queue depth, rows a window holds until it opens (a route's forwarding hours, a transfer's window);
   * sent only to a `status` request with `held: true` (hello.ts FEATURE_QUEUE_HELD).
   */
  held: z.number().int().nonnegative().optional(),
}).strict();
/** Any request can fail with this instead of its own replies. */
export const ErrorReply = z.object({
  type: z.literal("error"),
  /**
   * A short machine-readable code: unknown-node, timeout, dimse, not-found, not-renderable, bad-request,
   * unsupported, unavailable (the site cannot do it now: its index cannot commit), failed
   * (agent/serve/serve.ts); site-offline and forbidden (its relay policy) from the hub's
   * relay.
   */
  code: z.string(),
  message: z.string(),
  /** The DIMSE status when a peer answered with one. */
  status: z.number().int().optional(),
}).strict();

/** Everything that can answer a request. */
export const Reply = z.discriminatedUnion("type", [
  OkReply,
  MatchReply,
  MetadataReply,
  FramesReply,
  ImageReply,
  BulkReply,
  ObjectHeader,
  AckReply,
  NackReply,
  EndReply,
  StatusReply,
  ErrorReply,
]);
export type Reply = z.infer<typeof Reply>;

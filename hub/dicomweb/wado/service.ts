/**
 * WADO-RS as a backend answers it: instances, metadata, bulk data, pixel frames and rendered images of
 * one site (or node).
 */
import type { DicomJson } from "@conduit/shared/dicom";
import type { ObjectHeader, Request } from "@conduit/shared/tunnel";

export interface RetrieveQuery {
  studyInstanceUid: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
  /** Objects already delivered (a resumed retrieve). */
  skip?: string[];
  /** The syntax wanted, where the site can give it without decoding pixels. */
  transferSyntax?: string;
}

/**
 * An instance as a WADO-RS path names it. A site that can check it answers not-found when the instance
 * is not in that study (and series), as for any other unknown instance.
 */
export interface InstancePath {
  studyInstanceUid: string;
  seriesInstanceUid?: string;
  sopInstanceUid: string;
}

/** One object of a retrieve: its header, then its data set's bytes (read them before the next). */
export interface RetrievedObject {
  header: ObjectHeader;
  bytes: AsyncIterable<Uint8Array>;
}

/**
 * A rendered image or thumbnail (PS3.18 10.4, 10.6): of an instance's frame, or of a series or study
 * (the site chooses the instance), with the rendering parameters.
 */
export type RenderQuery = Omit<Extract<Request, { op: "render" }>, "op" | "node" | "deadlineMs">;

/** An image the site rendered: its media type and size, then its bytes. */
export interface RenderedImage {
  mediaType: string;
  size: number;
  bytes: AsyncIterable<Uint8Array>;
}

/** Frames of an instance: the syntax they come in, then each frame's bytes in the asked order. */
export interface FramesResult {
  transferSyntax: string;
  encapsulated: boolean;
  frames: AsyncIterable<AsyncIterable<Uint8Array>>;
}

/** One bulk value, or one part of one: its size, then its bytes. */
export interface BulkValue {
  size: number;
  bytes: AsyncIterable<Uint8Array>;
}

/**
 * A bulk value as the site gives it: one part for a native value; for encapsulated pixel data its
 * transfer syntax and its parts as stored (one per frame, or the whole bitstream of a video syntax).
 */
export interface BulkData {
  /** Set for encapsulated pixel data. */
  transferSyntax?: string;
  /** Each part, read to the end before the next. */
  parts: AsyncIterable<BulkValue>;
  /** Ends the answer at the site without reading it (the client cannot take it). */
  cancel(): void;
}

/**
 * Each call takes an optional `signal` that ends the work early (a deadline); the routes pass none: a
 * client that goes away cancels the response body, whose cancel hook ends the work at the site.
 */
export interface WadoService {
  retrieve(query: RetrieveQuery, signal?: AbortSignal): AsyncIterable<RetrievedObject>;
  /** Each instance's DICOM JSON; bulk values carry relative `bulkdata/<tag path>` URIs. */
  metadata(query: RetrieveQuery, signal?: AbortSignal): AsyncIterable<DicomJson>;
  /**
   * Frames (1-based) of an instance, in the asked order, each read to the end before the next; as
   * stored when `syntaxes` is absent or holds the stored one, else transcoded into the first of
   * `syntaxes` the site can produce (or as stored when it can produce none).
   */
  frames(
    instance: InstancePath,
    frames: number[],
    syntaxes?: string[],
    signal?: AbortSignal,
  ): Promise<FramesResult>;
  /** One bulk value of an instance. */
  bulkdata(instance: InstancePath, path: string, signal?: AbortSignal): Promise<BulkData>;
  /** A rendered image or thumbnail, made at the site. */
  render(query: RenderQuery, signal?: AbortSignal): Promise<RenderedImage>;
}

/**
 * What the DICOMweb routes ask of a backend, whatever answers: a site's agent through the tunnel
 * (its archive, or one of its nodes), and later perhaps a local archive. Routes see only these
 * interfaces; `BackendProvider` picks one per request.
 */
import type { DicomJson } from "@conduit/shared/dicom";
import type { ObjectHeader, Request } from "@conduit/shared/tunnel";

export type QidoLevel = "STUDY" | "SERIES" | "IMAGE";

export interface QidoQuery {
  level: QidoLevel;
  /** Keyword -> match value (as PS3.4 C-FIND matching reads it); "" asks for the attribute back. */
  keys: Record<string, string>;
  /** Stop after this many matches (the route adds its offset). */
  limit?: number;
}

export interface RetrieveQuery {
  studyInstanceUid: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
  /** Objects already delivered (a resumed retrieve). */
  skip?: string[];
  /** The syntax wanted, where the site can give it without decoding pixels. */
  transferSyntax?: string;
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

export interface StoreResult {
  sopInstanceUid: string;
  sopClassUid: string;
  ok: boolean;
  /** Why it failed (PS3.18 FailureReason), when it did. */
  failureReason?: number;
  message?: string;
}

/** One site (and node) as a DICOMweb origin. */
export interface DicomwebBackend {
  /** The site and node, for RetrieveURL and messages. */
  readonly site: string;
  readonly node?: string;
  search(query: QidoQuery, signal: AbortSignal): AsyncIterable<DicomJson>;
  retrieve(query: RetrieveQuery, signal: AbortSignal): AsyncIterable<RetrievedObject>;
  /** Each instance's DICOM JSON; bulk values carry relative `bulkdata/<tag path>` URIs. */
  metadata(query: RetrieveQuery, signal: AbortSignal): AsyncIterable<DicomJson>;
  /**
   * Frames (1-based) of an instance, in the asked order, each read to the end before the next; as
   * stored when `syntaxes` is absent or holds the stored one, else transcoded into the first of
   * `syntaxes` the site can produce (or as stored when it can produce none).
   */
  frames(
    sopInstanceUid: string,
    frames: number[],
    signal: AbortSignal,
    syntaxes?: string[],
  ): Promise<
    { transferSyntax: string; encapsulated: boolean; frames: AsyncIterable<AsyncIterable<Uint8Array>> }
  >;
  /** One bulk value of an instance. */
  bulkdata(
    sopInstanceUid: string,
    path: string,
    signal: AbortSignal,
  ): Promise<{ size: number; bytes: AsyncIterable<Uint8Array> }>;
  /** A rendered image or thumbnail, made at the site. */
  render(query: RenderQuery, signal: AbortSignal): Promise<RenderedImage>;
  /** Stores one object (its data set from a file) into the site's node or archive. */
  store(
    object: { header: ObjectHeader; path: string; datasetOffset: number },
    signal: AbortSignal,
  ): Promise<StoreResult>;
}

export class BackendUnavailableError extends Error {
  override name = "BackendUnavailableError";
}

export { SiteNotConnectedError, UnknownSiteError } from "../tunnel/errors.ts";

export interface BackendProvider {
  /**
   * The backend for a site (its archive, or `node`); throws UnknownSiteError, SiteNotConnectedError
   * (never enrolled) or BackendUnavailableError (offline).
   */
  backend(site: string, node?: string): Promise<DicomwebBackend>;
  /**
   * Every site that is not revoked, with whether it is connected now and whether it is still
   * pending (added, never enrolled). Federation asks the online ones and names the others.
   */
  sites(): Promise<{ site: string; online: boolean; pending: boolean }[]>;
}

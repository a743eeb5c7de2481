/** QIDO-RS as a backend answers it: matches of a query at one level, as DICOM JSON. */
import type { DicomJson } from "@conduit/shared/dicom";

export type QidoLevel = "STUDY" | "SERIES" | "IMAGE";

export interface QidoQuery {
  level: QidoLevel;
  /** Keyword -> match value (as PS3.4 C-FIND matching reads it); "" asks for the attribute back. */
  keys: Record<string, string>;
  /** Skip this many matches first (one site's page; a federated search asks each site from its first). */
  offset?: number;
  /** Stop after this many matches (after the offset). */
  limit?: number;
}

/**
 * Searches one site (or node). `signal` ends the search early (a deadline); the routes pass none: a client
 * that goes away cancels the response body, whose cancel hook ends the search.
 */
export interface QidoService {
  search(query: QidoQuery, signal?: AbortSignal): AsyncIterable<DicomJson>;
}

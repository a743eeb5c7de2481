/** QIDO-RS as a backend answers it: matches of a query at one level, as DICOM JSON. */
import type { DicomJson } from "@conduit/shared/dicom";

export type QidoLevel = "STUDY" | "SERIES" | "IMAGE";

export interface QidoQuery {
  level: QidoLevel;
  /** Keyword -> match value (as PS3.4 C-FIND matching reads it); "" asks for the attribute back. */
  keys: Record<string, string>;
  /** Stop after this many matches (the route adds its offset). */
  limit?: number;
}

/** Searches one site (or node). */
export interface QidoService {
  search(query: QidoQuery, signal: AbortSignal): AsyncIterable<DicomJson>;
}

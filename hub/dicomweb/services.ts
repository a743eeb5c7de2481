/**
 * What the DICOMweb routes ask of a backend, whatever answers: a site's agent through the tunnel
 * (its archive, or one of its nodes), in tests an in-memory one (./testing.ts), later perhaps an
 * archive of the hub's own. One service per transaction (./qido, ./wado, ./stow: each folder holds its
 * service, its routes and its tunnel implementation); `BackendProvider` picks a site's per request.
 */
import type { QidoService } from "./qido/service.ts";
import type { WadoService } from "./wado/service.ts";
import type { StowService } from "./stow/service.ts";

export type { QidoLevel, QidoQuery, QidoService } from "./qido/service.ts";
export type {
  BulkData,
  BulkValue,
  FramesResult,
  InstancePath,
  RenderedImage,
  RenderQuery,
  RetrievedObject,
  RetrieveQuery,
  WadoService,
} from "./wado/service.ts";
export type { StoreResult, StowObject, StowService } from "./stow/service.ts";

/** One site (and node) as a DICOMweb origin: its services, one per transaction. */
export interface DicomwebBackend {
  /** The site and node, for RetrieveURL and messages. */
  readonly site: string;
  readonly node?: string;
  readonly qido: QidoService;
  readonly wado: WadoService;
  readonly stow: StowService;
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

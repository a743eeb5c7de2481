/** The DICOMweb backend of one site, answered by its agent through the tunnel (a service per transaction). */
import type { SiteRegistry } from "../sites/registry.ts";
import type { Sessions } from "../tunnel/sessions.ts";
import { type BackendProvider, BackendUnavailableError, type DicomwebBackend } from "./services.ts";
import { TunnelQido } from "./qido/tunnel.ts";
import { TunnelWado } from "./wado/tunnel.ts";
import { TunnelStow } from "./stow/tunnel.ts";

/** Backends per site from the registry and the live tunnel sessions. */
export class TunnelBackendProvider implements BackendProvider {
  constructor(private readonly registry: SiteRegistry, private readonly sessions: Sessions) {}

  async backend(site: string, node?: string): Promise<DicomwebBackend> {
    await this.registry.require(site);
    if (!this.sessions.online(site)) throw new BackendUnavailableError(`site ${site} is offline`);
    return {
      site,
      node,
      qido: new TunnelQido(site, node, this.sessions),
      wado: new TunnelWado(site, node, this.sessions),
      stow: new TunnelStow(site, node, this.sessions),
    };
  }

  async sites() {
    const all = await this.registry.list();
    return all.filter((s) => s.state !== "revoked").map((s) => ({
      site: s.site,
      online: this.sessions.online(s.site),
      pending: s.state === "pending",
    }));
  }
}

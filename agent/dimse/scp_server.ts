/**
 * The SCP's listeners: plain DICOM on its port, and DICOM over TLS on a second port when configured
 * (PS3.15 B.1). Both serve the same SCP: one association limit, one policy, one archive.
 */
import { type DenoSocket, listen, type WireSocket } from "./deno_socket.ts";
import { type ScpOptions, type ScpShared, serveConnection } from "./scp.ts";
import { listenTls, type TlsServerMaterial } from "./tls.ts";

/** A running SCP. */
export interface ScpServer {
  port: number;
  /** The TLS port, when one is configured. */
  tlsPort?: number;
  activeAssociations(): number;
  close(): Promise<void>;
}

export interface ScpListenOptions extends ScpOptions {
  host: string;
  port: number;
  tls?: { port: number; material: TlsServerMaterial };
}

/** Starts listening; resolves once the ports are bound, rejects when one cannot be. */
export async function startScp(options: ScpListenOptions): Promise<ScpServer> {
  const shared: ScpShared = { options, active: 0 };
  const sockets = new Set<WireSocket>();
  const serve = (socket: WireSocket, secure: boolean) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    try {
      serveConnection(socket, shared, secure);
    } catch (err) {
      options.log.error("cannot serve a connection", { reason: (err as Error).message });
      socket.destroy();
    }
  };
  const plain = listen({ hostname: options.host, port: options.port }, (s: DenoSocket) => serve(s, false));
  let secure: { port: number; close(): void } | undefined;
  if (options.tls) {
    try {
      secure = await listenTls(
        {
          hostname: options.host,
          port: options.tls.port,
          material: options.tls.material,
          handshakeTimeoutMs: options.artimTimeoutMs,
        },
        (s) => serve(s, true),
        (reason, remoteAddress) => {
          options.log.info("TLS handshake refused", { reason, remote: remoteAddress ?? "" });
          try {
            options.onEvent?.({ type: "tls-refused" });
          } catch { /* metrics never break the wire */ }
        },
      );
    } catch (err) {
      plain.close();
      throw new Error(
        `cannot listen for DICOM over TLS on port ${options.tls.port}: ${(err as Error).message}`,
      );
    }
  }
  return {
    port: plain.port,
    tlsPort: secure?.port,
    activeAssociations: () => shared.active,
    close: () => {
      plain.close();
      secure?.close();
      for (const s of sockets) s.destroy();
      return Promise.resolve();
    },
  };
}

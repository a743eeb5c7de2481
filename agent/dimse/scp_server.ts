/**
 * The SCP's listeners: plain DICOM on its port, and DICOM over TLS on a second port when configured
 * (PS3.15 B.1). Both serve the same SCP: one association limit, one policy, one archive.
 *
 * The association code and the DICOM library under it (dcmjs-dimse, which loads dcmjs and
 * dcmjs-codecs: about 20 MB of an idle agent's RSS) are loaded when the first connection arrives, not
 * at start (issue 16); the bytes of connections that arrive meanwhile are held and handed on in order.
 */
import { loadOnce } from "@conduit/shared/load-once";
import { type AcceptHooks, type DenoSocket, listen, releaseMemory, type WireSocket } from "./deno_socket.ts";
import type { ScpOptions, ScpShared } from "./scp.ts";
import type { TlsListener, TlsServerMaterial } from "./tls.ts";
import { ConnectionGate, type GatedSocket } from "./_connection_gate.ts";

type Serve = typeof import("./scp.ts").serveConnection;
/** How long the SCP must have had no connection before memory is given back. */
const IDLE_RELEASE_MS = 2000;
/**
 * How long a connection may send nothing before it is closed (at most ARTIM), unless configured
 * (`dimse.firstByteTimeoutSeconds`): requesters send their A-ASSOCIATE-RQ (or TLS ClientHello) at once; 10 s
 * leaves room for a few TCP retransmissions on a bad link.
 */
const FIRST_BYTE_MS = 10_000;
let serveConnection: Serve | undefined;
let loadScp: (() => Promise<Serve>) | undefined;

/**
 * How the SCP loads its association code (./scp.ts) and its TLS listener (./tls.ts). The agent gives its
 * own (agent/lazy_part.ts, which the packaged agent points at the modules in its bundle); by default, by
 * computed URLs: Deno loads the graph of a literal `import()` with the module holding it, taken or not.
 */
export interface ScpParts {
  scp(): Promise<typeof import("./scp.ts")>;
  tls(): Promise<typeof import("./tls.ts")>;
}

const SOURCE_PARTS: ScpParts = {
  scp: () => import(new URL("./scp.ts", import.meta.url).href),
  tls: () => import(new URL("./tls.ts", import.meta.url).href),
};

/**
 * The association code, loaded once by the first SCP's parts. A failed load closes the connections that
 * waited on it; the next connection loads again.
 */
function loadScpOnce(parts: ScpParts): Promise<Serve> {
  loadScp ??= loadOnce(() => parts.scp().then((m) => (serveConnection = m.serveConnection)));
  return loadScp();
}

/** A running SCP. */
export interface ScpServer {
  port: number;
  /** The TLS port, when one is configured. */
  tlsPort?: number;
  /** New TLS handshakes use this material (a renewed certificate); associations open keep theirs. */
  replaceTlsMaterial(material: TlsServerMaterial): void;
  /** The calling AE titles allowed from the next association request on; associations open go on. */
  replaceAllowedCallingAets(aets: string[]): void;
  activeAssociations(): number;
  close(): Promise<void>;
}

export interface ScpListenOptions extends ScpOptions {
  host: string;
  port: number;
  tls?: { port: number; material: TlsServerMaterial };
  /** Connections (associated or not) both ports may hold at once; more are closed at once (descriptors). */
  connectionLimit?: () => number;
  /** ms a connection may send no byte before it is closed (at most ARTIM; default 10 s). */
  firstByteTimeoutMs?: number;
  /** Called once no connection has been open for a while (the index's hash backfill runs then). */
  onIdle?: () => void;
  /** How the association code and the TLS listener load (default: from source, by computed URLs). */
  parts?: ScpParts;
}

/** Starts listening; resolves once the ports are bound, rejects when one cannot be. */
export async function startScp(options: ScpListenOptions): Promise<ScpServer> {
  const shared: ScpShared = { options, active: 0 };
  const sockets = new Set<WireSocket>();
  const start = (socket: WireSocket, secure: boolean, serve: Serve) => {
    try {
      serve(socket, shared, secure);
    } catch (err) {
      options.log.error("cannot serve a connection", { reason: (err as Error).message });
      socket.destroy();
    }
  };
  // Once no connection has been open for a while, what serving them left is given back (deno_socket.ts).
  let idle: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let shed = 0;
  // Connections of both ports, from their accept (TLS: before the handshake) against the descriptor budget;
  // those that send nothing are closed after the first-byte timeout, or for a new one when the budget is full.
  const gate = new ConnectionGate({
    limit: options.connectionLimit,
    firstByteMs: Math.min(options.firstByteTimeoutMs ?? FIRST_BYTE_MS, options.artimTimeoutMs),
    onSilentClosed: (socket, port, why) =>
      options.log.info("closing a connection that sent nothing", {
        port,
        reason: why,
        remote: socket.remoteAddress ?? "",
      }),
  });
  /** Whether the gate holds a connection just accepted on `port`; said once per run of refusals. */
  const admit = (socket: GatedSocket, port: "dicom" | "tls"): boolean => {
    if (gate.admit(socket, port)) {
      if (shed > 0) {
        options.log.info("taking connections again", { closed: shed });
        shed = 0;
      }
      return true;
    }
    // Out of the descriptors kept for connections, and every one held has spoken: closed at once, so the
    // index, files and new threads keep theirs (agent/descriptors.ts).
    if (shed++ === 0) {
      options.log.warn("too many connections for the file descriptor limit; closing new ones", {
        connections: gate.size,
        associations: shared.active,
      });
    }
    return false;
  };
  /** Serves a connection the gate holds (TLS: once its handshake succeeded). */
  const serve = (socket: WireSocket, isTls: boolean) => {
    clearTimeout(idle);
    sockets.add(socket);
    socket.on("close", () => {
      sockets.delete(socket);
      // Not after close(): the sockets it destroys close after it, and no timer may outlive the SCP.
      if (sockets.size > 0 || closed) return;
      clearTimeout(idle);
      idle = setTimeout(() => {
        releaseMemory();
        options.onIdle?.();
      }, IDLE_RELEASE_MS);
      Deno.unrefTimer(idle);
    });
    if (serveConnection) return start(socket, isTls, serveConnection);
    // First connections: hold what arrives until the association code has loaded. The network it
    // builds replaces every "data" listener with its own; what was held is then replayed in order.
    const held: Buffer[] = [];
    const hold = (chunk: Buffer) => {
      held.push(chunk);
      socket.pause();
    };
    socket.on("data", hold);
    loadScpOnce(options.parts ?? SOURCE_PARTS).then((fn) => {
      socket.off("data", hold);
      if (socket.destroyed) return;
      start(socket, isTls, fn);
      // Resumed first: the next read lands after the held bytes, which go out in this same turn.
      socket.resume();
      for (const chunk of held) socket.emit("data", chunk);
    }, (err) => {
      options.log.error("cannot load the DICOM association code", { reason: (err as Error).message });
      socket.destroy();
    });
  };
  /** What the accept loop of the `port` listener says of a run of failed accepts (EMFILE). */
  const acceptHooks = (port: "dicom" | "tls"): AcceptHooks => ({
    onAcceptFailing: (reason) =>
      options.log.warn("cannot accept a connection; trying again", {
        port,
        reason: reason === "EMFILE" || reason === "ENFILE" ? `too many open files (${reason})` : reason,
        associations: shared.active,
      }),
    onAcceptResumed: (failures) => options.log.info("accepting connections again", { port, failures }),
  });
  const plain = listen(
    { hostname: options.host, port: options.port },
    (s: DenoSocket) => admit(s, "dicom") ? serve(s, false) : s.destroy(),
    acceptHooks("dicom"),
  );
  let secure: TlsListener | undefined;
  if (options.tls) {
    try {
      const { listenTls } = await (options.parts ?? SOURCE_PARTS).tls();
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
        acceptHooks("tls"),
        (socket) => admit(socket, "tls"),
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
    replaceTlsMaterial: (material) => {
      if (!secure) throw new Error("no DICOM over TLS port: dimse.tls was not set at start");
      secure.setMaterial(material);
    },
    replaceAllowedCallingAets: (aets) => {
      shared.options = { ...shared.options, allowedCallingAets: [...aets] };
    },
    activeAssociations: () => shared.active,
    close: () => {
      closed = true;
      clearTimeout(idle);
      plain.close();
      secure?.close();
      for (const s of sockets) s.destroy();
      return Promise.resolve();
    },
  };
}

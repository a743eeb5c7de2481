/**
 * What a tunnel session runs over: something that carries whole messages, in order, both ways.
 * A WebSocket in production (`webSocketTransport`), an in-memory pair in unit tests (`memoryPair`).
 * Text messages carry the hello; binary messages carry one frame each.
 */

export interface TransportHandlers {
  message(data: Uint8Array | string): void;
  close(code: number, reason: string): void;
}

export interface Transport {
  /** Queues a message; never blocks. Callers watch `bufferedAmount` to stay bounded. */
  send(data: Uint8Array | string): void;
  /**
   * True when `send` has copied the message before it returns, so the caller may reuse its buffer at
   * once (Deno's own WebSocket does; the npm `ws` client keeps a reference until the socket wrote it).
   */
  readonly copiesOnSend?: boolean;
  /** Bytes queued and not yet handed to the network. */
  readonly bufferedAmount: number;
  /** Starts delivering messages (buffered ones first) to `handlers`. Called once. */
  start(handlers: TransportHandlers): void;
  close(code?: number, reason?: string): void;
}

/**
 * A transport over an open standard WebSocket (Deno's client, or the server end of
 * `Deno.upgradeWebSocket`), or one that speaks its interface (the npm `ws` client the agent uses).
 * Messages that arrive before `start` wait for it.
 */
export function webSocketTransport(ws: WebSocket): Transport {
  // Deno's WebSocket (client, or the server end of an upgrade) copies a binary message into its own
  // frame inside send() (checked by transport_test.ts); other implementations are not assumed to.
  const copiesOnSend = typeof WebSocket === "function" && ws instanceof WebSocket;
  // Deno's WebSocket hands each binary message over as an ArrayBuffer of its own. The npm `ws` client
  // copies a message it was asked for as an ArrayBuffer out of the socket's read buffer (every one,
  // unless it fills a read exactly); as a Node Buffer it is a view of that buffer, which ws never
  // reuses (Node's own contract for "nodebuffer"): no copy.
  ws.binaryType = copiesOnSend ? "arraybuffer" : "nodebuffer" as BinaryType;
  let handlers: TransportHandlers | undefined;
  const early: (Uint8Array | string)[] = [];
  let closed: { code: number; reason: string } | undefined;
  ws.onmessage = (e) => {
    const data = typeof e.data === "string"
      ? e.data
      : e.data instanceof Uint8Array
      ? e.data
      : new Uint8Array(e.data as ArrayBuffer);
    if (handlers) handlers.message(data);
    else early.push(data);
  };
  const onClose = (code: number, reason: string) => {
    if (closed) return;
    closed = { code, reason };
    handlers?.close(code, reason);
  };
  ws.onclose = (e) => onClose(e.code, e.reason);
  ws.onerror = () => {}; // a close event follows
  return {
    copiesOnSend,
    send(data) {
      // Frames are always fresh Uint8Arrays over an ArrayBuffer (never a SharedArrayBuffer).
      if (ws.readyState === WebSocket.OPEN) ws.send(data as string | Uint8Array<ArrayBuffer>);
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    start(h) {
      handlers = h;
      for (const m of early.splice(0)) h.message(m);
      if (closed) h.close(closed.code, closed.reason);
      else if (ws.readyState === WebSocket.CLOSED) onClose(1006, "closed before start");
    },
    close(code = 1000, reason = "") {
      closeSocket(ws, code, reason);
    },
  };
}

const encoder = new TextEncoder();

/**
 * Closes `ws` with `code` and as much of `reason` as a close frame holds (123 bytes of UTF-8). A code an
 * application may not send (outside 1000 and 3000 to 4999, as from a peer's unknown reason) closes
 * without one. Never throws: WebSocket.close() throws on either, and a close that throws leaves the
 * socket open.
 */
export function closeSocket(ws: Pick<WebSocket, "close">, code: number, reason: string): void {
  let text = reason.slice(0, 123);
  while (encoder.encode(text).byteLength > 123) text = text.slice(0, -1);
  try {
    if (code === 1000 || (Number.isInteger(code) && code >= 3000 && code <= 4999)) ws.close(code, text);
    else ws.close();
  } catch {
    ws.close();
  }
}

/** Opens a WebSocket and resolves once it is open (rejects on failure or after `timeoutMs`). */
export function openWebSocket(
  url: string,
  init: {
    headers?: HeadersInit;
    timeoutMs?: number;
    /** The HTTP client to connect with (`Deno.createHttpClient({ caCerts })`: the CAs a wss server may chain to). */
    client?: Deno.HttpClient;
  } = {},
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // Deno's WebSocket takes headers (the credential goes there, never in the URL).
    // It also takes an HTTP client (`client`), whose `caCerts` it trusts for wss.
    const Ctor = WebSocket as unknown as new (
      url: string,
      opts: { headers?: HeadersInit; client?: Deno.HttpClient },
    ) => WebSocket;
    const ws = new Ctor(url, { headers: init.headers, ...(init.client ? { client: init.client } : {}) });
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error(`no WebSocket to ${url} within ${init.timeoutMs ?? 10_000} ms`));
    }, init.timeoutMs ?? 10_000);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onerror = (e) => {
      clearTimeout(timer);
      reject(new Error(`WebSocket to ${url} failed: ${(e as ErrorEvent).message ?? "error"}`));
    };
  });
}

/** An in-memory transport end; `cut()` drops the link as a network failure would. */
export interface MemoryTransport extends Transport {
  cut(): void;
}

/**
 * Two connected in-memory transports. Delivery is asynchronous (a macrotask per message) so
 * that ordering and back-pressure behave as on a socket; `bufferedAmount` counts bytes in flight.
 */
interface MemoryEnd extends MemoryTransport {
  peer?: MemoryEnd;
  deliver(d: Uint8Array | string): void;
  finish(code: number, reason: string): void;
}

export function memoryPair(): [MemoryTransport, MemoryTransport] {
  const make = (): MemoryEnd => {
    let handlers: TransportHandlers | undefined;
    const inbox: (Uint8Array | string)[] = [];
    let buffered = 0;
    let closed = false;
    let pendingClose: { code: number; reason: string } | undefined;
    const end: MemoryEnd = {
      peer: undefined,
      copiesOnSend: true, // send() below copies the message
      deliver(d: Uint8Array | string) {
        if (closed) return;
        if (handlers) handlers.message(d);
        else inbox.push(d);
      },
      finish(code: number, reason: string) {
        if (closed) return;
        closed = true;
        if (handlers) handlers.close(code, reason);
        else pendingClose = { code, reason };
      },
      send(data: Uint8Array | string) {
        if (closed) return;
        const size = typeof data === "string" ? data.length : data.byteLength;
        const copy = typeof data === "string" ? data : data.slice();
        buffered += size;
        setTimeout(() => {
          buffered -= size;
          end.peer?.deliver(copy);
        }, 0);
      },
      get bufferedAmount() {
        return buffered;
      },
      start(h: TransportHandlers) {
        handlers = h;
        for (const m of inbox.splice(0)) h.message(m);
        if (pendingClose) h.close(pendingClose.code, pendingClose.reason);
      },
      close(code = 1000, reason = "") {
        // Like a WebSocket: what was sent before the close still arrives, then the close.
        setTimeout(() => {
          end.peer?.finish(code, reason);
          end.finish(code, reason);
        }, 0);
      },
      cut() {
        end.peer?.finish(1006, "cut");
        end.finish(1006, "cut");
      },
    };
    return end;
  };
  const a = make();
  const b = make();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/**
 * An agent of an earlier version, as far as the hub can tell: a stand-in whose hello names only `features`
 * (by default those the agents before credential rotation named). It records the operations it is asked and
 * answers none: it resets each stream, as an older agent's strict schema does with a request it does not know.
 */
import {
  Channel,
  FEATURE_DELIVERY,
  FEATURE_INSTANCE_PATH,
  Reason,
  Session,
  webSocketTransport,
} from "@conduit/shared/tunnel";

export interface OlderAgent {
  /** The `op` of each request it was sent. */
  asked: string[];
  /** Resolves once the hub accepted its hello. */
  ready: Promise<void>;
  close(): void;
}

export function olderAgent(
  hub: { tunnelUrl: string },
  site: string,
  credential: string,
  features: string[] = [FEATURE_INSTANCE_PATH, FEATURE_DELIVERY],
): OlderAgent {
  const asked: string[] = [];
  const Ctor = WebSocket as unknown as new (u: string, o: { headers: HeadersInit }) => WebSocket;
  const ws = new Ctor(hub.tunnelUrl, { headers: { authorization: `Bearer ${credential}` } });
  let session: Session | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    ws.onopen = () =>
      ws.send(JSON.stringify({
        protocol: "conduit-tunnel",
        version: 1,
        site,
        agentVersion: "0.0.9",
        maxFrame: 262144,
        features,
      }));
    ws.onerror = () => reject(new Error("the stand-in could not connect"));
    ws.onmessage = (e) => {
      if (!JSON.parse(String(e.data)).accepted) return reject(new Error("refused"));
      ws.onmessage = null;
      ws.onclose = null;
      session = new Session(webSocketTransport(ws), {
        side: "client",
        onStream: (stream) => {
          // The request's op is all it looks at (an older agent's strict schema refuses the unknown).
          void new Channel(stream).next().then((first) => {
            if (first?.kind === "json") asked.push(String((first.value as { op?: unknown }).op));
          }).catch(() => {}).finally(() => stream.reset("an older agent"));
        },
      });
      resolve();
    };
  });
  return { asked, ready, close: () => session?.close(Reason.Normal, "done") };
}

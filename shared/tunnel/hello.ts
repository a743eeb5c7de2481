/**
 * The versioned hello that opens a session, as WebSocket text messages before any frame: the agent
 * sends `Hello`, the hub answers `Welcome` (accepted, or refused with a reason code and closed).
 * Each side switches the socket to frames synchronously on the message that ends the hello, so a
 * frame sent right after it is never lost.
 */
import { z } from "zod";
import { LARGE_PAYLOAD, MAX_PAYLOAD, Reason } from "./frame.ts";
import { name } from "./_fields.ts";
import { closeSocket, type Transport, webSocketTransport } from "./transport.ts";
import { parseBuild } from "../build.ts";

export const PROTOCOL = "conduit-tunnel";
const PROTOCOL_VERSION = 1;

/**
 * The largest Data payload a side accepts, in its hello or welcome; a side that names none takes
 * MAX_PAYLOAD (64 KiB). Each side sends frames up to the smaller of the peer's figure and its own.
 */
const maxFrame = z.number().int().min(MAX_PAYLOAD).max(16 * 1024 * 1024);

/**
 * What an agent of this version does beyond what protocol version 1 began with, named in its hello so
 * that a newer hub asks it only what it understands (an older agent refuses request fields it does not
 * know). `instance-path`: `frames` and `bulkdata` requests may name the study and series of the path,
 * and an instance outside them is not found; and the node of the path, from which an instance the
 * archive does not hold is retrieved first.
 */
export const FEATURE_INSTANCE_PATH = "instance-path";
/** `delivery`: the agent answers the `delivery` request (how far objects got to one of its nodes). */
export const FEATURE_DELIVERY = "delivery";
/**
 * `series-transfer`: a `send` request may name `seriesInstanceUids`, and the agent then hands over (and
 * retrieves from its node) only those series of the study. An agent without it would refuse the field.
 */
export const FEATURE_SERIES_TRANSFER = "series-transfer";
/**
 * `transfer-deid-custom`: a `send` request's `deid` may carry `custom` (a custom profile) and
 * `clinicalTrial` (Clinical Trial attributes); an agent without it refuses them as unknown fields.
 */
export const FEATURE_TRANSFER_DEID_CUSTOM = "transfer-deid-custom";
/**
 * `credential`: the agent takes a new site credential from the hub (the `credential` request), saves it
 * durably in place of its own before it answers, and connects with it from then on.
 */
export const FEATURE_CREDENTIAL = "credential";
/**
 * `commitment-state`: the agent tells objects stored at a node that commits (Storage Commitment, PS3.4 J.3)
 * and awaiting its report from those being sent, when the hub asks with `committing: true` (`status`,
 * `objects`, `delivery`): a `committing` row state and counts. Without the flag it answers as before
 * (such rows in flight), which a hub of an earlier version checks.
 */
export const FEATURE_COMMITMENT_STATE = "commitment-state";
/**
 * `conflicts`: the agent answers the `conflicts` request (its record of objects received again with other
 * bytes, newest first); an agent without it resets the stream of an operation it does not know.
 */
export const FEATURE_CONFLICTS = "conflicts";
/**
 * `erase`: the agent answers the `erase` request (a study, series or instance taken out of the site for
 * good); an agent without it resets the stream of an operation it does not know.
 */
export const FEATURE_ERASE = "erase";
/**
 * `conflict-resolve`: the agent answers the `resolveConflict` request (keep the stored object or the
 * received copy of a keepBoth conflict), takes `before` (a stable cursor) and `unresolved` in the
 * `conflicts` request, and says how each listed conflict was resolved. An older agent's strict schema
 * refuses those fields, and it resets the stream of an operation it does not know.
 */
export const FEATURE_CONFLICT_RESOLVE = "conflict-resolve";
/**
 * `dead-letter-manage`: the agent answers `discardDead` (dead-letter rows deleted for good), `stranded` (rows
 * waiting for a destination no longer configured, by destination) and `abandon` (a destination's waiting
 * rows to the dead letter); an agent without it resets the stream of an operation it does not know.
 */
export const FEATURE_DEAD_LETTER_MANAGE = "dead-letter-manage";
/**
 * `delivery-not-stored`: asked with `listNotStored: true`, the agent's `delivery` answer lists each object
 * not yet stored at the node (waiting, or dead after its last attempt) with its last error, so that a
 * transfer's objects say which of them the node refused. An older agent's strict schema refuses the field.
 */
export const FEATURE_DELIVERY_NOT_STORED = "delivery-not-stored";
/**
 * `query-offset`: a `find` request may carry `offset`; the agent skips that many matches itself (in its
 * index's query, or of a node's answer) and `limit` and `dimse.maxFindResults` count the matches after them,
 * so that a page of QIDO-RS is one query and its skipped matches never cross the tunnel. An older agent's
 * strict schema refuses the field: the hub then asks it for offset + limit and skips them itself.
 */
export const FEATURE_QUERY_OFFSET = "query-offset";
/**
 * `objects-after`: an `objects` request may carry `after` (a row id), and the agent lists the transfer's rows
 * after it, so that the hub pages through a study of more than 10 000 objects (its check of what reached the
 * destination's node). An older agent's strict schema refuses the field: the hub then asks it for the rows at
 * once, and counts a study whose rows do not fit that answer at the destination's acknowledgement.
 */
export const FEATURE_OBJECTS_AFTER = "objects-after";
/**
 * `site-online`: the `siteOnline` request, which a hub sends an agent when another site connects, so that the
 * agent's rows for that site that failed unanswered (`site ... is not connected`) go at once instead of each
 * at the end of its backoff (up to `queue.backoffCapSeconds`). Not sent to an older agent (it resets the stream
 * of an operation it does not know): its rows wait out their backoff, as before.
 */
export const FEATURE_SITE_ONLINE = "site-online";
/**
 * `queue-held`: to a `status` request with `held: true` the agent also counts, of its queue depth, the rows a
 * window holds (a route's forwarding hours, a transfer's window): due later, not stuck. An older agent refuses
 * the flag, so it is not sent to one.
 */
export const FEATURE_QUEUE_HELD = "queue-held";
const FEATURES: string[] = [
  FEATURE_INSTANCE_PATH,
  FEATURE_DELIVERY,
  FEATURE_SERIES_TRANSFER,
  FEATURE_TRANSFER_DEID_CUSTOM,
  FEATURE_CREDENTIAL,
  FEATURE_COMMITMENT_STATE,
  FEATURE_CONFLICTS,
  FEATURE_ERASE,
  FEATURE_CONFLICT_RESOLVE,
  FEATURE_DEAD_LETTER_MANAGE,
  FEATURE_DELIVERY_NOT_STORED,
  FEATURE_QUERY_OFFSET,
  FEATURE_OBJECTS_AFTER,
  FEATURE_SITE_ONLINE,
  FEATURE_QUEUE_HELD,
];

/**
 * When agents began to name each feature (the repository's history, UTC): a hub tells an agent without one
 * as older than that, since every version so far calls itself 0.1.0.
 */
const FEATURE_SINCE: Readonly<Record<string, string>> = {
  [FEATURE_INSTANCE_PATH]: "2026-12-04 21:41 UTC",
  [FEATURE_DELIVERY]: "2026-12-04 22:34 UTC",
  [FEATURE_SERIES_TRANSFER]: "2026-12-05 00:00 UTC",
  [FEATURE_TRANSFER_DEID_CUSTOM]: "2026-12-05 00:36 UTC",
  [FEATURE_CREDENTIAL]: "2026-12-05 00:28 UTC",
  [FEATURE_COMMITMENT_STATE]: "2026-12-05 03:08 UTC",
  [FEATURE_CONFLICTS]: "2026-12-05 06:41 UTC",
  [FEATURE_ERASE]: "2026-12-05 09:03 UTC",
  [FEATURE_CONFLICT_RESOLVE]: "2026-12-05 08:53 UTC",
  [FEATURE_DEAD_LETTER_MANAGE]: "2026-12-05 17:08 UTC",
  [FEATURE_DELIVERY_NOT_STORED]: "2026-12-05 23:34 UTC",
  [FEATURE_QUERY_OFFSET]: "2026-12-06 05:34 UTC",
  [FEATURE_OBJECTS_AFTER]: "2026-12-06 05:34 UTC",
  [FEATURE_SITE_ONLINE]: "2026-12-07 20:40 UTC",
  [FEATURE_QUEUE_HELD]: "2026-12-08 01:30 UTC",
};

/**
 * An agent's version as a hub's message names one without `feature`: `0.0.9, older than 2026-12-05 09:03 UTC`
 * (the version alone tells nothing: it has been 0.1.0 since the first); an agent that names its build
 * (shared/build.ts, since 2026-12-06): `0.1.0+140c00aa (2026-12-06), which lacks the feature "erase"`.
 */
export function versionWithout(agentVersion: string | undefined, feature: string): string {
  if (parseBuild(agentVersion)) return `${agentVersion}, which lacks the feature ${JSON.stringify(feature)}`;
  const since = FEATURE_SINCE[feature];
  const before = since ? `older than ${since}` : "";
  return [agentVersion, before].filter(Boolean).join(", ") || "unknown version";
}

// Fields a later version adds are ignored (not refused), so that its hello and welcome still open a
// session with this one.
export const Hello = z.object({
  protocol: z.literal(PROTOCOL),
  version: z.number().int(),
  site: name,
  agentVersion: z.string().max(64),
  maxFrame: maxFrame.optional(),
  /** Names this hub does not know are kept and ignored. */
  features: z.array(z.string().max(64)).max(64).optional(),
});
export type Hello = z.infer<typeof Hello>;

export const Welcome = z.discriminatedUnion("accepted", [
  z.object({
    protocol: z.literal(PROTOCOL),
    version: z.number().int(),
    accepted: z.literal(true),
    site: name,
    hubVersion: z.string().max(64),
    /** Seconds between the agent's heartbeats. */
    heartbeatSeconds: z.number().positive(),
    /**
     * Seconds a heartbeat may go unanswered before the session is given up: the hub's own timeout, which
     * the agent then uses too (a hub from before it names none, and the agent keeps its 10 s).
     */
    heartbeatTimeoutSeconds: z.number().positive().optional(),
    maxFrame: maxFrame.optional(),
  }),
  z.object({
    protocol: z.literal(PROTOCOL),
    version: z.number().int(),
    accepted: z.literal(false),
    reason: z.number().int(),
    message: z.string(),
  }),
]);
export type Welcome = z.infer<typeof Welcome>;

export class HandshakeError extends Error {
  override name = "HandshakeError";
  constructor(readonly reason: number, message: string) {
    super(message);
  }
}

type Accepted = Extract<Welcome, { accepted: true }>;

/** How a hub refuses a first message that is not a hello it reads (an older hub: a hello with new fields). */
const INVALID_HELLO = "the first message is not a valid hello";

/**
 * Whether `err` is a hub's refusal of the agent's hello as not valid. A hub from before 2026-12-04 (before
 * `maxFrame`) reads a hello strictly and refuses one with fields it does not know, and a hub of this version
 * takes every hello an agent sends: the agent then greets again with `minimal` (the first version's hello).
 */
export function isInvalidHelloRefusal(err: unknown): boolean {
  return err instanceof HandshakeError && err.reason === Reason.ProtocolError &&
    err.message.endsWith(`refused the session: ${INVALID_HELLO}`);
}

/** The Data payload to send to a peer that offered `maxFrame` in its hello or welcome (or nothing). */
export function framePayloadFor(maxFrame: number | undefined): number {
  return Math.min(maxFrame ?? MAX_PAYLOAD, LARGE_PAYLOAD);
}

/**
 * Agent side: sends the hello and resolves with the welcome and the transport for the session. `minimal`:
 * the hello of protocol version 1 as it began, without `maxFrame` and `features`, for a hub that refused
 * them (`isInvalidHelloRefusal`); it then sends 64 KiB frames and is asked nothing beyond version 1.
 */
export function clientHandshake(
  ws: WebSocket,
  hello: Omit<Hello, "protocol" | "version" | "maxFrame" | "features">,
  timeoutMs = 10_000,
  minimal = false,
): Promise<{ welcome: Accepted; transport: Transport }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.close(4000 + Reason.ProtocolError, "no welcome");
      reject(new HandshakeError(Reason.ProtocolError, `no welcome from the hub within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.onclose = (e) => {
      clearTimeout(timer);
      const reason = e.code >= 4000 && e.code < 4100 ? e.code - 4000 : Reason.InternalError;
      reject(new HandshakeError(reason, `the hub closed the socket (${e.code}) ${e.reason}`.trim()));
    };
    ws.onmessage = (e) => {
      clearTimeout(timer);
      const parsed = typeof e.data === "string" ? safeJson(e.data, Welcome) : undefined;
      if (!parsed) {
        ws.close(4000 + Reason.ProtocolError, "bad welcome");
        return reject(new HandshakeError(Reason.ProtocolError, "the hub's first message is not a welcome"));
      }
      if (!parsed.accepted) {
        closeSocket(ws, 4000 + parsed.reason, parsed.message);
        return reject(new HandshakeError(parsed.reason, `the hub refused the session: ${parsed.message}`));
      }
      ws.onclose = null;
      resolve({ welcome: parsed, transport: webSocketTransport(ws) });
    };
    ws.send(
      JSON.stringify(
        {
          protocol: PROTOCOL,
          version: PROTOCOL_VERSION,
          ...hello,
          ...(minimal ? {} : { maxFrame: LARGE_PAYLOAD, features: FEATURES }),
        } satisfies Hello,
      ),
    );
  });
}

/**
 * Hub side: waits for the hello, asks `decide` whether to accept it, and answers. On acceptance
 * `start` runs with the transport right after the welcome is sent.
 */
export function serverHandshake<T>(
  ws: WebSocket,
  decide: (
    hello: Hello,
  ) => Promise<
    { ok: true; heartbeatSeconds: number; heartbeatTimeoutSeconds?: number; hubVersion: string } | {
      ok: false;
      reason: number;
      message: string;
    }
  >,
  start: (hello: Hello, transport: Transport) => T,
  timeoutMs = 10_000,
): Promise<T> {
  const refuse = (reason: number, message: string) => {
    // The socket may be closing already (the agent left as the hello timed out): a send would throw in a
    // timer, which ends the hub. The refusal is then only the close.
    if (ws.readyState === WebSocket.OPEN) {
      try {
        ws.send(JSON.stringify(refusal(reason, message)));
      } catch { /* closed meanwhile */ }
    }
    closeSocket(ws, 4000 + reason, message);
    return new HandshakeError(reason, message);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(refuse(Reason.ProtocolError, `no hello within ${timeoutMs} ms`)),
      timeoutMs,
    );
    ws.onclose = () => {
      clearTimeout(timer);
      reject(new HandshakeError(Reason.Normal, "the agent left during the hello"));
    };
    ws.onmessage = async (e) => {
      clearTimeout(timer);
      ws.onmessage = null;
      const raw = typeof e.data === "string" ? safeRaw(e.data) : undefined;
      if (raw && typeof raw === "object" && "version" in raw && raw.version !== PROTOCOL_VERSION) {
        // Anything but a number is not quoted back (nor logged): it may be of any size.
        const theirs = typeof raw.version === "number" ? raw.version : `of type ${typeof raw.version}`;
        return reject(
          refuse(Reason.BadVersion, `protocol version ${theirs}; this hub speaks ${PROTOCOL_VERSION}`),
        );
      }
      const parsed = Hello.safeParse(raw);
      if (!parsed.success) {
        return reject(refuse(Reason.ProtocolError, INVALID_HELLO));
      }
      const hello = parsed.data;
      let verdict;
      try {
        verdict = await decide(hello);
      } catch (err) {
        // The agent learns only that the hub failed (a database error names tables and columns); the
        // hub's log gets why.
        refuse(Reason.InternalError, "the hub could not check the hello; try again later");
        return reject(new HandshakeError(Reason.InternalError, `hub error: ${(err as Error).message}`));
      }
      if (!verdict.ok) return reject(refuse(verdict.reason, verdict.message));
      if (ws.readyState !== WebSocket.OPEN) {
        return reject(new HandshakeError(Reason.Normal, "the agent left"));
      }
      ws.onclose = null;
      const welcome: Welcome = {
        protocol: PROTOCOL,
        version: PROTOCOL_VERSION,
        accepted: true,
        site: hello.site,
        hubVersion: verdict.hubVersion,
        heartbeatSeconds: verdict.heartbeatSeconds,
        // Only to an agent that offered a frame size: an agent from before maxFrame refuses a welcome
        // with fields it does not know, and a hub is upgraded before its agents. Every agent that offers
        // one ignores the fields it does not know (heartbeatTimeoutSeconds came later).
        ...(hello.maxFrame === undefined ? {} : {
          maxFrame: LARGE_PAYLOAD,
          ...(verdict.heartbeatTimeoutSeconds === undefined
            ? {}
            : { heartbeatTimeoutSeconds: verdict.heartbeatTimeoutSeconds }),
        }),
      };
      // Welcome first, then the session, in one synchronous step: the agent's first frame cannot
      // arrive in between, and a frame the session sends at once goes out after the welcome.
      ws.send(JSON.stringify(welcome));
      resolve(start(hello, webSocketTransport(ws)));
    };
  });
}

/**
 * A refused Welcome: sent before a close with 4000 + reason, or as the body of the hub's 401 to an
 * upgrade without a valid credential (the agent reads it there: `refusalOf`).
 */
export function refusal(reason: number, message: string): Welcome {
  return { protocol: PROTOCOL, version: PROTOCOL_VERSION, accepted: false, reason, message };
}

/**
 * The HandshakeError a refused upgrade stands for: an HTTP answer instead of `101 Switching Protocols`
 * whose body is a refused Welcome (a hub refuses a bad credential so, before any WebSocket); undefined
 * for any other answer.
 */
export function refusalOf(body: string): HandshakeError | undefined {
  const parsed = safeJson(body, Welcome);
  if (!parsed || parsed.accepted) return undefined;
  return new HandshakeError(parsed.reason, `the hub refused the session: ${parsed.message}`);
}

function safeRaw(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function safeJson<T>(
  text: string,
  schema: { safeParse(v: unknown): { success: boolean; data?: T } },
): T | undefined {
  const r = schema.safeParse(safeRaw(text));
  return r.success ? r.data : undefined;
}

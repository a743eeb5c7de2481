/**
 * The tunnel's frame, after yamux: a 12-byte header (version, type, flags, stream id, length) and,
 * for Data, the payload. One WebSocket binary message carries exactly one frame, so the transport
 * keeps the boundaries and a frame never straddles two messages.
 *
 *     0       1       2               4                       8                      12
 *     | ver   | type  | flags         | stream id             | length               | payload...
 *
 * For Data the length is the payload's; for WindowUpdate it is the credit added; for Ping an
 * opaque value echoed back; for GoAway the reason code.
 */

export const FRAME_VERSION = 1;
export const HEADER_BYTES = 12;
/** The Data payload every peer accepts: a side sends no larger frame unless its peer's hello allows it. */
export const MAX_PAYLOAD = 64 * 1024;
/**
 * The largest Data payload this version accepts, offered in the hello (`maxFrame`): a 0.5 MB object is
 * three frames instead of nine, and every frame costs each process on its way a message, its events and
 * a system call (issue 16: a transfer 4 % faster, its source's CPU about 8 % lower; bench/README.md).
 */
export const LARGE_PAYLOAD = 256 * 1024;

export const FrameType = { Data: 0, WindowUpdate: 1, Ping: 2, GoAway: 3 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const Flag = { SYN: 1, ACK: 2, FIN: 4, RST: 8 } as const;
const ALL_FLAGS = Flag.SYN | Flag.ACK | Flag.FIN | Flag.RST;

/**
 * Why a session ended, sent in GoAway and in the WebSocket close code (4000 + code). 0 to 2 are
 * yamux's; the rest name the bad input or the decision that ended the session.
 */
export const Reason = {
  Normal: 0,
  ProtocolError: 1,
  InternalError: 2,
  FlowControl: 3,
  UnknownStream: 4,
  Oversize: 5,
  BadVersion: 6,
  BadCredential: 7,
  Revoked: 8,
  HeartbeatTimeout: 9,
  Replaced: 10,
  TooManyStreams: 11,
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

export function reasonName(code: number): string {
  for (const [name, value] of Object.entries(Reason)) if (value === code) return name;
  return `Unknown(${code})`;
}

export interface Frame {
  type: FrameType;
  flags: number;
  stream: number;
  /** Credit, ping value or reason code; for Data, set from the payload. */
  length: number;
  payload?: Uint8Array;
}

/** A frame that breaks the protocol; the session ends with `reason`. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
  constructor(readonly reason: Reason, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export function encodeFrame(frame: Frame): Uint8Array {
  const payload = frame.type === FrameType.Data ? frame.payload ?? new Uint8Array(0) : undefined;
  const out = new Uint8Array(HEADER_BYTES + (payload?.byteLength ?? 0));
  const view = new DataView(out.buffer);
  view.setUint8(0, FRAME_VERSION);
  view.setUint8(1, frame.type);
  view.setUint16(2, frame.flags);
  view.setUint32(4, frame.stream);
  view.setUint32(8, payload ? payload.byteLength : frame.length);
  if (payload) out.set(payload, HEADER_BYTES);
  return out;
}

/**
 * Encodes `frame` into `out` (which must hold its header and payload) and returns the part written:
 * for senders whose transport copies each message before `send` returns, so one buffer serves every
 * frame (a fresh buffer per frame is an allocation V8 zeroes and the GC collects, at every 64 KiB).
 */
export function encodeFrameInto(frame: Frame, out: Uint8Array, view: DataView): Uint8Array {
  const payload = frame.type === FrameType.Data ? frame.payload : undefined;
  const length = payload ? payload.byteLength : 0;
  view.setUint8(0, FRAME_VERSION);
  view.setUint8(1, frame.type);
  view.setUint16(2, frame.flags);
  view.setUint32(4, frame.stream);
  view.setUint32(8, payload ? length : frame.type === FrameType.Data ? 0 : frame.length);
  if (payload) out.set(payload, HEADER_BYTES);
  return out.subarray(0, HEADER_BYTES + length);
}

/** Decodes one message into a frame, or throws a ProtocolError saying what is wrong with it. */
export function decodeFrame(bytes: Uint8Array, maxPayload = LARGE_PAYLOAD): Frame {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new ProtocolError(
      Reason.ProtocolError,
      `frame of ${bytes.byteLength} bytes is shorter than its header`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(0);
  if (version !== FRAME_VERSION) {
    throw new ProtocolError(Reason.BadVersion, `frame version ${version}, this side speaks ${FRAME_VERSION}`);
  }
  const type = view.getUint8(1);
  if (type > FrameType.GoAway) throw new ProtocolError(Reason.ProtocolError, `unknown frame type ${type}`);
  const flags = view.getUint16(2);
  if (flags & ~ALL_FLAGS) {
    throw new ProtocolError(Reason.ProtocolError, `unknown flags 0x${flags.toString(16)}`);
  }
  const stream = view.getUint32(4);
  const length = view.getUint32(8);
  const body = bytes.byteLength - HEADER_BYTES;
  if ((type === FrameType.Data || type === FrameType.WindowUpdate) && stream === 0) {
    throw new ProtocolError(Reason.ProtocolError, `frame type ${type} on stream 0`);
  }
  if (type === FrameType.Data) {
    if (length > maxPayload || body > maxPayload) {
      throw new ProtocolError(
        Reason.Oversize,
        `data frame of ${Math.max(length, body)} bytes (limit ${maxPayload})`,
      );
    }
    if (length !== body) {
      throw new ProtocolError(Reason.ProtocolError, `data frame says ${length} bytes and carries ${body}`);
    }
    return { type, flags, stream, length, payload: bytes.subarray(HEADER_BYTES) };
  }
  if (body !== 0) throw new ProtocolError(Reason.ProtocolError, `frame type ${type} carries a payload`);
  if ((type === FrameType.Ping || type === FrameType.GoAway) && stream !== 0) {
    throw new ProtocolError(Reason.ProtocolError, `frame type ${type} on stream ${stream} (must be 0)`);
  }
  return { type: type as FrameType, flags, stream, length };
}

/**
 * Encoding and decoding of raw DICOM upper-layer PDUs (PS3.8 9.3) for the fault tests: A-ASSOCIATE-RQ
 * with chosen AE titles and presentation contexts, P-DATA-TF, A-RELEASE-RQ and A-ABORT out; A-ASSOCIATE-AC
 * and -RJ, A-ABORT and P-DATA-TF in. Imported through tests/support/pdu.ts.
 */

/** PDU types (PS3.8 9.3.1). */
export const PduType = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PData: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

/** PDU names by type, for messages. */
export const PDU_NAMES: Record<number, string> = {
  0x01: "A-ASSOCIATE-RQ",
  0x02: "A-ASSOCIATE-AC",
  0x03: "A-ASSOCIATE-RJ",
  0x04: "P-DATA-TF",
  0x05: "A-RELEASE-RQ",
  0x06: "A-RELEASE-RP",
  0x07: "A-ABORT",
};

/** The DICOM application context name (PS3.7 A.2.1). */
export const APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1";

/** Presentation context results in an A-ASSOCIATE-AC (PS3.8 9.3.3.2). */
export const ContextResult = {
  Acceptance: 0,
  UserRejection: 1,
  NoReason: 2,
  AbstractSyntaxNotSupported: 3,
  TransferSyntaxesNotSupported: 4,
} as const;

const ascii = new TextEncoder();
const latin1 = new TextDecoder("latin1");

// ---------------------------------------------------------------------------------------------------
// Encoding

/** The parts one after the other in one array. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A PDU: type, reserved byte, 32-bit big-endian length, then the body. */
export function pdu(type: number, body: Uint8Array, announcedLength = body.length): Uint8Array {
  const out = new Uint8Array(6 + body.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(2, announcedLength >>> 0, false);
  out.set(body, 6);
  return out;
}

/** An association item or sub-item: type, reserved byte, 16-bit big-endian length, then the value. */
function item(type: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + value.length);
  out[0] = type;
  new DataView(out.buffer).setUint16(2, value.length, false);
  out.set(value, 4);
  return out;
}

/** An AE title as the 16 bytes of an A-ASSOCIATE-RQ (space padded). */
function aeField(aet: string): Uint8Array {
  const out = new Uint8Array(16).fill(0x20);
  out.set(ascii.encode(aet.slice(0, 16)));
  return out;
}

/** One presentation context to propose. */
export interface ContextProposal {
  /** Odd, 1 to 255. */
  id: number;
  abstractSyntax: string;
  transferSyntaxes: string[];
}

/** What an A-ASSOCIATE-RQ proposes. */
export interface AssociateRqOptions {
  calledAet: string;
  callingAet: string;
  contexts: ContextProposal[];
  /** Our maximum P-DATA-TF length; default 65536. */
  maxPduLength?: number;
  /** Default a 2.25 UID naming these tests. */
  implementationClassUid?: string;
  /** SCP/SCU Role Selection items (PS3.7 D.3.3.4): the SOP classes we offer to be the SCP of (a C-GET's). */
  scpRoles?: string[];
  /** SCP/SCU Role Selection items with both roles given, after those of `scpRoles`. */
  roles?: RoleSelection[];
  /** The Application Context Name; default DICOM's (PS3.7 A.2.1). */
  applicationContext?: string;
  /** The Protocol Version bits; default 1 (version 1, PS3.8 9.3.2). */
  protocolVersion?: number;
}

/** Builds an A-ASSOCIATE-RQ PDU. */
export function associateRq(opts: AssociateRqOptions): Uint8Array {
  const items: Uint8Array[] = [item(0x10, ascii.encode(opts.applicationContext ?? APPLICATION_CONTEXT))];
  for (const pc of opts.contexts) {
    const sub = [
      item(0x30, ascii.encode(pc.abstractSyntax)),
      ...pc.transferSyntaxes.map((ts) => item(0x40, ascii.encode(ts))),
    ];
    items.push(item(0x20, concat([new Uint8Array([pc.id, 0, 0, 0]), ...sub])));
  }
  const maxLength = new Uint8Array(4);
  new DataView(maxLength.buffer).setUint32(0, opts.maxPduLength ?? 65536, false);
  items.push(item(
    0x50,
    concat([
      item(0x51, maxLength),
      item(0x52, ascii.encode(opts.implementationClassUid ?? "2.25.1234567890123456789")),
      item(0x55, ascii.encode("CONDUIT_TEST")),
      ...[...(opts.scpRoles ?? []).map((uid) => ({ uid, scu: false, scp: true })), ...opts.roles ?? []].map(
        ({ uid, scu, scp }) => {
          const name = ascii.encode(uid);
          const length = new Uint8Array(2);
          new DataView(length.buffer).setUint16(0, name.length, false);
          return item(0x54, concat([length, name, new Uint8Array([scu ? 1 : 0, scp ? 1 : 0])]));
        },
      ),
    ]),
  ));
  const fixed = new Uint8Array(68);
  new DataView(fixed.buffer).setUint16(0, opts.protocolVersion ?? 1, false);
  fixed.set(aeField(opts.calledAet), 4);
  fixed.set(aeField(opts.callingAet), 20);
  return pdu(PduType.AssociateRq, concat([fixed, ...items]));
}

/** What an A-ASSOCIATE-AC answers (for tests that play the SCP). */
export interface AssociateAcOptions {
  calledAet: string;
  callingAet: string;
  contexts: { id: number; result: number; transferSyntax: string }[];
  /** Our maximum P-DATA-TF length (0: unlimited). */
  maxPduLength: number;
}

/** Builds an A-ASSOCIATE-AC PDU. */
export function associateAc(opts: AssociateAcOptions): Uint8Array {
  const items: Uint8Array[] = [item(0x10, ascii.encode(APPLICATION_CONTEXT))];
  for (const pc of opts.contexts) {
    items.push(
      item(
        0x21,
        concat([new Uint8Array([pc.id, 0, pc.result, 0]), item(0x40, ascii.encode(pc.transferSyntax))]),
      ),
    );
  }
  const maxLength = new Uint8Array(4);
  new DataView(maxLength.buffer).setUint32(0, opts.maxPduLength, false);
  items.push(
    item(0x50, concat([item(0x51, maxLength), item(0x52, ascii.encode("2.25.1234567890123456789"))])),
  );
  const fixed = new Uint8Array(68);
  new DataView(fixed.buffer).setUint16(0, 1, false);
  fixed.set(aeField(opts.calledAet), 4);
  fixed.set(aeField(opts.callingAet), 20);
  return pdu(PduType.AssociateAc, concat([fixed, ...items]));
}

/** One presentation data value: a fragment of a command or data set. */
export interface Pdv {
  contextId: number;
  command: boolean;
  last: boolean;
  value: Uint8Array;
}

/** Builds a P-DATA-TF PDU holding the PDVs in order. */
export function pdataTf(pdvs: Pdv[]): Uint8Array {
  const items = pdvs.map((p) => {
    const out = new Uint8Array(6 + p.value.length);
    new DataView(out.buffer).setUint32(0, p.value.length + 2, false);
    out[4] = p.contextId;
    out[5] = (p.command ? 1 : 0) | (p.last ? 2 : 0);
    out.set(p.value, 6);
    return out;
  });
  return pdu(PduType.PData, concat(items));
}

/** Splits a value into P-DATA-TF PDUs whose length stays within `maxPduLength` (one PDV each). */
export function pdataTfs(
  contextId: number,
  command: boolean,
  value: Uint8Array,
  maxPduLength: number,
): Uint8Array[] {
  const chunk = Math.max(1, maxPduLength - 6);
  const out: Uint8Array[] = [];
  let at = 0;
  do {
    const end = Math.min(value.length, at + chunk);
    out.push(pdataTf([{ contextId, command, last: end === value.length, value: value.subarray(at, end) }]));
    at = end;
  } while (at < value.length);
  return out;
}

/** A-RELEASE-RQ. */
export function releaseRq(): Uint8Array {
  return pdu(PduType.ReleaseRq, new Uint8Array(4));
}

/** A-RELEASE-RP (a test playing the SCP answers a release). */
export function releaseRp(): Uint8Array {
  return pdu(PduType.ReleaseRp, new Uint8Array(4));
}

/** A-ABORT with a source (0 service user, 2 service provider) and reason. */
export function abortPdu(source = 0, reason = 0): Uint8Array {
  return pdu(PduType.Abort, new Uint8Array([0, 0, source, reason]));
}

// ---------------------------------------------------------------------------------------------------
// Decoding

/** What one presentation context came back as in an A-ASSOCIATE-AC. */
export interface ContextAnswer {
  id: number;
  /** See {@link ContextResult}. */
  result: number;
  transferSyntax: string;
}

/** One SCP/SCU Role Selection item (PS3.7 D.3.3.4): the SOP class and the requestor's roles. */
export interface RoleSelection {
  uid: string;
  scu: boolean;
  scp: boolean;
}

/** A decoded A-ASSOCIATE-AC. */
export interface AssociateAc {
  calledAet: string;
  callingAet: string;
  contexts: ContextAnswer[];
  /** The peer's maximum P-DATA-TF length (0: unlimited). */
  maxPduLength: number;
  /** Implementation Class UID and Version Name (PS3.7 D.3.3.2), as the peer announced them. */
  implementationClassUid?: string;
  implementationVersionName?: string;
  /** The SCP/SCU Role Selection items answered, in their order. */
  roles: RoleSelection[];
}

/** An AE title or UID without its padding (NUL or space). */
export function uidText(bytes: Uint8Array): string {
  return latin1.decode(bytes).replace(/[\0 ]+$/, "");
}

/** Decodes the body (after the 6-byte header) of an A-ASSOCIATE-AC. */
export function decodeAssociateAc(body: Uint8Array): AssociateAc {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const ac: AssociateAc = {
    calledAet: latin1.decode(body.subarray(4, 20)).trim(),
    callingAet: latin1.decode(body.subarray(20, 36)).trim(),
    contexts: [],
    maxPduLength: 0,
    roles: [],
  };
  let at = 68;
  while (at + 4 <= body.length) {
    const type = body[at];
    const length = view.getUint16(at + 2, false);
    const value = body.subarray(at + 4, at + 4 + length);
    if (type === 0x21) {
      let transferSyntax = "";
      const sub = value.subarray(4);
      if (sub.length >= 4 && sub[0] === 0x40) {
        transferSyntax = uidText(sub.subarray(4, 4 + ((sub[2] << 8) | sub[3])));
      }
      ac.contexts.push({ id: value[0], result: value[2], transferSyntax });
    } else if (type === 0x50) {
      let s = 0;
      while (s + 4 <= value.length) {
        const subLength = (value[s + 2] << 8) | value[s + 3];
        if (value[s] === 0x51 && subLength === 4) {
          ac.maxPduLength = new DataView(value.buffer, value.byteOffset + s + 4, 4).getUint32(0, false);
        }
        if (value[s] === 0x52) ac.implementationClassUid = uidText(value.subarray(s + 4, s + 4 + subLength));
        if (value[s] === 0x55) {
          ac.implementationVersionName = uidText(value.subarray(s + 4, s + 4 + subLength));
        }
        if (value[s] === 0x54 && subLength >= 4) {
          const sub = value.subarray(s + 4, s + 4 + subLength);
          const uidLength = (sub[0] << 8) | sub[1];
          ac.roles.push({
            uid: uidText(sub.subarray(2, 2 + uidLength)),
            scu: sub[2 + uidLength] === 1,
            scp: sub[3 + uidLength] === 1,
          });
        }
        s += 4 + subLength;
      }
    }
    at += 4 + length;
  }
  return ac;
}

/** The presentation contexts an A-ASSOCIATE-RQ proposes (the body after its 6-byte header). */
export function decodeProposedContexts(body: Uint8Array): ContextProposal[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: ContextProposal[] = [];
  for (let at = 68; at + 4 <= body.length;) {
    const length = view.getUint16(at + 2, false);
    if (body[at] === 0x20) {
      const value = body.subarray(at + 4, at + 4 + length);
      const pc: ContextProposal = { id: value[0], abstractSyntax: "", transferSyntaxes: [] };
      for (let s = 4; s + 4 <= value.length;) {
        const subLength = (value[s + 2] << 8) | value[s + 3];
        const text = uidText(value.subarray(s + 4, s + 4 + subLength));
        if (value[s] === 0x30) pc.abstractSyntax = text;
        if (value[s] === 0x40) pc.transferSyntaxes.push(text);
        s += 4 + subLength;
      }
      out.push(pc);
    }
    at += 4 + length;
  }
  return out;
}

/** A decoded A-ASSOCIATE-RJ (PS3.8 9.3.4). */
export interface AssociateRj {
  /** 1 rejected-permanent, 2 rejected-transient. */
  result: number;
  /** 1 service user, 2 service provider (ACSE), 3 service provider (presentation). */
  source: number;
  reason: number;
}

/** Decodes the body of an A-ASSOCIATE-RJ. */
export function decodeAssociateRj(body: Uint8Array): AssociateRj {
  return { result: body[1], source: body[2], reason: body[3] };
}

/** A decoded A-ABORT (PS3.8 9.3.8). */
export interface Abort {
  /** 0 service user, 2 service provider. */
  source: number;
  reason: number;
}

/** Decodes the body of an A-ABORT. */
export function decodeAbort(body: Uint8Array): Abort {
  return { source: body[2], reason: body[3] };
}

/** Decodes the PDV items of a P-DATA-TF body. */
export function decodePdata(body: Uint8Array): Pdv[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: Pdv[] = [];
  let at = 0;
  while (at + 6 <= body.length) {
    const length = view.getUint32(at, false);
    const control = body[at + 5];
    out.push({
      contextId: body[at + 4],
      command: (control & 1) === 1,
      last: (control & 2) === 2,
      value: body.subarray(at + 6, at + 4 + length),
    });
    at += 4 + length;
  }
  return out;
}

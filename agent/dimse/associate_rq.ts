/**
 * What the DIMSE library does not check of an A-ASSOCIATE-RQ (PS3.8 9.3.2): the Protocol Version, which it
 * reads and ignores, the Application Context Name, which it skips and then answers with its own, whatever
 * was proposed, and the Presentation Context IDs, which it renumbers when one repeats (answering an ID the
 * requestor never proposed); and the layout of either association PDU, RQ or AC (PS3.8 9.3.3).
 */

/** The DICOM Application Context Name (PS3.7 A.2.1), the only one there is. */
export const DICOM_APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1";

/** Fixed fields of an A-ASSOCIATE-RQ after its 6-byte PDU header, before the variable items. */
const FIXED = 6 + 68;

/** The fields of an A-ASSOCIATE-RQ the agent checks itself. */
export interface AssociateRqFields {
  /** Protocol Version bits; bit 0 is version 1, the only one (0 when the PDU is too short to say). */
  protocolVersion: number;
  /** Application Context Name; undefined when the PDU holds none. */
  applicationContext: string | undefined;
  /** The Presentation Context IDs proposed, in order (a repeated one twice). */
  contextIds: number[];
}

/** Reads {@link AssociateRqFields} from an A-ASSOCIATE-RQ PDU (header included). */
export function readAssociateRq(pdu: Uint8Array): AssociateRqFields {
  return {
    protocolVersion: pdu.length >= 8 ? (pdu[6] << 8) | pdu[7] : 0,
    applicationContext: proposedApplicationContext(pdu),
    contextIds: items(pdu).filter((item) => item.type === 0x20 && item.value.length > 0).map((item) =>
      item.value[0]
    ),
  };
}

/** The variable items of an A-ASSOCIATE-RQ PDU, the last one cut at the PDU's end. */
function items(pdu: Uint8Array): { type: number; value: Uint8Array }[] {
  const view = new DataView(pdu.buffer, pdu.byteOffset, pdu.byteLength);
  const out: { type: number; value: Uint8Array }[] = [];
  for (let at = FIXED; at + 4 <= pdu.length;) {
    const length = view.getUint16(at + 2, false);
    out.push({ type: pdu[at], value: pdu.subarray(at + 4, Math.min(pdu.length, at + 4 + length)) });
    at += 4 + length;
  }
  return out;
}

/**
 * The Application Context Name of an A-ASSOCIATE-RQ PDU (header included), trailing NULs and spaces removed;
 * undefined when the PDU holds no Application Context item (0x10) before its items run out.
 */
export function proposedApplicationContext(pdu: Uint8Array): string | undefined {
  const item = items(pdu).find((item) => item.type === 0x10);
  return item && String.fromCharCode(...item.value).replace(/[\0 ]+$/, "");
}

/** Sub-items of a Presentation Context (0x20) or User Information (0x50) item, after the given offset. */
function subItemsFit(value: Uint8Array, from: number): string | undefined {
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  for (let at = from; at < value.length;) {
    if (at + 4 > value.length) return "a sub-item header runs past its item";
    const type = value[at];
    const length = view.getUint16(at + 2, false);
    if (at + 4 + length > value.length) return `sub-item 0x${type.toString(16)} runs past its item`;
    const sub = value.subarray(at + 4, at + 4 + length);
    const fixed = FIXED_SUB_ITEMS[type];
    if (fixed !== undefined && length !== fixed) return `sub-item 0x${type.toString(16)} of ${length} bytes`;
    const inner = INNER_LENGTHS[type]?.(sub);
    if (inner) return `sub-item 0x${type.toString(16)}: ${inner}`;
    at += 4 + length;
  }
  return undefined;
}

/** User Information sub-items of a fixed length that the DIMSE library reads whatever their length says. */
const FIXED_SUB_ITEMS: Record<number, number> = { 0x51: 4, 0x53: 4 };

/** Checks of the lengths inside sub-items the DIMSE library reads field by field. */
const INNER_LENGTHS: Record<number, (sub: Uint8Array) => string | undefined> = {
  // SCP/SCU Role Selection: UID length, UID, SCU role, SCP role.
  0x54: (sub) =>
    sub.length >= 2 && 2 + ((sub[0] << 8) | sub[1]) + 2 === sub.length ? undefined : "lengths disagree",
  // User Identity: type, positive response requested, primary field length and value, secondary likewise.
  0x58: (sub) => {
    if (sub.length < 4) return "too short";
    const primary = (sub[2] << 8) | sub[3];
    if (4 + primary + 2 > sub.length) return "primary field runs past it";
    const secondary = (sub[4 + primary] << 8) | sub[5 + primary];
    return 4 + primary + 2 + secondary === sub.length ? undefined : "lengths disagree";
  },
};

/**
 * Why an A-ASSOCIATE-RQ PDU (header included) cannot be read as PS3.8 9.3.2 lays it out, or undefined: fixed
 * fields cut short, an item or sub-item running past what holds it, a sub-item whose own lengths disagree with
 * its length. The DIMSE library would fail on these and close the connection without a word, or read on
 * misaligned.
 */
export function associateRqMalformed(pdu: Uint8Array): string | undefined {
  return itemsMalformed(pdu, "A-ASSOCIATE-RQ", 0x20);
}

/**
 * Why an A-ASSOCIATE-AC PDU (header included) cannot be read as PS3.8 9.3.3 lays it out, or undefined: the
 * checks of {@link associateRqMalformed}, and the items an answer must hold: a presentation context item at
 * least, each accepted one with its transfer syntax, and the User Information item with the Maximum Length.
 * The DIMSE library would read on misaligned, fail without a word, or take an answer with nothing in it.
 */
export function associateAcMalformed(pdu: Uint8Array): string | undefined {
  const structure = itemsMalformed(pdu, "A-ASSOCIATE-AC", 0x21);
  if (structure) return structure;
  const all = items(pdu);
  const contexts = all.filter((item) => item.type === 0x21);
  if (contexts.length === 0) return "A-ASSOCIATE-AC without a presentation context item";
  for (const { value } of contexts) {
    // Result 0 (acceptance) names the one transfer syntax chosen (sub-item 0x40).
    if (value[2] === 0 && value[4] !== 0x40) {
      return `A-ASSOCIATE-AC: presentation context ${value[0]} accepted without a transfer syntax`;
    }
  }
  const user = all.find((item) => item.type === 0x50);
  if (!user || !subItems(user.value).some((type) => type === 0x51)) {
    return "A-ASSOCIATE-AC without a Maximum Length (User Information item)";
  }
  return undefined;
}

/** The item or sub-item layout check both association PDUs share; `contextType` is 0x20 (RQ) or 0x21 (AC). */
function itemsMalformed(pdu: Uint8Array, name: string, contextType: number): string | undefined {
  if (pdu.length < FIXED) {
    return `${name} of ${Math.max(0, pdu.length - 6)} bytes, shorter than its fixed fields`;
  }
  const view = new DataView(pdu.buffer, pdu.byteOffset, pdu.byteLength);
  for (let at = FIXED; at < pdu.length;) {
    if (at + 4 > pdu.length) return `${name}: an item header runs past the PDU`;
    const type = pdu[at];
    const length = view.getUint16(at + 2, false);
    if (at + 4 + length > pdu.length) return `${name}: item 0x${type.toString(16)} runs past the PDU`;
    const value = pdu.subarray(at + 4, at + 4 + length);
    const inner = type === contextType
      ? subItemsFit(value, 4)
      : type === 0x50
      ? subItemsFit(value, 0)
      : undefined;
    if (inner) return `${name}: item 0x${type.toString(16)}: ${inner}`;
    if (type === contextType && length < 4) return `${name}: a presentation context item of under 4 bytes`;
    at += 4 + length;
  }
  return undefined;
}

/** The types of the sub-items of a User Information item (checked to fit before). */
function subItems(value: Uint8Array): number[] {
  const types: number[] = [];
  for (let at = 0; at + 4 <= value.length; at += 4 + ((value[at + 2] << 8) | value[at + 3])) {
    types.push(value[at]);
  }
  return types;
}

/**
 * What the DIMSE library does not check of an A-ASSOCIATE-RQ (PS3.8 9.3.2): the Protocol Version, which it
 * reads and ignores, the Application Context Name, which it skips and then answers with its own, whatever
 * was proposed, and the Presentation Context IDs, which it renumbers when one repeats (answering an ID the
 * requestor never proposed).
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

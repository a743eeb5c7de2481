/**
 * What the DIMSE library does not read of an A-ASSOCIATE-RQ (PS3.8 9.3.2): the Application Context Name,
 * which it skips and then answers with its own, whatever was proposed.
 */

/** The DICOM Application Context Name (PS3.7 A.2.1), the only one there is. */
export const DICOM_APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1";

/** Fixed fields of an A-ASSOCIATE-RQ after its 6-byte PDU header, before the variable items. */
const FIXED = 6 + 68;

/**
 * The Application Context Name of an A-ASSOCIATE-RQ PDU (header included), trailing NULs and spaces removed;
 * undefined when the PDU holds no Application Context item (0x10) before its items run out.
 */
export function proposedApplicationContext(pdu: Uint8Array): string | undefined {
  const view = new DataView(pdu.buffer, pdu.byteOffset, pdu.byteLength);
  for (let at = FIXED; at + 4 <= pdu.length;) {
    const length = view.getUint16(at + 2, false);
    if (pdu[at] === 0x10) {
      const value = pdu.subarray(at + 4, Math.min(pdu.length, at + 4 + length));
      return String.fromCharCode(...value).replace(/[\0 ]+$/, "");
    }
    at += 4 + length;
  }
  return undefined;
}

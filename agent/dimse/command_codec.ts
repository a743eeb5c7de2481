/**
 * The DIMSE command set (group 0000, always implicit VR little endian, PS3.7 E.1) encoded and
 * decoded directly. The library goes through dcmjs's general data set code for every message,
 * which costs a third of a millisecond each way; commands are a dozen small fixed elements.
 */

type Vr = "UI" | "US" | "UL" | "AE" | "LO" | "AT" | "SH";

/** Command elements by keyword (as dcmjs names them), with tag and VR. */
const COMMAND: Record<string, [number, Vr]> = {
  CommandGroupLength: [0x00000000, "UL"],
  AffectedSOPClassUID: [0x00000002, "UI"],
  RequestedSOPClassUID: [0x00000003, "UI"],
  CommandField: [0x00000100, "US"],
  MessageID: [0x00000110, "US"],
  MessageIDBeingRespondedTo: [0x00000120, "US"],
  MoveDestination: [0x00000600, "AE"],
  Priority: [0x00000700, "US"],
  CommandDataSetType: [0x00000800, "US"],
  Status: [0x00000900, "US"],
  OffendingElement: [0x00000901, "AT"],
  ErrorComment: [0x00000902, "LO"],
  ErrorID: [0x00000903, "US"],
  AffectedSOPInstanceUID: [0x00001000, "UI"],
  RequestedSOPInstanceUID: [0x00001001, "UI"],
  EventTypeID: [0x00001002, "US"],
  AttributeIdentifierList: [0x00001005, "AT"],
  ActionTypeID: [0x00001008, "US"],
  NumberOfRemainingSuboperations: [0x00001020, "US"],
  NumberOfCompletedSuboperations: [0x00001021, "US"],
  NumberOfFailedSuboperations: [0x00001022, "US"],
  NumberOfWarningSuboperations: [0x00001023, "US"],
  MoveOriginatorApplicationEntityTitle: [0x00001030, "AE"],
  MoveOriginatorMessageID: [0x00001031, "US"],
};

const BY_TAG = new Map(Object.entries(COMMAND).map(([k, [tag, vr]]) => [tag, [k, vr] as const]));
const latin = new TextDecoder("latin1");

/** Encodes a naturalized command set; undefined when it holds an element we do not know. */
export function encodeCommand(elements: Record<string, unknown>): Buffer | undefined {
  const parts: { tag: number; bytes: Buffer }[] = [];
  for (const [keyword, raw] of Object.entries(elements)) {
    if (keyword === "CommandGroupLength" || keyword === "_vrMap") continue;
    const spec = COMMAND[keyword];
    if (!spec) return undefined;
    if (raw === undefined || raw === null) continue;
    const [tag, vr] = spec;
    const value = encodeValue(vr, raw);
    if (!value) return undefined;
    const el = Buffer.allocUnsafe(8 + value.length);
    el.writeUInt16LE(tag >>> 16, 0);
    el.writeUInt16LE(tag & 0xffff, 2);
    el.writeUInt32LE(value.length, 4);
    value.copy(el, 8);
    parts.push({ tag, bytes: el });
  }
  parts.sort((a, b) => a.tag - b.tag);
  const body = Buffer.concat(parts.map((p) => p.bytes));
  const head = Buffer.allocUnsafe(12);
  head.writeUInt32LE(0, 0); // (0000,0000)
  head.writeUInt32LE(4, 4);
  head.writeUInt32LE(body.length, 8);
  return Buffer.concat([head, body]);
}

function encodeValue(vr: Vr, raw: unknown): Buffer | undefined {
  switch (vr) {
    case "US": {
      const values = (Array.isArray(raw) ? raw : [raw]).map(Number);
      if (values.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffff)) return undefined;
      const b = Buffer.allocUnsafe(2 * values.length);
      values.forEach((v, i) => b.writeUInt16LE(v, 2 * i));
      return b;
    }
    case "UL": {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32LE(Number(raw) >>> 0, 0);
      return b;
    }
    case "AT":
      return undefined; // rare in what we send: leave it to the library
    default: {
      const text = Array.isArray(raw) ? raw.join("\\") : String(raw);
      if (!/^[\x20-\x7e]*$/.test(text)) return undefined;
      const pad = text.length % 2 ? (vr === "UI" ? "\0" : " ") : "";
      return Buffer.from(text + pad, "latin1");
    }
  }
}

/** Decodes an implicit VR little endian command set; undefined when it is not one we can read. */
export function decodeCommand(bytes: Uint8Array): Record<string, unknown> | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Record<string, unknown> = {};
  let at = 0;
  while (at + 8 <= bytes.length) {
    const group = view.getUint16(at, true);
    const element = view.getUint16(at + 2, true);
    const length = view.getUint32(at + 4, true);
    if (group !== 0 || at + 8 + length > bytes.length) return undefined;
    const tag = element;
    const spec = BY_TAG.get(tag);
    if (!spec) return undefined;
    const [keyword, vr] = spec;
    const v = bytes.subarray(at + 8, at + 8 + length);
    switch (vr) {
      case "US":
        if (length % 2) return undefined;
        out[keyword] = length === 2
          ? view.getUint16(at + 8, true)
          : Array.from({ length: length / 2 }, (_, i) => view.getUint16(at + 8 + 2 * i, true));
        break;
      case "UL":
        if (length !== 4) return undefined;
        out[keyword] = view.getUint32(at + 8, true);
        break;
      case "AT":
        return undefined;
      default:
        out[keyword] = latin.decode(v).replace(/[\0 ]+$/, "").replace(/^ +/, "");
    }
    at += 8 + length;
  }
  return at === bytes.length ? out : undefined;
}

/**
 * Command Field values an association with the agent carries (PS3.7 E.1-1): the DIMSE-C requests and their
 * responses, and the DIMSE-N messages of Storage Commitment (the agent as its SCP and as its SCU).
 */
const DIMSE_C_COMMANDS = new Set([
  0x0001, // C-STORE-RQ
  0x8001,
  0x0010, // C-GET-RQ
  0x8010,
  0x0020, // C-FIND-RQ
  0x8020,
  0x0021, // C-MOVE-RQ
  0x8021,
  0x0030, // C-ECHO-RQ
  0x8030,
  0x0fff, // C-CANCEL-RQ
  // Storage Commitment Push Model (PS3.4 J.3): as SCP, the requester's N-ACTION-RQ and the N-EVENT-REPORT-RSP
  // to our report; as SCU (forwarding to a node with storageCommitment), the N-ACTION-RSP to our request and
  // the node's N-EVENT-REPORT-RQ
  0x0130, // N-ACTION-RQ
  0x8130, // N-ACTION-RSP
  0x0100, // N-EVENT-REPORT-RQ
  0x8100, // N-EVENT-REPORT-RSP
]);
/** Command Data Set Type (0000,0800) meaning "no data set follows". */
const NO_DATA_SET = 0x0101;

/** What a received command set is, or why it cannot be one. */
export type CommandCheck =
  | { ok: true; commandField: number; hasDataset: boolean }
  | { ok: false; problem: string };

/**
 * Checks a received command set (implicit VR little endian, PS3.7 6.3.1) before the library reads it:
 * every element in group 0000 and within the bytes, a group length that matches, a known Command Field
 * (DIMSE-C, or the Storage Commitment DIMSE-N) and a Command Data Set Type. Elements we do not know are
 * allowed (retired ones).
 */
export function checkCommandSet(bytes: Uint8Array): CommandCheck {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tagText = (element: number) => `(0000,${element.toString(16).padStart(4, "0").toUpperCase()})`;
  let at = 0;
  let commandField: number | undefined;
  let dataSetType: number | undefined;
  while (at + 8 <= bytes.length) {
    const group = view.getUint16(at, true);
    const element = view.getUint16(at + 2, true);
    const length = view.getUint32(at + 4, true);
    if (group !== 0) {
      return { ok: false, problem: `an element of group ${group.toString(16)} in a command set` };
    }
    if (length > bytes.length - at - 8) {
      return { ok: false, problem: `${tagText(element)} announces ${length} bytes, beyond the command set` };
    }
    const value = at + 8;
    if (element === 0x0000) {
      if (length !== 4 || view.getUint32(value, true) !== bytes.length - value - 4) {
        return { ok: false, problem: "the command group length is not the command set's length" };
      }
    } else if (element === 0x0100 || element === 0x0800) {
      if (length !== 2) return { ok: false, problem: `${tagText(element)} is not a US value` };
      if (element === 0x0100) commandField = view.getUint16(value, true);
      else dataSetType = view.getUint16(value, true);
    }
    at = value + length;
  }
  if (at !== bytes.length) return { ok: false, problem: "the command set ends inside an element header" };
  if (commandField === undefined) return { ok: false, problem: "the command set has no Command Field" };
  if (!DIMSE_C_COMMANDS.has(commandField)) {
    return { ok: false, problem: `unknown Command Field 0x${commandField.toString(16).padStart(4, "0")}` };
  }
  if (dataSetType === undefined) {
    return { ok: false, problem: "the command set has no Command Data Set Type" };
  }
  return { ok: true, commandField, hasDataset: dataSetType !== NO_DATA_SET };
}

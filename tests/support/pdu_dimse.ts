/**
 * DIMSE command sets (always implicit VR little endian, PS3.7 6.3.1) for the raw PDUs of
 * tests/support/pdu_codec.ts: C-STORE-RQ and C-ECHO-RQ out, any command set in. Imported through
 * tests/support/pdu.ts.
 */
import { concat, uidText } from "./pdu_codec.ts";

const ascii = new TextEncoder();

/** Command Field values (PS3.7 E.1). */
export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
  NEventReportRq: 0x0100,
  NEventReportRsp: 0x8100,
  NActionRq: 0x0130,
  NActionRsp: 0x8130,
} as const;

/** Tags of the command elements used here. */
export const CommandTag = {
  AffectedSopClassUid: 0x00000002,
  RequestedSopClassUid: 0x00000003,
  CommandField: 0x00000100,
  MessageId: 0x00000110,
  MessageIdBeingRespondedTo: 0x00000120,
  Priority: 0x00000700,
  CommandDataSetType: 0x00000800,
  Status: 0x00000900,
  AffectedSopInstanceUid: 0x00001000,
  RequestedSopInstanceUid: 0x00001001,
  EventTypeId: 0x00001002,
  ActionTypeId: 0x00001008,
  ErrorComment: 0x00000902,
} as const;

type CommandValue = { uid: string } | { us: number };

/** One element in implicit VR little endian: tag, 32-bit length, value. */
export function implicitElement(tag: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + value.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, tag >>> 16, true);
  view.setUint16(2, tag & 0xffff, true);
  view.setUint32(4, value.length, true);
  out.set(value, 8);
  return out;
}

/** A text element (CS, UI...) in implicit VR little endian, padded to even length with a NUL. */
export function implicitText(tag: number, text: string): Uint8Array {
  return implicitElement(tag, ascii.encode(text.length % 2 ? text + "\0" : text));
}

/** Builds a command set: the given elements (in tag order) behind a correct (0000,0000) group length. */
export function commandSet(elements: Record<number, CommandValue>): Uint8Array {
  const parts = Object.entries(elements)
    .map(([tag, v]) => [Number(tag), v] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([tag, v]) => {
      if ("uid" in v) {
        const bytes = ascii.encode(v.uid);
        const padded = new Uint8Array(bytes.length + (bytes.length % 2));
        padded.set(bytes);
        return implicitElement(tag, padded);
      }
      const us = new Uint8Array(2);
      new DataView(us.buffer).setUint16(0, v.us, true);
      return implicitElement(tag, us);
    });
  const body = concat(parts);
  const length = new Uint8Array(4);
  new DataView(length.buffer).setUint32(0, body.length, true);
  return concat([implicitElement(0x00000000, length), body]);
}

/** A C-STORE-RQ command set announcing a data set. */
export function cStoreRq(
  opts: { messageId: number; sopClassUid: string; sopInstanceUid: string },
): Uint8Array {
  return commandSet({
    [CommandTag.AffectedSopClassUid]: { uid: opts.sopClassUid },
    [CommandTag.CommandField]: { us: CommandField.CStoreRq },
    [CommandTag.MessageId]: { us: opts.messageId },
    [CommandTag.Priority]: { us: 0 },
    [CommandTag.CommandDataSetType]: { us: 0x0000 },
    [CommandTag.AffectedSopInstanceUid]: { uid: opts.sopInstanceUid },
  });
}

/** A C-ECHO-RQ command set. */
export function cEchoRq(messageId: number): Uint8Array {
  return commandSet({
    [CommandTag.AffectedSopClassUid]: { uid: "1.2.840.10008.1.1" },
    [CommandTag.CommandField]: { us: CommandField.CEchoRq },
    [CommandTag.MessageId]: { us: messageId },
    [CommandTag.CommandDataSetType]: { us: 0x0101 },
  });
}

/**
 * A Study Root C-GET-RQ of one study: its command set (message ID 1) and its identifier (STUDY level, the
 * Study Instance UID), each to send in a P-DATA-TF of its own.
 */
export function studyGet(studyUid: string): { command: Uint8Array; identifier: Uint8Array } {
  return {
    command: commandSet({
      [CommandTag.AffectedSopClassUid]: { uid: "1.2.840.10008.5.1.4.1.2.2.3" },
      [CommandTag.CommandField]: { us: 0x0010 },
      [CommandTag.MessageId]: { us: 1 },
      [CommandTag.Priority]: { us: 0 },
      [CommandTag.CommandDataSetType]: { us: 0x0001 },
    }),
    identifier: concat([implicitText(0x00080052, "STUDY "), implicitText(0x0020000d, studyUid)]),
  };
}

/** A data set value for {@link implicitDataset}: a UID, a US, or a sequence of items. */
export type DatasetValue = { uid: string } | { us: number } | { items: Record<number, DatasetValue>[] };

/**
 * A data set in implicit VR little endian with the given elements in tag order: UIDs padded to even length,
 * sequences and items of defined length.
 */
export function implicitDataset(elements: Record<number, DatasetValue>): Uint8Array {
  const parts = Object.entries(elements)
    .map(([tag, v]) => [Number(tag), v] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([tag, v]) => {
      if ("items" in v) {
        const items = v.items.map((item) => implicitElement(0xfffee000, implicitDataset(item)));
        return implicitElement(tag, concat(items));
      }
      if ("uid" in v) {
        const bytes = ascii.encode(v.uid);
        const padded = new Uint8Array(bytes.length + (bytes.length % 2));
        padded.set(bytes);
        return implicitElement(tag, padded);
      }
      const us = new Uint8Array(2);
      new DataView(us.buffer).setUint16(0, v.us, true);
      return implicitElement(tag, us);
    });
  return concat(parts);
}

/** A parsed implicit VR little endian data set: values by tag, sequences (the tags named) as item lists. */
export interface ParsedDataset {
  values: Map<number, Uint8Array>;
  sequences: Map<number, ParsedDataset[]>;
}

/**
 * Parses an implicit VR little endian data set whose sequences are the tags in `sequenceTags` (implicit VR
 * does not say which are); sequences and items of defined or undefined length.
 */
export function parseImplicitDataset(bytes: Uint8Array, sequenceTags: Set<number>): ParsedDataset {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parse = (from: number, to: number): [ParsedDataset, number] => {
    const out: ParsedDataset = { values: new Map(), sequences: new Map() };
    let at = from;
    while (at + 8 <= to) {
      const tag = ((view.getUint16(at, true) << 16) | view.getUint16(at + 2, true)) >>> 0;
      const length = view.getUint32(at + 4, true);
      at += 8;
      if (tag === 0xfffee00d) return [out, at]; // item delimitation
      if (!sequenceTags.has(tag)) {
        out.values.set(tag, bytes.subarray(at, at + length));
        at += length;
        continue;
      }
      const end = length === 0xffffffff ? to : at + length;
      const items: ParsedDataset[] = [];
      while (at + 8 <= end) {
        const itemTag = ((view.getUint16(at, true) << 16) | view.getUint16(at + 2, true)) >>> 0;
        const itemLength = view.getUint32(at + 4, true);
        at += 8;
        if (itemTag === 0xfffee0dd) break; // sequence delimitation
        const [item, next] = parse(at, itemLength === 0xffffffff ? end : at + itemLength);
        items.push(item);
        at = itemLength === 0xffffffff ? next : at + itemLength;
      }
      out.sequences.set(tag, items);
    }
    return [out, at];
  };
  return parse(0, bytes.length)[0];
}

/** A decoded command set: element values by tag. */
export class Command {
  constructor(readonly elements: Map<number, Uint8Array>) {}

  /** Parses an implicit VR little endian command set. */
  static parse(bytes: Uint8Array): Command {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const elements = new Map<number, Uint8Array>();
    let at = 0;
    while (at + 8 <= bytes.length) {
      const tag = ((view.getUint16(at, true) << 16) | view.getUint16(at + 2, true)) >>> 0;
      const length = view.getUint32(at + 4, true);
      elements.set(tag, bytes.subarray(at + 8, at + 8 + length));
      at += 8 + length;
    }
    return new Command(elements);
  }

  /** A US element's value, or undefined when absent. */
  us(tag: number): number | undefined {
    const v = this.elements.get(tag);
    return v && v.length >= 2 ? v[0] | (v[1] << 8) : undefined;
  }

  /** A string element's value without padding, or undefined when absent. */
  text(tag: number): string | undefined {
    const v = this.elements.get(tag);
    return v ? uidText(v).trim() : undefined;
  }

  get commandField(): number | undefined {
    return this.us(CommandTag.CommandField);
  }

  get status(): number | undefined {
    return this.us(CommandTag.Status);
  }
}

/** A status as the standard writes it, e.g. `0xA900`. */
export function hexStatus(status: number | undefined): string {
  return status === undefined ? "none" : "0x" + status.toString(16).toUpperCase().padStart(4, "0");
}

// deno-lint-ignore-file no-explicit-any
/**
 * The one place that imports dcmjs-dimse. The library is CommonJS with loose typings; everything
 * past this file sees our own narrow types.
 */
import dimse from "dcmjs-dimse";
import { decodeCommand, encodeCommand } from "./command_codec.ts";
import { encodeIdentifier, restoreIdentifierValues, withCharsetDeclared } from "./identifier_codec.ts";
import { quietDicomLibraries } from "./quiet_libraries.ts";
import { adoptImplementation } from "./identity.ts";

const lib = dimse as any;

export const Scp: any = lib.Scp;
export const Server: any = lib.Server;
export const Dataset: any = lib.Dataset;
export const Association: any = lib.association.Association;
export const PresentationContext: any = lib.association.PresentationContext;
export const Implementation: any = lib.Implementation;
export const requests: any = lib.requests;
export const responses: any = lib.responses;
export const constants: any = lib.constants;
export const libraryLog: any = lib.log;

// What the agent announced of itself before the library loaded.
adoptImplementation(lib.Implementation);

// The library logs every PDU at info level through loglevel, and dcmjs (which it loads) every
// private element with its value: keep them all quiet and PHI-free.
quietDicomLibraries();

// Commands (group 0000) take the fast path of command_codec.ts; anything it cannot express falls
// back to the library's dcmjs route, so behaviour is unchanged.
const datasetProto = lib.Dataset.prototype;
const libraryEncodeCommand = datasetProto.getDenaturalizedCommandDataset;
datasetProto.getDenaturalizedCommandDataset = function (this: any, writeOptions: unknown) {
  return encodeCommand(this.getElements()) ?? libraryEncodeCommand.call(this, writeOptions);
};
// Identifiers (C-FIND matches, retrieve requests) likewise take identifier_codec.ts where it can write them.
const libraryEncodeDataset = datasetProto.getDenaturalizedDataset;
// Text beyond ASCII is written as UTF-8 by the library, so the data set then says so.
datasetProto.getDenaturalizedDataset = function (this: any, writeOptions: unknown, nameMap: unknown) {
  if (!nameMap) {
    const bytes = encodeIdentifier(this.getElements(), this.getTransferSyntaxUid());
    if (bytes) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    const declared = withCharsetDeclared(this.getElements());
    if (declared !== this.getElements()) {
      return libraryEncodeDataset.call(new lib.Dataset(declared, this.getTransferSyntaxUid()), writeOptions);
    }
  }
  return libraryEncodeDataset.call(this, writeOptions, nameMap);
};
/** The library's own encoding of a data set (tests compare identifier_codec.ts with it). */
export function libraryEncode(elements: Record<string, unknown>, transferSyntax: string): Uint8Array {
  return libraryEncodeDataset.call(new lib.Dataset(elements, transferSyntax));
}

const libraryDecode = datasetProto._fromElementsBuffer;
datasetProto._fromElementsBuffer = function (
  this: any,
  buffer: Uint8Array,
  ts: string,
  readOptions: unknown,
) {
  if (
    (ts === undefined || ts === "1.2.840.10008.1.2") && buffer.length >= 8 && buffer[0] === 0 &&
    buffer[1] === 0
  ) {
    const decoded = decodeCommand(buffer);
    if (decoded) return decoded;
  }
  const elements = libraryDecode.call(this, buffer, ts, readOptions);
  // Identifiers: UID values as sent, not with the characters dcmjs drops removed; text decoded under
  // every value of Specific Character Set, code extensions included.
  if (!(buffer.length >= 4 && buffer[0] === 0 && buffer[1] === 0 && buffer[2] === 0 && buffer[3] === 0)) {
    restoreIdentifierValues(elements, buffer, ts);
  }
  return elements;
};

// The library formats every command for its (silenced) log before deciding not to print it: a
// description of the whole command set per message. Keep the description short and cheap.
const commandProto = Object.getPrototypeOf(lib.responses.CStoreResponse.prototype.constructor.prototype);
for (let proto = commandProto; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
  if (Object.hasOwn(proto, "toString")) {
    proto.toString = function (this: any) {
      return `DIMSE 0x${Number(this.getCommandFieldType?.() ?? 0).toString(16)}`;
    };
  }
}
for (const ctor of [...Object.values(lib.requests), ...Object.values(lib.responses)] as any[]) {
  if (Object.hasOwn(ctor.prototype, "toString")) {
    ctor.prototype.toString = function (this: any) {
      return `DIMSE 0x${Number(this.getCommandFieldType?.() ?? 0).toString(16)}`;
    };
  }
}

// Likewise an association: the library describes it for its log when a request arrives and when it
// accepts, naming every presentation context's abstract and transfer syntaxes through a lookup that
// copies its whole UID dictionary per name (about 1 ms of CPU per association with a storescu's
// default proposal, measured; a modality that opens one association per image pays it per image).
lib.association.Association.prototype.toString = function (this: any) {
  return `association ${this.getCallingAeTitle?.() ?? ""} -> ${this.getCalledAeTitle?.() ?? ""}`;
};

// deno-lint-ignore-file no-explicit-any
/**
 * The one place that imports dcmjs-dimse. The library is CommonJS with loose typings; everything
 * past this file sees our own narrow types.
 */
import dimse from "dcmjs-dimse";

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

// The library logs every PDU at info level through loglevel; keep it quiet and PHI-free.
libraryLog.setLevel?.("silent");

/**
 * What the agent says of itself in every association it requests or accepts: our Implementation Class
 * UID and Version Name, and the largest PDU we take. The DICOM library is loaded on first use (an idle
 * agent does without it, see lazy.ts): what is announced before is applied when it loads.
 */
import { Implementation as Ours } from "@conduit/shared/dicom";

/** The library's implementation settings (dcmjs-dimse `Implementation`). */
interface LibraryImplementation {
  setImplementationClassUid(uid: string): void;
  setImplementationVersion(name: string): void;
  setMaxPduLength(length: number): void;
}

let maxPdu: number | undefined;
let library: LibraryImplementation | undefined;

function apply(): void {
  if (!library || maxPdu === undefined) return;
  library.setImplementationClassUid(Ours.classUid);
  library.setImplementationVersion(Ours.versionName);
  library.setMaxPduLength(maxPdu);
}

/** Sets the implementation identity and the maximum PDU length for all later associations. */
export function announceImplementation(maxPduLength: number): void {
  maxPdu = maxPduLength;
  apply();
}

/** Called by _library.ts once the library has loaded. */
export function adoptImplementation(implementation: LibraryImplementation): void {
  library = implementation;
  apply();
}

/**
 * What the agent says of itself in every association it requests or accepts: our Implementation Class
 * UID and Version Name, and the largest PDU we take.
 */
import { Implementation as Ours } from "@conduit/shared/dicom";
import { Implementation } from "./_library.ts";

/** Sets the implementation identity and the maximum PDU length for all later associations. */
export function announceImplementation(maxPduLength: number): void {
  Implementation.setImplementationClassUid(Ours.classUid);
  Implementation.setImplementationVersion(Ours.versionName);
  Implementation.setMaxPduLength(maxPduLength);
}

/** What routing rules may look at for one received object: who sent it, to whom, and its header. */
import { elementText, encodingOf, type InstanceAttributes } from "@conduit/shared/dicom";
import type { FileHeader } from "../part10/header.ts";
import type { RoutingFacts } from "./rules.ts";

export function routingFacts(
  header: FileHeader,
  attrs: InstanceAttributes,
  association: { callingAet: string; calledAet: string },
): RoutingFacts {
  const littleEndian = encodingOf(header.header.transferSyntax).littleEndian;
  return {
    callingAet: association.callingAet,
    calledAet: association.calledAet,
    modality: attrs.modality,
    sopClassUid: attrs.sopClassUid,
    value: (tag) => elementText(header.bytes, header.dataset, tag, littleEndian),
  };
}

/**
 * An object the hub sends to this site (a relayed route, a transfer, a STOW-RS): received, checked and
 * committed by ingest (queued for the node named, or stored to it at once), then acknowledged. The sender
 * marks its row done only on that acknowledgement.
 */
import { ObjectHeader, STOW_FROM } from "@conduit/shared/tunnel";
import { isPrivateUid, isStorageSopClass } from "@conduit/shared/dicom";
import { hashUid } from "@conduit/shared/log";
import { DimseStatusError, type StoreContext } from "../dimse/handlers.ts";
import { tunnelCaller, tunnelRoute } from "../queue/keys.ts";
import { receiveObject } from "../tunnel/objects.ts";
import type { Handlers, Replies, RequestOf } from "./reply.ts";
import type { SiteServices } from "./services.ts";

/** Receives one object, checks it, commits it (and queues it for the node named), then acknowledges. */
async function store(s: SiteServices, request: RequestOf<"store">, channel: Replies<"store">) {
  const header = await channel.expect(ObjectHeader);
  const nack = (message: string, status?: number) =>
    channel.send({
      type: "nack",
      sopInstanceUid: header.sopInstanceUid,
      message,
      ...(status === undefined ? {} : { status }),
    });
  /**
   * A refusal before the object is read: the sender writes the whole object before it reads the answer,
   * so what it still sends is read and dropped (an object larger than the stream's window would
   * otherwise wait for credit forever, and the sender's worker with it).
   */
  const refuse = async (message: string, status?: number) => {
    await nack(message, status);
    while (await channel.stream.read()) { /* dropped: the object is refused */ }
  };
  if (request.node && !s.nodeNames.has(request.node)) {
    // Said, and refused for good (a Cxxx status: the sender's queue does not try again), instead of a bare
    // stream reset the sender saw as "stream N reset by the peer" and retried until its attempts ran out.
    return await refuse(
      `the destination site has no node named ${request.node}: check the route's node`,
      0xc000,
    );
  }
  // What the DICOM port takes as storage (conformance section 4), whichever way the object comes.
  const sopClass = header.sopClassUid;
  if (!isStorageSopClass(sopClass) && !(s.acceptAnySopClass && isPrivateUid(sopClass))) {
    return await refuse(
      `SOP class ${sopClass || "(none)"} is not a storage SOP class this site accepts` +
        (isPrivateUid(sopClass) ? " (private classes need dimse.acceptAnySopClass)" : ""),
      0x0122,
    );
  }
  const callingAet = tunnelCaller(request.from);
  const ctx: StoreContext = {
    association: { callingAet, calledAet: s.aet, remoteAddress: "tunnel" },
    sopClassUid: "",
    sopInstanceUid: header.sopInstanceUid,
    transferSyntax: "",
  };
  let sink;
  try {
    sink = await s.ingest.openObjectAsync({
      sopClassUid: header.sopClassUid,
      sopInstanceUid: header.sopInstanceUid,
      transferSyntax: header.transferSyntax,
    });
  } catch (err) {
    return await refuse((err as Error).message);
  }
  const received = await receiveObject(channel, header, sink);
  ctx.sopClassUid = received.meta.sopClassUid;
  ctx.transferSyntax = received.meta.transferSyntax;
  if (received.meta.sopInstanceUid !== header.sopInstanceUid) {
    sink.discard();
    return await nack("the object's SOP Instance UID is not the one announced");
  }
  const now = request.deliver === "now" && request.node;
  try {
    const extra = request.node && !now ? [{ route: tunnelRoute(callingAet), destination: request.node }] : [];
    const outcome = await s.ingest.commitReceived(received, ctx, extra);
    if (outcome.status !== 0) {
      return await nack(`not stored: status 0x${outcome.status.toString(16)}`, outcome.status);
    }
    // Stored for a node now (a STOW-RS to a node's path): what would go to the node is the archive's copy,
    // and with other bytes under this UID kept aside or dropped that is the first object, not the one sent
    // (until 2026-12-07 the node got the old one, and the STOW answered 200).
    if (now && outcome.keptFirst) {
      return await nack(
        `not sent to node ${request.node}: this site already holds other bytes under this SOP Instance UID ` +
          `and keeps the first (archive.duplicates; agent conflicts lists it); store the new object under a ` +
          `new SOP Instance UID, or resolve the conflict at the site`,
        0x0110, // processing failure: neither a refusal of the object nor the site's resources
      );
    }
    // Relayed from another site (a route to this site, a transfer): the sender's row must not count these
    // bytes delivered when the site kept the ones it had (a STOW-RS into the archive is answered as a C-STORE
    // is, stored: conformance.md). A study sent again de-identified under another pseudonym (the same UIDs
    // from the same key, other bytes) ended `success` naming the new pseudonym while the site and its node kept
    // the old one (QA 2026-12-07). Trying again changes nothing until someone acts: 0x0111, permanent for the
    // sender's queue (agent/queue/policy.ts), so the row goes to its dead letter with this reason.
    if (outcome.keptFirst && request.from !== undefined && request.from !== STOW_FROM) {
      return await nack(
        `not stored: the destination site already holds other bytes under this SOP Instance UID and keeps ` +
          `those (its archive.duplicates; agent conflicts lists it there); resolve the conflict at that site, ` +
          `or send the object under a new SOP Instance UID`,
        0x0111,
      );
    }
  } catch (err) {
    sink.discard();
    // The status a C-STORE of it would have been answered with goes along (0xC000 a malformed data set,
    // 0xA900 UIDs that do not match, 0xA700 out of resources): the sender's queue classes it as it would a
    // node's, so a refusal that cannot change is not sent again. Until 2026-12-06 none went: a malformed
    // object from an older agent's archive was sent again until its row ran out of attempts.
    return await nack(
      `not stored: ${(err as Error).message}`,
      err instanceof DimseStatusError ? err.status : undefined,
    );
  }
  if (now) {
    const report = await s.nodes.storeTo(request.node!, { sopInstanceUids: [header.sopInstanceUid] });
    const failure = report.failed[0];
    if (failure || report.sent !== 1) {
      const status = failure?.status;
      return await channel.send({
        type: "nack",
        sopInstanceUid: header.sopInstanceUid,
        message: `node ${request.node} refused the object${
          status === undefined ? "" : ` (0x${status.toString(16)})`
        }`,
        ...(status === undefined ? {} : { status }),
      });
    }
  }
  s.log.debug("object stored from the tunnel", {
    sop: () => hashUid(header.sopInstanceUid),
    from: callingAet,
  });
  await channel.send({ type: "ack", sopInstanceUid: header.sopInstanceUid });
}

export const storeHandlers: Handlers = { store };

/**
 * Forwarding to a node at another site: each object goes on its own tunnel stream to the hub
 * (`relay`), which carries it to the destination agent; that agent commits it to its archive and
 * queue and acknowledges. A row is done only on that acknowledgement; anything else (nack, error,
 * a cut) leaves it to be sent again, which the receiver takes idempotently.
 */
import { RequestChannel, type Session } from "@conduit/shared/tunnel";
import type { Archive } from "../archive/archive.ts";
import { claimedObject, type ClaimedRow } from "../queue/rows.ts";
import { sendObject } from "../tunnel/objects.ts";
import type { StoredObject } from "../part10/stored.ts";
import { isTransferRoute } from "../queue/keys.ts";

export type RemoteResult = { row: ClaimedRow; ok: true } | {
  row: ClaimedRow;
  ok: false;
  error: string;
  /** The hub refused the relay (its policy, `forbidden`; a site it has not got, `unknown-site`): for good. */
  permanent?: boolean;
  /**
   * The DIMSE status of the destination's refusal (a nack's: its node's answer, or 0x0122 for a SOP class
   * it does not take), which the queue's policy classifies as a C-STORE's own.
   */
  status?: number;
};

/**
 * Objects in flight at once per worker (each on its own stream, each with its own window). The relay waits
 * on each object's round trip (the hub, the destination's sync and index commit, the acknowledgement back),
 * not on the CPU (about 1.5 of 2 cores busy in `bench tunnel`): 16 relayed 187-219 files/s where 8 relayed
 * 166-173, and 32 no more than 16 (bench/README.md, 2026-12-07).
 */
const IN_FLIGHT = 16;

export async function sendRemote(
  session: Session,
  target: { site: string; node?: string },
  rows: ClaimedRow[],
  archive: Archive,
  onResult: (r: RemoteResult) => void,
  /** Whether to leave `row` unsent (the worker stopping, the destination paused, the row's transfer canceled). */
  shouldStop: (row: ClaimedRow) => boolean,
  onHashed?: (object: StoredObject, sha256: string) => void,
): Promise<ClaimedRow[]> {
  let next = 0;
  const unsent: ClaimedRow[] = [];
  const worker = async () => {
    while (next < rows.length) {
      const row = rows[next++];
      if (shouldStop(row) || session.isClosed) {
        unsent.push(row);
        continue;
      }
      onResult(await sendOne(session, target, row, archive, onHashed));
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, rows.length) }, worker));
  return unsent;
}

async function sendOne(
  session: Session,
  target: { site: string; node?: string },
  row: ClaimedRow,
  archive: Archive,
  onHashed?: (object: StoredObject, sha256: string) => void,
): Promise<RemoteResult> {
  let channel: RequestChannel<"relay"> | undefined;
  try {
    channel = new RequestChannel(session.open(), "relay");
    await channel.send({
      op: "relay",
      site: target.site,
      ...(target.node ? { node: target.node } : {}),
      // The hub applies a transfer's bandwidth cap by its route; configured routes need no name there.
      ...(isTransferRoute(row.route) ? { route: row.route } : {}),
    });
    const object = claimedObject(row);
    const out = channel;
    // The answer is read while the object goes: a hub (or destination) that refuses the relay answers
    // before it has the object, and the rest need not cross the tunnel.
    const replied = out.reply();
    replied.catch(() => {/* read below */});
    const sent = (async () => {
      // Not checked while read here: the receiving agent hashes what it takes and refuses a mismatch with
      // the hash the index recorded, which covers the same bytes (objects.ts).
      await sendObject(out, archive, object, onHashed && ((sha256) => onHashed(object, sha256)), {
        verify: false,
      });
      await out.end();
    })();
    const early = await Promise.race([sent.then(() => false), replied.then(() => true, () => false)]);
    if (early) {
      const reply = await replied;
      if (reply.type === "error") {
        sent.catch(() => {/* the stream is reset: the send stops */});
        out.stream.reset("refused");
        return refused(row, reply);
      }
    }
    await sent;
    const reply = await replied;
    if (reply.type === "ack" && reply.sopInstanceUid === row.sopInstanceUid) return { row, ok: true };
    if (reply.type === "ack") return { row, ok: false, error: "the ack names another object" };
    return refused(row, reply);
  } catch (err) {
    channel?.stream.reset("failed");
    return { row, ok: false, error: (err as Error).message };
  }
}

/**
 * A relay answered with `error` or `nack`: not delivered, not worth trying again when forbidden or to an
 * unknown site, and with the status a nack carries for the queue's policy to classify (0x0122, 0xA9xx,
 * 0xCxxx: permanent).
 */
function refused(
  row: ClaimedRow,
  reply: { type: "error" | "nack"; message: string; code?: string; status?: number },
): RemoteResult {
  return {
    row,
    ok: false,
    error: reply.message,
    // Refused by the hub's policy, or to a site the hub has not got: trying again changes nothing.
    permanent: reply.type === "error" && (reply.code === "forbidden" || reply.code === "unknown-site"),
    ...(reply.type === "nack" && reply.status !== undefined ? { status: reply.status } : {}),
  };
}

/**
 * A task's state from its source's progress report (the source's queue rows for the task, counted by
 * state): in progress while objects wait; success when every object is delivered; warning when the
 * source's node did not give every object it listed, or when the source's de-identification held some
 * back (burned-in text) and delivered the rest; failure when nothing is left to try and something died,
 * or when every object was held back.
 */
import type { DetailOf } from "@conduit/shared/tunnel";
import type { TransferRow, TransferTaskRow } from "../db/schema.ts";
import { SiteRequestError } from "../tunnel/errors.ts";
import { reportedIdentifiers } from "./deid.ts";

/** The task columns a progress report sets. */
export function taskProgress(task: TransferTaskRow, p: DetailOf<"progress">): Partial<TransferTaskRow> {
  const { done, dead, held } = p, waiting = p.pending + p.inFlight + p.failed;
  const objects = task.objects ?? 0;
  let status = done > 0 || waiting < objects ? "in_progress" : task.status;
  if (objects > 0 && done + held >= objects) {
    status = held > 0 ? (done > 0 ? "warning" : "failure") : task.missing > 0 ? "warning" : "success";
  } else if (waiting === 0 && dead > 0) status = "failure";
  const ids = reportedIdentifiers(p);
  // A canceled task stays so, and one whose cancel is on its way to the source stays canceling.
  if (task.status === "canceled" || task.status === "canceling") status = task.status;
  return {
    status,
    done,
    failed: dead + p.failed,
    held,
    ...(ids
      ? {
        pseudoPatientId: ids.patientId,
        pseudoPatientName: ids.patientName,
        pseudoStudyInstanceUid: ids.studyInstanceUid,
      }
      : {}),
    // Every object delivered: a reason reported before (a destination offline for a while, a node that
    // refused and then took them) is over. Until 2026-12-07 a task to a site's archive ended `success` with
    // "site south is not connected" beside "50 of 50" (QA 2026-12-07).
    lastError: status === "success" ? null : p.lastError ?? task.lastError,
  };
}

/**
 * Why a task whose source delivered `delivered` objects is not done at its destination's node, from the
 * destination's `delivery` answer: every group that waits is named (not yet stored, unknown to the
 * destination, stored and not yet committed), then the destination's last error when it concerns them.
 */
export function nodeWaitNote(
  d: Pick<DetailOf<"delivery">, "waiting" | "unknown" | "committing" | "lastError">,
  delivered: number,
  site: string,
  node: string,
): string {
  const awaiting = d.committing ?? 0;
  const waits = [
    d.waiting > 0 && `${d.waiting} of ${delivered} objects wait at ${site} for its node ${node}`,
    d.unknown > 0 &&
    `${site} has no record of storing ${d.unknown} of ${delivered} objects to its node ${node}`,
    awaiting > 0 &&
    `${awaiting} of ${delivered} objects stored at ${site}'s node ${node} wait for its storage commitment`,
  ].filter((w): w is string => Boolean(w));
  const why = d.lastError && (d.waiting > 0 || awaiting > 0) ? `: ${d.lastError}` : "";
  return waits.join("; ") + why;
}

/**
 * A failed hand-over's last error, saying where it failed: the source's own words (its node's
 * `NPACS at 10.0.0.5:104: Connection refused`) after the site, and the node it reads the study from, when
 * the source answered with an error; after the hub's words when the source could not be asked or did not
 * answer (offline meanwhile, the link broken).
 */
export function handOverFailure(t: Pick<TransferRow, "sourceSite" | "sourceNode">, err: Error): string {
  const site = t.sourceSite;
  if (!(err instanceof SiteRequestError)) {
    return `the hub could not hand the study to ${site}: ${err.message}`;
  }
  if (err.code === "bad-request") return `${site} refused the study: ${err.message}`;
  return t.sourceNode
    ? `${site} could not read the study from its node ${t.sourceNode}: ${err.message}`
    : `${site} could not hand the study over: ${err.message}`;
}

/**
 * Whether a site's error answer says its reply did not fit one tunnel record (1 MiB): what an agent older
 * than paging (FEATURE_OBJECTS_AFTER) answers when asked for the rows of a study of more than some 3 200
 * objects (shared/tunnel/channel.ts words it).
 */
export function isOversizedReply(err: unknown): boolean {
  return err instanceof SiteRequestError && /^record of \d+ bytes \(limit \d+\)$/.test(err.message);
}

/**
 * A task's note when its objects are counted at the destination's acknowledgement, not at its node: the
 * source's agent (its version as `versionWithout` words it) cannot list them a page at a time.
 */
export function ackCountedNote(
  t: Pick<TransferRow, "sourceSite" | "destinationSite" | "destinationNode">,
  objects: number,
  version: string,
): string {
  return `counted at ${t.destinationSite}'s acknowledgement, not at its node ${t.destinationNode}: ` +
    `${t.sourceSite}'s agent (${version}) cannot list the ${objects} objects a page at a time; ` +
    `upgrade it for the check`;
}

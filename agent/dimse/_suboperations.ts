// deno-lint-ignore-file no-explicit-any
/**
 * C-MOVE and C-GET sub-operations: running them as many at once as the window allows, their counts, and the
 * pending and final responses that carry them.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import { Dataset } from "./_library.ts";
import { isWarning, Status } from "./handlers.ts";

/** Counts sub-operations and the instances that failed. */
export class SubOperations {
  completed = 0;
  failed = 0;
  warning = 0;
  failedUids: string[] = [];
  constructor(readonly total: number) {}
  get remaining(): number {
    return this.total - this.completed - this.failed - this.warning;
  }
  record(status: number, uid: string): void {
    if (status === Status.Success) this.completed++;
    else if (isWarning(status)) this.warning++;
    else {
      this.failed++;
      this.failedUids.push(uid);
    }
  }
}

/**
 * Runs `store` for each item, at most `window` at once (one after the other without a window), until done or
 * `signal` aborts; each result is recorded in `counts` (a throw is a processing failure, handed to
 * `failed`), then `after` runs (a pending response). Resolves with the most that were outstanding at once.
 */
export async function runSubOperations<T extends { sopInstanceUid: string }>(
  items: T[],
  window: number,
  signal: AbortSignal,
  counts: SubOperations,
  store: (item: T) => Promise<number>,
  failed: (item: T, err: unknown) => void,
  after: () => void,
): Promise<number> {
  let next = 0;
  let outstanding = 0;
  let peak = 0;
  const worker = async () => {
    while (next < items.length && !signal.aborted) {
      const item = items[next++];
      let status: number;
      peak = Math.max(peak, ++outstanding);
      try {
        status = await store(item);
      } catch (err) {
        failed(item, err);
        status = Status.ProcessingFailure;
      } finally {
        outstanding--;
      }
      counts.record(status, item.sopInstanceUid);
      after();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(window, items.length)) }, worker));
  return peak;
}

function setCounts(rsp: any, counts: SubOperations, final: boolean): void {
  const cmd = rsp.getCommandDataset();
  if (!final) cmd.setElement("NumberOfRemainingSuboperations", counts.remaining);
  cmd.setElement("NumberOfCompletedSuboperations", counts.completed);
  cmd.setElement("NumberOfFailedSuboperations", counts.failed);
  cmd.setElement("NumberOfWarningSuboperations", counts.warning);
}

/**
 * A C-FIND, C-MOVE or C-GET response to `request`, its Affected SOP Class UID the request's (PS3.7 9.3.2.2,
 * 9.3.3.2, 9.3.4.2: "U(=)"): the library's constructors name the Study Root class whatever the request
 * asked, so a Patient Root request got Study Root responses.
 */
export function responseTo(Response: any, request: any): any {
  const rsp = Response.fromRequest(request);
  const uid = String(request.getCommandDataset().getElement("AffectedSOPClassUID") ?? "").replace(/\0/g, "")
    .trim();
  if (uid) rsp.getCommandDataset().setElement("AffectedSOPClassUID", uid);
  return rsp;
}

export function pending(request: any, Response: any, counts: SubOperations): any {
  const rsp = responseTo(Response, request);
  rsp.setStatus(Status.Pending);
  setCounts(rsp, counts, false);
  return rsp;
}

/** Sends the final C-MOVE/C-GET response (PS3.4 C.4.2.1.5): success, warning, failure or cancel. */
export function finalStatus(
  counts: SubOperations,
  send: (rsp: any) => void,
  request: any,
  Response: any,
  canceled = false,
  /** An Error Comment for a final status other than Success (at most 64 characters are sent). */
  comment?: string,
): undefined {
  const rsp = responseTo(Response, request);
  let status: number;
  if (canceled) status = Status.Cancel;
  else if (counts.failed === 0 && counts.warning === 0) status = Status.Success;
  else if (counts.completed === 0 && counts.warning === 0) status = Status.OutOfResourcesSubOps;
  else status = Status.Warning;
  rsp.setStatus(status);
  setCounts(rsp, counts, !canceled);
  if (canceled) rsp.getCommandDataset().setElement("NumberOfRemainingSuboperations", counts.remaining);
  if (comment && status !== Status.Success) rsp.setErrorComment?.(comment.slice(0, 64));
  if (counts.failedUids.length) rsp.setDataset(new Dataset({ FailedSOPInstanceUIDList: counts.failedUids }));
  send(rsp);
  return undefined;
}

/**
 * The sub-operations that failed because the peer took no presentation context their object could go in
 * (0x0122 from the store), by stored transfer syntax: the reason a final response's Error Comment gives.
 */
export class Unsendable {
  #syntaxes = new Set<string>();
  #count = 0;
  /** Passes `status` through, noting the object when it is 0x0122. */
  note(status: number, item: { transferSyntax: string }): number {
    if (status === Status.SopClassNotSupported) {
      this.#count++;
      this.#syntaxes.add(item.transferSyntax);
    }
    return status;
  }
  /** `<n> not accepted by <AE>: <stored syntaxes>`, or undefined when none was refused so. */
  comment(aet: string): string | undefined {
    if (this.#count === 0) return undefined;
    return `${this.#count} not accepted by ${aet}: ${[...this.#syntaxes].join(",")}`;
  }
}

/**
 * The sub-operations of one C-MOVE or C-GET that failed, for the log: the first failure of each reason with
 * its object (hashed), then one line per reason that repeated with how many (until 2026-12-08 a destination
 * that dropped the association left some 200 identical warnings, one per object). `end()` gives the reason
 * most of them had, for the final response's Error Comment.
 */
export class FailureLog {
  #reasons = new Map<string, number>();
  constructor(
    private readonly log: Logger,
    private readonly what: string,
    private readonly fields: Record<string, unknown> = {},
  ) {}

  add(item: { sopInstanceUid: string }, err: unknown): void {
    const reason = (err as Error)?.message ?? String(err);
    const n = (this.#reasons.get(reason) ?? 0) + 1;
    this.#reasons.set(reason, n);
    if (n === 1) {
      this.log.warn(`${this.what} sub-operation failed`, {
        ...this.fields,
        err,
        sop: hashUid(item.sopInstanceUid),
      });
    }
  }

  /** Logs the reasons that repeated, with their counts; the most frequent reason, if any failed. */
  end(): string | undefined {
    let top: [string, number] | undefined;
    for (const [reason, n] of this.#reasons) {
      if (n > 1) this.log.warn(`${this.what} sub-operations failed`, { ...this.fields, objects: n, reason });
      if (!top || n > top[1]) top = [reason, n];
    }
    return top?.[0];
  }
}

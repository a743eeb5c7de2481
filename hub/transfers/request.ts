/**
 * What `transfers.create` asks, checked and turned into a job's tasks: one per study, whole or some of its
 * series, each with an id that sorts in the order the request named them. The errors of a request.
 */
import type { TransferDeidRequest } from "@conduit/shared/deid";
import type { TransferTaskRow } from "../db/schema.ts";
import type { Schedule } from "./schedule.ts";
import type { Endpoint } from "./view.ts";

export class TransferError extends Error {
  override name = "TransferError";
}

/** No transfer has the id named, or the transfer has no study of the UID named (NOT_FOUND on the API). */
export class TransferNotFoundError extends TransferError {
  override name = "TransferNotFoundError";
}

export interface CreateTransfer extends Schedule {
  source: Endpoint;
  destination: Endpoint;
  /** Whole studies. */
  studies?: string[];
  /** Only some series of these studies (a study named here is not also named whole). */
  series?: { study: string; series: string[] }[];
  /**
   * Hub-internal (not in the API's input): the order of the job's tasks by study, where whole studies and
   * some series of others interleave (a batch: its file's lines). Absent, or for a study it leaves out:
   * `studies`, then `series`, as named.
   */
  studyOrder?: string[];
  priority?: number;
  /** De-identify at the source with its key (hub/transfers/deid.ts). */
  deid?: TransferDeidRequest;
}

/** The most studies, and the most series named, in one job. */
export const MAX_STUDIES = 10_000;
export const MAX_SERIES = 10_000;

const UID = /^[0-9]+(\.[0-9]+)*$/;

/**
 * The id of a job's `index`th task (from 0, in the order the request named the studies, or in its
 * `studyOrder`): the job's id and the index, padded so that the ids sort in that order (transfers.tasks
 * lists them by id).
 */
export const taskId = (transferId: string, index: number) =>
  `${transferId}-${String(index).padStart(String(MAX_STUDIES).length, "0")}`;

/** The series a task names, or undefined for the whole study. */
export function seriesOf(task: Pick<TransferTaskRow, "series">): string[] | undefined {
  return task.series ? JSON.parse(task.series) as string[] : undefined;
}

/** The first value `xs` holds twice, or undefined. */
function repeated(xs: Iterable<string>): string | undefined {
  const seen = new Set<string>();
  for (const x of xs) {
    if (seen.has(x)) return x;
    seen.add(x);
  }
  return undefined;
}

/**
 * A job's tasks: one per study, whole or some of its series. TransferError for a UID that is not one, a
 * study (or a series of a study) named twice, a study named both whole and by series, or too many: a UID
 * given twice is a caller's slip (a pasted list, a join gone wrong) that the answer names rather than hides.
 */
export function tasksOf(input: CreateTransfer): { study: string; series?: string[] }[] {
  const check = (uid: string, what: string) => {
    if (!UID.test(uid) || uid.length > 64) throw new TransferError(`${JSON.stringify(uid)} is not a ${what}`);
  };
  const whole = input.studies ?? [];
  for (const s of whole) check(s, "Study Instance UID");
  const twice = repeated(whole);
  if (twice) throw new TransferError(`study ${twice} is named twice in studies: name each study once`);
  const some = new Map<string, string[]>();
  for (const { study, series } of input.series ?? []) {
    check(study, "Study Instance UID");
    if (some.has(study)) {
      throw new TransferError(`study ${study} is named twice in series: name all its series in one entry`);
    }
    if (!series.length) throw new TransferError(`name at least one series of study ${study}`);
    for (const uid of series) check(uid, "Series Instance UID");
    const again = repeated(series);
    if (again) {
      throw new TransferError(`series ${again} of study ${study} is named twice: name each series once`);
    }
    some.set(study, series);
  }
  const both = whole.find((s) => some.has(s));
  if (both) {
    throw new TransferError(`study ${both} is named whole and by some of its series: name it once`);
  }
  const tasks: { study: string; series?: string[] }[] = [
    ...whole.map((study) => ({ study })),
    ...[...some].map(([study, series]) => ({ study, series })),
  ];
  if (input.studyOrder) {
    const at = new Map<string, number>();
    for (const study of input.studyOrder) if (!at.has(study)) at.set(study, at.size);
    const place = (study: string) => at.get(study) ?? at.size;
    tasks.sort((a, b) => place(a.study) - place(b.study)); // stable: those left out keep their order
  }
  if (!tasks.length) throw new TransferError("name at least one study");
  if (tasks.length > MAX_STUDIES) throw new TransferError(`at most ${MAX_STUDIES} studies in one transfer`);
  const named = tasks.reduce((n, k) => n + (k.series?.length ?? 0), 0);
  if (named > MAX_SERIES) throw new TransferError(`at most ${MAX_SERIES} series in one transfer`);
  return tasks;
}

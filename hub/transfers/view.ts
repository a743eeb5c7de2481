/**
 * A transfer job as the API and the console show it: the job, its totals and one line per study (with the
 * series it names, when only some of the study's go).
 */
import type { TransferRow, TransferTaskRow } from "../db/schema.ts";
import { isOpen, nextOpening, type Windows } from "./window.ts";
import { windowOf } from "./schedule.ts";
import { type DeidView, deidView, pseudonymized } from "./deid.ts";

export interface Endpoint {
  site: string;
  node?: string;
}

/** The states a job or task ends in. */
export const TERMINAL = new Set(["success", "warning", "failure", "canceled"]);

export interface TransferView {
  id: string;
  status: string;
  source: Endpoint;
  destination: Endpoint;
  priority: number;
  /** One window, or several, as given. */
  window?: Windows;
  bandwidthMbps?: number;
  /** While the window is closed: when it opens (ISO 8601); nothing moves until then. */
  waitingUntil?: string;
  /** De-identified at the source: the profile and options (never a key or the pseudonym table). */
  deid?: DeidView;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  totals: { studies: number; objects: number; done: number; failed: number; missing: number; held: number };
  tasks: {
    studyInstanceUid: string;
    /** Only these series of the study (absent: the whole study). */
    series?: string[];
    status: string;
    objects: number | null;
    done: number;
    failed: number;
    missing: number;
    /** Objects held back at the source by the burned-in text policy. */
    held: number;
    /** The de-identified study's identifiers, as the source reported them. */
    pseudonymized?: { patientId: string; patientName: string; studyInstanceUid: string };
    lastError: string | null;
  }[];
}

/** A job without its tasks (the lists: `transfers.summaries`): its totals alone. */
export type TransferSummary = Omit<TransferView, "tasks">;

/** A job's totals, summed over its tasks. */
export type Totals = TransferView["totals"];

/** The totals of a job's tasks. */
export function totalsOf(tasks: TransferTaskRow[]): Totals {
  return {
    studies: tasks.length,
    objects: tasks.reduce((n, k) => n + (k.objects ?? 0), 0),
    done: tasks.reduce((n, k) => n + k.done, 0),
    failed: tasks.reduce((n, k) => n + k.failed, 0),
    missing: tasks.reduce((n, k) => n + k.missing, 0),
    held: tasks.reduce((n, k) => n + k.held, 0),
  };
}

/** The view of a job without its tasks, with their totals. */
export function summary(t: TransferRow, totals: Totals, now = Date.now()): TransferSummary {
  const window = windowOf(t);
  const active = !TERMINAL.has(t.status);
  return {
    id: t.id,
    status: t.status,
    source: { site: t.sourceSite, ...(t.sourceNode ? { node: t.sourceNode } : {}) },
    destination: { site: t.destinationSite, ...(t.destinationNode ? { node: t.destinationNode } : {}) },
    priority: t.priority,
    ...(window ? { window } : {}),
    ...(t.bandwidthMbps ? { bandwidthMbps: t.bandwidthMbps } : {}),
    ...(window && active && !isOpen(window, now)
      ? { waitingUntil: new Date(nextOpening(window, now)).toISOString() }
      : {}),
    ...(t.deid ? { deid: deidView(t) } : {}),
    createdBy: t.createdBy,
    createdAt: new Date(t.createdAt).toISOString(),
    updatedAt: new Date(t.updatedAt).toISOString(),
    totals,
  };
}

/** One task as the API shows it. */
export type TaskView = TransferView["tasks"][number];

/** A task's view. */
export function taskView(k: TransferTaskRow): TaskView {
  const ids = pseudonymized(k);
  return {
    studyInstanceUid: k.studyInstanceUid,
    ...(k.series ? { series: JSON.parse(k.series) as string[] } : {}),
    status: k.status,
    objects: k.objects,
    done: k.done,
    failed: k.failed,
    missing: k.missing,
    held: k.held,
    ...(ids ? { pseudonymized: ids } : {}),
    lastError: k.lastError,
  };
}

/** The view of a job and its tasks. */
export function view(t: TransferRow, tasks: TransferTaskRow[], now = Date.now()): TransferView {
  return { ...summary(t, totalsOf(tasks), now), tasks: tasks.map(taskView) };
}

/**
 * A page of a job's tasks (`transfers.tasks`): the job without its tasks (its totals), the job's tasks
 * counted by state, the page, and the cursor of the next page (absent on the last).
 */
export interface TaskPage {
  job: TransferSummary;
  states: Record<string, number>;
  tasks: TaskView[];
  next?: string;
}

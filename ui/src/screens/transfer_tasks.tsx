/**
 * A job's studies a page at a time (`transfers.tasks`), all of them or those in one state: the job's
 * page shows one page and reads it again when the job's progress moves, never every study of a job of
 * thousands.
 */
import { createEffect, createResource, createSignal, For, on } from "solid-js";
import { api, type Down, keepLast } from "../api.ts";
import { count, status } from "../format.ts";

/** Studies a page of a job shows. */
export const TASK_PAGE = 100;

export type TaskPage = NonNullable<Awaited<ReturnType<typeof api.transfers.tasks.query>>>;
export type Task = TaskPage["tasks"][number];

/** The states a job's studies are filtered by, in the order the filter offers them. */
const STATES = ["failure", "warning", "canceling", "canceled", "in_progress", "queued", "pending", "success"];

/**
 * The page of a job's studies shown (`id`: the job open, if any), its filter and its place: the cursors of
 * the pages before it are kept, so Previous goes back without a page before in the API.
 */
export function createTaskPages(id: () => string | undefined) {
  const [filter, setFilter] = createSignal("");
  const [cursors, setCursors] = createSignal<(string | undefined)[]>([undefined]);
  const [down, setDown] = createSignal<Down | undefined>();
  createEffect(on(id, () => (setFilter(""), setCursors([undefined]))));
  // A string, so that a refresh of the same page that fails keeps the page shown (keepLast).
  const source = () => {
    const job = id();
    return job
      ? JSON.stringify({
        id: job,
        after: cursors().at(-1),
        status: filter() || undefined,
        at: cursors().length - 1,
      })
      : undefined;
  };
  // Each page answered with its place (`at`, in pages from the first), so that the line under the table
  // names the studies the table shows, not the page asked for while it still shows the one before.
  const [page, { refetch }] = createResource(
    source,
    keepLast(
      (s: string) => {
        const { at, ...query } = JSON.parse(s);
        return api.transfers.tasks.query({ ...query, limit: TASK_PAGE }).then((p) =>
          p && { ...p, at: at as number }
        );
      },
      setDown,
    ),
  );
  return {
    page,
    down,
    /** Reads the page shown again (the job moved). */
    refresh: () => void refetch(),
    /** Which of the shown page's studies is the first, from 1. */
    first: () => (page()?.at ?? 0) * TASK_PAGE + 1,
    filter,
    show: (state: string) => (setFilter(state), setCursors([undefined])),
    newer: () => setCursors((c) => c.length > 1 ? c.slice(0, -1) : c),
    older: () => {
      const next = page()?.next;
      if (next) setCursors((c) => [...c, next]);
    },
    atStart: () => cursors().length === 1,
  };
}

/** The filter by state and Previous / Next under a job's studies: "Studies 101–200 of 312 failed". */
export function TaskPager(props: { pages: ReturnType<typeof createTaskPages> }) {
  const p = props.pages;
  const states = () => p.page()?.states ?? {};
  const shown = () => p.page()?.tasks.length ?? 0;
  const of = () => {
    const s = p.filter();
    const n = s ? states()[s] ?? 0 : p.page()?.job.totals.studies ?? 0;
    return s ? `${n} ${status(s).toLowerCase()}` : count(n, "study", "studies");
  };
  /** A page with no study: a filter that no study matches (now), or a job without studies. */
  const none = () => {
    const total = count(p.page()?.job.totals.studies ?? 0, "study", "studies");
    return p.filter() ? `None of the job's ${total} is “${status(p.filter())}” now` : "This job has no study";
  };
  return (
    <div class="row" role="navigation" aria-label="Pages of studies">
      <label>
        Show{" "}
        <select value={p.filter()} onChange={(e) => p.show(e.currentTarget.value)}>
          <option value="">All studies</option>
          <For each={STATES.filter((s) => states()[s] || s === p.filter())}>
            {(s) => <option value={s}>{status(s)} ({states()[s] ?? 0})</option>}
          </For>
        </select>
      </label>
      <button type="button" disabled={p.atStart()} onClick={p.newer}>
        Previous
      </button>
      <span aria-live="polite">
        {p.page() ? (shown() ? `Studies ${p.first()}–${p.first() + shown() - 1} of ${of()}` : none()) : ""}
      </span>
      <button type="button" disabled={!p.page()?.next || p.page.loading} onClick={p.older}>
        Next
      </button>
    </div>
  );
}

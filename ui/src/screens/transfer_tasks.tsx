/**
 * A job's studies a page at a time (`transfers.tasks`), all of them or those in one state, the page and the
 * state in the address: the job's page shows one page and reads it again when the job's progress moves,
 * never every study of a job of thousands.
 */
import { createEffect, createResource, createSignal, For, on, Show } from "solid-js";
import { api, type Down, keepLast } from "../api.ts";
import { count, status } from "../format.ts";
import { location, navigate, path } from "../router.tsx";

/** Studies a page of a job shows. */
export const TASK_PAGE = 100;

export type TaskPage = NonNullable<Awaited<ReturnType<typeof api.transfers.tasks.query>>>;
export type Task = TaskPage["tasks"][number];

/** The states a job's studies are filtered by, in the order the filter offers them. */
const STATES = ["failure", "warning", "canceling", "canceled", "in_progress", "queued", "pending", "success"];

/** The pages a job can have (transfers.tasks skips at most MAX_STUDIES, 10 000 studies). */
const MAX_PAGES = 10_000 / TASK_PAGE;

/**
 * The page and state the address asks for (`?page=3&state=failure`, the page from 1), and what is wrong with
 * it: a page that is not a whole number from 1, or a state that is not one, falls back to the first page or
 * every state, and `note` says so.
 */
export function askedPage(search: URLSearchParams): { page: number; state: string; note: string } {
  const rawPage = search.get("page"), rawState = search.get("state");
  const notes: string[] = [];
  let page = 0, state = "";
  if (rawPage !== null) {
    const n = Number(rawPage);
    if (/^[0-9]+$/.test(rawPage) && n >= 1) page = Math.min(n, MAX_PAGES) - 1;
    else notes.push(`There is no page “${rawPage}”: the first page is shown.`);
  }
  if (rawState !== null) {
    if (STATES.includes(rawState)) state = rawState;
    else notes.push(`There is no state “${rawState}”: every study is shown.`);
  }
  return { page, state, note: notes.join(" ") };
}

/** The address of page `page` (from 0) of job `id`'s studies in `state` ("" for all). */
function pageAddress(id: string, page: number, state: string): string {
  const q = new URLSearchParams();
  if (page) q.set("page", String(page + 1));
  if (state) q.set("state", state);
  return path("transfers", id) + (q.size ? `?${q}` : "");
}

/**
 * The page of a job's studies shown (`id`: the job open, if any) and its filter, both kept in the address
 * (`?page=3&state=failure`), so that a reload, Back and Forward and a shared link show the same page. A bad
 * value in the address, or a page past the last, is replaced by the first (or the last) page, and `note`
 * says what was asked and what is shown.
 */
export function createTaskPages(id: () => string | undefined) {
  const asked = () => askedPage(location().search);
  const [note, setNote] = createSignal("");
  const [down, setDown] = createSignal<Down | undefined>();
  createEffect(on(id, () => setNote(""), { defer: true }));
  const go = (page: number, state: string, replace = false) => {
    const job = id();
    if (job) navigate(pageAddress(job, page, state), { replace });
  };
  // A bad value in the address: the address is put right (not a new history entry), and the note says why.
  createEffect(on(() => id() && asked(), (a) => {
    if (a && a.note) (setNote(a.note), go(a.page, a.state, true));
  }));
  // A string, so that a refresh of the same page that fails keeps the page shown (keepLast).
  const source = () => {
    const job = id(), a = asked();
    return job ? JSON.stringify({ id: job, status: a.state || undefined, at: a.page }) : undefined;
  };
  // Each page answered with its place (`at`, in pages from the first), so that the line under the table
  // names the studies the table shows, not the page asked for while it still shows the one before.
  const [page, { refetch }] = createResource(
    source,
    keepLast(
      (s: string) => {
        const { at, ...query } = JSON.parse(s);
        return api.transfers.tasks.query({
          ...query,
          limit: TASK_PAGE,
          ...(at ? { offset: at * TASK_PAGE } : {}),
        })
          .then((p) => p && { ...p, at: at as number });
      },
      setDown,
    ),
  );
  // A page past the last (a shared link to a page of studies that have since changed state, or a made-up
  // number): the last page instead, and the note says so.
  createEffect(on(page, (p) => {
    if (!p || p.tasks.length || !p.at) return;
    const a = asked(), total = a.state ? p.states[a.state] ?? 0 : p.job.totals.studies;
    const last = Math.max(0, Math.ceil(total / TASK_PAGE) - 1);
    setNote(
      `There is no page ${p.at + 1} of ${count(total, "study", "studies")} now: the ${
        last ? "last" : "first"
      } page is shown.`,
    );
    go(last, a.state, true);
  }));
  const move = (page: number, state: string) => (setNote(""), go(page, state));
  return {
    page,
    down,
    /** What was wrong with the page asked for, and what is shown instead ("" when nothing was). */
    note,
    /** Reads the page shown again (the job moved). */
    refresh: () => void refetch(),
    /** Which of the shown page's studies is the first, from 1. */
    first: () => (page()?.at ?? 0) * TASK_PAGE + 1,
    filter: () => asked().state,
    show: (state: string) => move(0, state),
    newer: () => move(Math.max(0, asked().page - 1), asked().state),
    older: () => page()?.next && move(asked().page + 1, asked().state),
    atStart: () => asked().page === 0,
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
    <>
      <Show when={p.note()}>
        <p class="warning" role="status">{p.note()}</p>
      </Show>
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
          {p.page()
            ? (shown()
              ? `Studies ${p.first()}–${p.first() + shown() - 1} of ${of()}`
              : p.page()!.at
              ? ""
              : none())
            : ""}
        </span>
        <button type="button" disabled={!p.page()?.next || p.page.loading} onClick={p.older}>
          Next
        </button>
      </div>
    </>
  );
}

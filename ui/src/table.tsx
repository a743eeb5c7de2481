/**
 * The console's one table: columns (a header, a cell per row, optional sort key, class and title), each
 * row's attributes (`data-site`...), what it says when there is no row (a line instead of the table, or a
 * status row inside it), and an optional selection (a checkbox per row, "select all" in the header), in a
 * Scroll so that a narrow screen scrolls it sideways.
 */
import { createEffect, createMemo, For, type JSX, Show } from "solid-js";
import { createStore, reconcile } from "solid-js/store";
import { Scroll } from "./widgets.tsx";

export interface Column<R> {
  /** The header's content ("" for a column of buttons). */
  header: JSX.Element;
  cell: (row: R) => JSX.Element;
  /** A class on each of its cells ("error", "caps"), or one for each row's. */
  class?: string | ((row: R) => string);
  /** The header's title (what the column means, on hover). */
  title?: string;
  /** A cell's title (what its value means, on hover). */
  cellTitle?: (row: R) => string | undefined;
  /** The key the table's `sort` sorts by when the header is pressed: the header becomes a button. */
  sort?: string;
  /** Whether the column is there (always when absent): a column only some jobs have. */
  when?: () => boolean;
}

/** Rows picked by a checkbox each, all of them by one in the header. */
export interface Selection<R, K = string> {
  key: (row: R) => K;
  selected: () => ReadonlySet<K>;
  choose: (keys: Set<K>) => void;
  /** The name of a row's checkbox ("Select row 12"). */
  label: (row: R) => string;
  /** The name of the header's checkbox ("Select all"). */
  all: string;
  /** The rows the header's checkbox selects, when more than those shown (every page's). */
  among?: readonly R[];
}

/** The sort shown, and what a press on a sortable header does. */
export interface Sorting {
  key: string | undefined;
  descending: boolean;
  by: (key: string) => void;
}

export function Table<R, K = string>(props: {
  /** The table's accessible name ("Dead letter"). */
  label: string;
  columns: Column<R>[];
  /** Undefined or null while none are known: an empty table, never the `empty` line. */
  rows: readonly R[] | null | undefined;
  /** Attributes of a row's `<tr>` (`{ "data-site": name }`). */
  row?: (row: R) => Record<string, string | undefined>;
  /** Said instead of an empty table. */
  empty?: JSX.Element;
  /**
   * Said in one row across the table, under its header, while it has no row (loading, none, or why they
   * cannot be listed: `error` makes it an alert).
   */
  status?: { text: JSX.Element; error?: boolean };
  /** Rows under a row (its series, when open). */
  after?: (row: R) => JSX.Element;
  select?: Selection<R, K>;
  sort?: Sorting;
}) {
  // Once for every row (a column list written inline is made again at each read of the prop).
  const columns = createMemo(() => props.columns.filter((c) => c.when?.() ?? true));
  // The rows drawn, each kept across refreshes while its identity (its row attributes, `data-site`...; else
  // its place) stays: a refresh (every 5 s on several screens) changes the cells that changed, in place, so
  // the keyboard's focus on a row's link or button, and a screen reader's place, are not lost to a redraw.
  const [drawn, setDrawn] = createStore<{ rows: { key: string; row: R }[] | undefined }>({ rows: undefined });
  createEffect(() => {
    const rows = props.rows;
    setDrawn(
      "rows",
      reconcile(
        rows
          ? rows.map((row, i) => ({ key: props.row ? JSON.stringify(props.row(row)) : String(i), row }))
          : undefined,
        { key: "key" },
      ),
    );
  });
  const among = () => props.select?.among ?? props.rows ?? [];
  const all = () => {
    const s = props.select!;
    return among().length > 0 && among().every((r) => s.selected().has(s.key(r)));
  };
  const some = () => props.select!.selected().size > 0;
  const header = (c: Column<R>) => {
    // props.sort read at each use: the sort shown changes while the header stays.
    const on = () => c.sort !== undefined && props.sort?.key === c.sort;
    const down = () => Boolean(props.sort?.descending);
    return (
      <th title={c.title} aria-sort={on() ? (down() ? "descending" : "ascending") : undefined}>
        <Show when={props.sort && c.sort !== undefined} fallback={c.header}>
          <button
            type="button"
            onClick={() => props.sort!.by(c.sort!)}
            aria-pressed={on()}
            aria-label={`Sort by ${c.header}${on() && !down() ? ", descending" : ""}`}
          >
            {c.header}
            {on() ? (down() ? " ↓" : " ↑") : ""}
          </button>
        </Show>
      </th>
    );
  };
  return (
    <Show
      when={!props.empty || !props.rows || props.rows.length}
      fallback={<p class="empty">{props.empty}</p>}
    >
      <Scroll>
        <table aria-label={props.label}>
          <thead>
            <tr>
              <Show when={props.select}>
                {(s) => (
                  <th>
                    <input
                      type="checkbox"
                      aria-label={s().all}
                      checked={all()}
                      ref={(el) => createEffect(() => (el.indeterminate = !all() && some()))}
                      onChange={(e) =>
                        s().choose(new Set(e.currentTarget.checked ? among().map(s().key) : []))}
                    />
                  </th>
                )}
              </Show>
              <For each={columns()}>{header}</For>
            </tr>
          </thead>
          <tbody>
            <For
              each={drawn.rows}
              fallback={
                <Show when={props.status}>
                  {(s) => (
                    <tr>
                      <td
                        colSpan={columns().length + (props.select ? 1 : 0)}
                        class={s().error ? "error" : "empty"}
                        role={s().error ? "alert" : undefined}
                      >
                        {s().text}
                      </td>
                    </tr>
                  )}
                </Show>
              }
            >
              {({ row: r }) => (
                <>
                  <tr {...props.row?.(r)}>
                    <Show when={props.select}>
                      {(s) => (
                        <td>
                          <input
                            type="checkbox"
                            aria-label={s().label(r)}
                            checked={s().selected().has(s().key(r))}
                            onChange={(e) => {
                              const keys = new Set(s().selected());
                              if (e.currentTarget.checked) keys.add(s().key(r));
                              else keys.delete(s().key(r));
                              s().choose(keys);
                            }}
                          />
                        </td>
                      )}
                    </Show>
                    <For each={columns()}>
                      {(c) => (
                        <td
                          class={typeof c.class === "function" ? c.class(r) : c.class}
                          title={c.cellTitle?.(r)}
                        >
                          {c.cell(r)}
                        </td>
                      )}
                    </For>
                  </tr>
                  {props.after?.(r)}
                </>
              )}
            </For>
          </tbody>
        </table>
      </Scroll>
    </Show>
  );
}

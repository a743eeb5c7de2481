/**
 * The transfer dialog's time windows: one window (from, to, the days it starts on) as the dialog always
 * had, "Add a window" for more (up to the API's 14, the job runs while any is open), each removable, and one
 * time zone for all (the hub's when empty). The times are text fields in 24-hour `HH:MM` (`7:30`, `0730` and
 * `19.30` are taken, and shown as `07:30` once the field is left): Chromium's `<input type=time>` showed
 * 12-hour AM/PM in en-GB and en-US. `ui/src/windows.ts` turns them into the API's `window`.
 */
import { createSignal, For, type Setter, Show } from "solid-js";
import type { Day, Windows } from "@conduit/shared/transfer-window";
import { MAX_WINDOWS, timeOfDay, WEEK, windowsOf } from "../windows.ts";

/** What a time field takes, said to the user (its title, which screen readers read as its description). */
const TIME_HINT = "24-hour time, HH:MM (7:30 and 0730 are read as 07:30)";

/** The fields' state, read by the form that holds them. */
export interface WindowChoice {
  /** The window(s) to send, undefined for none; throws with a sentence when they cannot be sent. */
  request(): Windows | undefined;
}

interface Row {
  start: () => string;
  setStart: Setter<string>;
  end: () => string;
  setEnd: Setter<string>;
  days: () => ReadonlySet<Day>;
  setDays: Setter<ReadonlySet<Day>>;
}

function newRow(): Row {
  const [start, setStart] = createSignal("");
  const [end, setEnd] = createSignal("");
  const [days, setDays] = createSignal<ReadonlySet<Day>>(new Set());
  return { start, setStart, end, setEnd, days, setDays };
}

/** The zones this browser knows, offered as the time zone is typed. */
const ZONES: readonly string[] = (() => {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return [];
  }
})();

export function WindowFields(props: { ref: (choice: WindowChoice) => void }) {
  const [rows, setRows] = createSignal<Row[]>([newRow()]);
  const [zone, setZone] = createSignal("");
  const several = () => rows().length > 1;
  props.ref({
    request: () => windowsOf(rows().map((r) => ({ start: r.start(), end: r.end(), days: r.days() })), zone()),
  });

  return (
    <>
      <For each={rows()}>
        {(r, i) => (
          <div
            class="window"
            classList={{ several: several() }}
            role="group"
            aria-label={`Window ${i() + 1}`}
          >
            <div class="row">
              <label>
                {several() ? `Window ${i() + 1} from` : "Window from"}
                <input
                  name="windowStart"
                  size="5"
                  autocomplete="off"
                  placeholder="HH:MM"
                  title={TIME_HINT}
                  value={r.start()}
                  onInput={(e) => r.setStart(e.currentTarget.value)}
                  onChange={(e) => r.setStart(timeOfDay(e.currentTarget.value))}
                />
              </label>
              <label>
                to
                <input
                  name="windowEnd"
                  size="5"
                  autocomplete="off"
                  placeholder="HH:MM"
                  title={TIME_HINT}
                  value={r.end()}
                  onInput={(e) => r.setEnd(e.currentTarget.value)}
                  onChange={(e) => r.setEnd(timeOfDay(e.currentTarget.value))}
                />
              </label>
              <Show when={several()}>
                <button
                  type="button"
                  aria-label={`Remove window ${i() + 1}`}
                  onClick={() => setRows((now) => now.filter((x) => x !== r))}
                >
                  Remove
                </button>
              </Show>
            </div>
            <fieldset class="row" aria-label="Window days">
              <legend>On the days (none: every day)</legend>
              <For each={WEEK}>
                {(d) => (
                  <label>
                    <input
                      type="checkbox"
                      name={`day-${d}`}
                      checked={r.days().has(d)}
                      onChange={(e) => {
                        const on = e.currentTarget.checked;
                        r.setDays((now) => {
                          const next = new Set(now);
                          if (on) next.add(d);
                          else next.delete(d);
                          return next;
                        });
                      }}
                    />
                    {d[0].toUpperCase() + d.slice(1)}
                  </label>
                )}
              </For>
            </fieldset>
          </div>
        )}
      </For>
      <div class="row">
        <button
          type="button"
          disabled={rows().length >= MAX_WINDOWS}
          onClick={() => setRows((now) => [...now, newRow()])}
        >
          Add a window
        </button>
        <label>
          Time zone
          <input
            name="windowZone"
            list="window-zones"
            placeholder="the hub's"
            value={zone()}
            onInput={(e) => setZone(e.currentTarget.value)}
          />
          <datalist id="window-zones">
            <For each={ZONES}>{(z) => <option value={z} />}</For>
          </datalist>
        </label>
      </div>
    </>
  );
}

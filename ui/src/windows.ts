/**
 * The transfer dialog's time windows as the API takes them: the rows the dialog shows (each a start, an
 * end and the days ticked) and one time zone for all, checked by the rules the hub applies
 * (`@conduit/shared/transfer-window`), so a bad window is refused in the dialog in the hub's words.
 */
import {
  checkTimeZone,
  checkWindow,
  type Day,
  MAX_WINDOWS,
  type TimeWindow,
  type Windows,
} from "@conduit/shared/transfer-window";

export { MAX_WINDOWS };

/** The days in the order the dialog offers them. */
export const WEEK: readonly Day[] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/**
 * A time of day as typed in the dialog's text fields, as the API's 24-hour `HH:MM`: `19:30`, `7:30` (an hour
 * of one digit), `0730` (four digits) and `19.30` (a dot, as much of Europe writes it) are taken; anything
 * else (`7pm`, `730`, `7`, `24:00`, `19:60`) is returned as typed (trimmed), for the hub's rule to refuse
 * in its words. Never 12-hour: the browser's `<input type=time>` showed AM/PM in en-GB and en-US.
 */
export function timeOfDay(typed: string): string {
  const value = typed.trim();
  const m = /^(\d{1,2})[:.](\d{2})$/.exec(value) ?? /^(\d{2})(\d{2})$/.exec(value);
  if (!m || Number(m[1]) > 23 || Number(m[2]) > 59) return value;
  return `${m[1].padStart(2, "0")}:${m[2]}`;
}

/** One window as the dialog holds it: start and end as typed (or empty), and the days ticked. */
export interface WindowRow {
  start: string;
  end: string;
  days: ReadonlySet<Day>;
}

/**
 * The window (one row) or windows (several) to send, undefined for one empty row (any time); throws an
 * Error with a sentence saying which window is wrong and why.
 */
export function windowsOf(rows: readonly WindowRow[], timeZone: string): Windows | undefined {
  const zone = timeZone.trim();
  const one = rows.length === 1;
  const first = rows[0];
  if (!first || (one && !first.start && !first.end && !first.days.size)) {
    if (zone) throw new Error("Give the window a start and an end for its time zone, or clear the zone.");
    return undefined;
  }
  if (zone) refuse(() => checkTimeZone(zone), "The time zone");
  const list = rows.map((typed, i): TimeWindow => {
    const r = { ...typed, start: timeOfDay(typed.start), end: timeOfDay(typed.end) };
    const which = one ? "the window" : `window ${i + 1}`;
    if (!r.start && !r.end) {
      throw new Error(
        r.days.size
          ? `Give ${which} a start and an end for the days ticked.`
          : `Give ${which} a start and an end, or remove it.`,
      );
    }
    if (!r.start || !r.end) {
      throw new Error(`Give ${which} both a start and an end${one ? ", or neither" : ""}.`);
    }
    const w: TimeWindow = {
      start: r.start,
      end: r.end,
      ...(zone ? { timeZone: zone } : {}),
      ...(r.days.size ? { days: WEEK.filter((d) => r.days.has(d)) } : {}),
    };
    refuse(() => checkWindow(w), one ? "The window" : `Window ${i + 1}`);
    return w;
  });
  refuse(() => checkWindow(list), "The windows");
  return one ? list[0] : list;
}

/** Runs a check of the shared rules; its refusal becomes a sentence that names what it was about. */
function refuse(check: () => void, what: string): void {
  try {
    check();
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}.`);
  }
}

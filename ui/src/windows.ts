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

/** One window as the dialog holds it: `HH:MM` (or empty) start and end, and the days ticked. */
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
  const list = rows.map((r, i): TimeWindow => {
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

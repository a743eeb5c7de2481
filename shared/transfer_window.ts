/**
 * The rules of a transfer's time window, shared by the hub (which enforces them on `transfers.create` and
 * `transfers.schedule`) and the console (which refuses a bad window in its dialog with the same words):
 * `HH:MM` start and end, an optional IANA time zone (the hub's own when none is named), optional `days`
 * (the days of the week the window starts on, in its zone), and at most `MAX_WINDOWS` windows per job.
 * When a window is open is the hub's business (hub/transfers/window.ts).
 */

export const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;
export type Day = (typeof DAYS)[number];

export interface TimeWindow {
  start: string;
  end: string;
  timeZone?: string;
  /** The days of the week the window starts on, in its zone; absent: every day. */
  days?: Day[];
}

/** One window, or several (open while any is). */
export type Windows = TimeWindow | TimeWindow[];

/** At most this many windows per job. */
export const MAX_WINDOWS = 14;

export class WindowError extends Error {
  override name = "WindowError";
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** The minute of the day (0–1439) of an `HH:MM` time; a WindowError naming `what` when it is not one. */
export function minuteOfDay(hhmm: string, what: string): number {
  const m = HHMM.exec(hhmm);
  if (!m) throw new WindowError(`the window's ${what} ${JSON.stringify(hhmm)} is not a time of day as HH:MM`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** The windows of one or several, as a list. */
export function windowList(w: Windows): TimeWindow[] {
  return Array.isArray(w) ? w : [w];
}

/** Throws a WindowError unless `timeZone` is an IANA time zone this runtime knows. */
export function checkTimeZone(timeZone: string): void {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone });
  } catch {
    throw new WindowError(
      `${JSON.stringify(timeZone)} is not an IANA time zone (e.g. Europe/Paris) or an offset ±HH:MM (+05:00)`,
    );
  }
}

/** Throws a WindowError that says what is wrong with a window (or a list of them). */
export function checkWindow(windows: Windows): void {
  const list = windowList(windows);
  if (list.length === 0) throw new WindowError("name at least one window (or none at all)");
  if (list.length > MAX_WINDOWS) throw new WindowError(`at most ${MAX_WINDOWS} windows`);
  list.forEach((w, i) => {
    try {
      checkOne(w);
    } catch (err) {
      // In a list, say which window: "window 2 of 3: ...".
      if (list.length > 1 && err instanceof WindowError) {
        throw new WindowError(`window ${i + 1} of ${list.length}: ${err.message}`);
      }
      throw err;
    }
  });
}

/** Throws a WindowError that says what is wrong with one window. */
function checkOne(w: TimeWindow): void {
  minuteOfDay(w.start, "start");
  minuteOfDay(w.end, "end");
  if (w.timeZone !== undefined) checkTimeZone(w.timeZone);
  if (w.days !== undefined) {
    if (w.days.length === 0) {
      throw new WindowError("a window's days name at least one day (or leave days out)");
    }
    for (const d of w.days) {
      if (!(DAYS as readonly string[]).includes(d)) {
        throw new WindowError(`${JSON.stringify(d)} is not a day: use ${DAYS.join(", ")}`);
      }
    }
    if (new Set(w.days).size !== w.days.length) throw new WindowError("a window names a day twice");
  }
}

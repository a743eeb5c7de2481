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

// ---------------------------------------------------------------------------------------------------
// The clock: whether windows are open at a time, and when they next open (hub transfers, agent routes).

const formats = new Map<string, Intl.DateTimeFormat>();
const WEEKDAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** The day of the week (0 Sunday) and minute of the day (0–1439) at `at` in `timeZone`. */
function localTime(at: number, timeZone?: string): { day: number; minute: number } {
  let format = formats.get(timeZone ?? "");
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    formats.set(timeZone ?? "", format);
  }
  let day = 0, hour = 0, minute = 0;
  for (const p of format.formatToParts(new Date(at))) {
    if (p.type === "weekday") day = WEEKDAY[p.value] ?? 0;
    else if (p.type === "hour") hour = Number(p.value);
    else if (p.type === "minute") minute = Number(p.value);
  }
  return { day, minute: hour * 60 + minute };
}

function openOne(w: TimeWindow, at: number): boolean {
  const start = minuteOfDay(w.start, "start");
  const end = minuteOfDay(w.end, "end");
  if (start === end && !w.days) return true;
  const now = localTime(at, w.timeZone);
  const on = (day: number) => !w.days || w.days.includes(DAYS[(day + 7) % 7]);
  if (start < end) return now.minute >= start && now.minute < end && on(now.day);
  // Past midnight (or 24 hours with days): the part before midnight belongs to today's start, the
  // part after it to yesterday's.
  return (now.minute >= start && on(now.day)) || (now.minute < end && on(now.day - 1)) ||
    (start === end && now.minute < start && on(now.day - 1));
}

/** True when the window (any of them) is open at `at` (epoch ms). */
export function isOpen(windows: Windows, at: number): boolean {
  return windowList(windows).some((w) => openOne(w, at));
}

/** How long a window lasts by its clock, in minutes. */
function lengthOf(w: TimeWindow): number {
  const start = minuteOfDay(w.start, "start");
  const end = minuteOfDay(w.end, "end");
  return end > start ? end - start : end + 1440 - start;
}

/**
 * When the window (the first of them) next opens after `at` (epoch ms, to the minute; `at` itself when
 * it is open); 8 days on when none opens before (a window whose only day's hours fall in a
 * daylight-saving gap: it is looked at again then). Found by stepping through the coming days without date arithmetic in the zone,
 * which stays right across daylight-saving changes: in strides shorter than the window can be open
 * (a window loses at most an hour to a change), then minute by minute back to the opening.
 */
export function nextOpening(windows: Windows, at: number): number {
  if (isOpen(windows, at)) return at;
  // The opening found for an earlier time holds for every time between that one and the opening (the
  // window is closed all along): asked for each object a route takes while its window is closed, the
  // search (up to 8 days minute by minute for a window of an hour or less, some 16 ms) runs once per
  // opening instead (until 2026-12-08 each object paid it: ingest six times slower, QA 36b).
  const known = openings.get(windows);
  if (known && at >= known.from && at < known.opening) return known.opening;
  const opening = searchOpening(windows, at);
  if (opening !== undefined) openings.set(windows, { from: at, opening });
  return opening ?? Math.floor(at / 60_000) * 60_000 + 60_000 + 8 * 1440 * 60_000;
}

/** The last opening found per windows object (configurations are not changed in place: a reload makes new ones). */
const openings = new WeakMap<Windows, { from: number; opening: number }>();

/** nextOpening's search, for a closed window; undefined when none opens within 8 days. */
function searchOpening(windows: Windows, at: number): number | undefined {
  const minute = 60_000;
  const list = windowList(windows);
  const stride = Math.max(1, Math.min(15, ...list.map((w) => lengthOf(w) - 60)));
  const first = Math.floor(at / minute) * minute + minute;
  for (let t = first; t <= first + 8 * 1440 * minute; t += stride * minute) {
    if (!isOpen(list, t)) continue;
    let opening = t;
    while (opening - minute >= first && isOpen(list, opening - minute)) opening -= minute;
    return opening;
  }
  return undefined;
}

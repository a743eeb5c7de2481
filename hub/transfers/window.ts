/**
 * A transfer's time window: the hours it may move data, as `HH:MM` start and end in an IANA time zone
 * (the hub's own when none is named), optionally only on some days of the week (`days`, the days the
 * window starts on). An end earlier than the start runs past midnight (19:00–06:00 is the night; with
 * `days: ["fri"]` it runs from Friday 19:00 into Saturday 06:00); equal start and end mean the whole day
 * (24 hours from the start on each day named, or always without days). Minutes are whole: the window is
 * open from the start minute up to, not including, the end minute. Times are the zone's wall clock, so
 * a daylight-saving change moves nothing: a window opens at its local start whatever the offset (a
 * start in the hour skipped in spring opens when the clock reaches it, at the end of the gap).
 *
 * A job may have several windows (`Windows`): it may move data while any of them is open.
 */

import {
  DAYS,
  minuteOfDay,
  type TimeWindow,
  windowList,
  type Windows,
} from "@conduit/shared/transfer-window";

export {
  checkWindow,
  type Day,
  DAYS,
  MAX_WINDOWS,
  type TimeWindow,
  WindowError,
  type Windows,
} from "@conduit/shared/transfer-window";

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
  return first + 8 * 1440 * minute;
}

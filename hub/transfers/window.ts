/**
 * A transfer's time window: the hours of the day it may move data, as `HH:MM` start and end in an IANA
 * time zone (the hub's own when none is named). An end earlier than the start runs past midnight
 * (19:00–06:00 is the night); equal start and end mean the whole day. Minutes are whole: the window is
 * open from the start minute up to, not including, the end minute.
 */

export interface TimeWindow {
  start: string;
  end: string;
  timeZone?: string;
}

export class WindowError extends Error {
  override name = "WindowError";
}

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

function minutesOf(hhmm: string, what: string): number {
  const m = HHMM.exec(hhmm);
  if (!m) throw new WindowError(`the window's ${what} ${JSON.stringify(hhmm)} is not a time of day as HH:MM`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/** Throws a WindowError that says what is wrong with a window. */
export function checkWindow(w: TimeWindow): void {
  minutesOf(w.start, "start");
  minutesOf(w.end, "end");
  if (w.timeZone !== undefined) {
    try {
      new Intl.DateTimeFormat("en-GB", { timeZone: w.timeZone });
    } catch {
      throw new WindowError(`${JSON.stringify(w.timeZone)} is not an IANA time zone (e.g. Europe/Paris)`);
    }
  }
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The minute of the day (0–1439) at `at` in `timeZone` (the process's zone when undefined). */
function minuteOfDay(at: number, timeZone?: string): number {
  let format = formats.get(timeZone ?? "");
  if (!format) {
    format = new Intl.DateTimeFormat("en-GB", {
      timeZone,
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    formats.set(timeZone ?? "", format);
  }
  const parts = format.formatToParts(new Date(at));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return get("hour") * 60 + get("minute");
}

/** True when the window is open at `at` (epoch ms). */
export function isOpen(w: TimeWindow, at: number): boolean {
  const start = minutesOf(w.start, "start");
  const end = minutesOf(w.end, "end");
  if (start === end) return true;
  const now = minuteOfDay(at, w.timeZone);
  return start < end ? now >= start && now < end : now >= start || now < end;
}

/**
 * When the window next opens after `at` (epoch ms, to the minute; `at` itself when it is open). Found
 * by stepping through the coming day minute by minute, which stays right across daylight-saving
 * changes without date arithmetic in the zone.
 */
export function nextOpening(w: TimeWindow, at: number): number {
  if (isOpen(w, at)) return at;
  const minute = 60_000;
  let t = Math.floor(at / minute) * minute + minute;
  for (let i = 0; i < 26 * 60; i++, t += minute) {
    if (isOpen(w, t)) return t;
  }
  return t; // unreachable for a valid window: every window opens within a day
}

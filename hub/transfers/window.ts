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

// The clock of windows (isOpen, nextOpening) lives in @conduit/shared/transfer-window since 2026-12-07: an
// agent's routes take windows too.
export {
  checkWindow,
  type Day,
  DAYS,
  isOpen,
  MAX_WINDOWS,
  nextOpening,
  type TimeWindow,
  WindowError,
  type Windows,
} from "@conduit/shared/transfer-window";

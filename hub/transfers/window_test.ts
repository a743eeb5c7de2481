import assert from "node:assert/strict";
import { checkWindow, isOpen, nextOpening, WindowError } from "./window.ts";

const utc = (s: string) => Date.parse(`${s}Z`);

Deno.test("time window: a day window is open from its start up to its end minute", () => {
  const w = { start: "08:30", end: "17:00", timeZone: "UTC" };
  assert.equal(isOpen(w, utc("2026-11-22T08:29:59")), false);
  assert.equal(isOpen(w, utc("2026-11-22T08:30:00")), true);
  assert.equal(isOpen(w, utc("2026-11-22T16:59:59")), true);
  assert.equal(isOpen(w, utc("2026-11-22T17:00:00")), false);
});

Deno.test("time window: an end before the start runs past midnight; equal ends mean all day", () => {
  const night = { start: "19:00", end: "06:00", timeZone: "UTC" };
  assert.equal(isOpen(night, utc("2026-11-22T23:59:00")), true);
  assert.equal(isOpen(night, utc("2026-11-22T05:59:00")), true);
  assert.equal(isOpen(night, utc("2026-11-22T06:00:00")), false);
  assert.equal(isOpen(night, utc("2026-11-22T12:00:00")), false);
  assert.equal(isOpen({ start: "00:00", end: "00:00", timeZone: "UTC" }, utc("2026-11-22T12:00:00")), true);
});

Deno.test("time window: the zone decides the hour (Europe/Paris is UTC+1 in November)", () => {
  const w = { start: "19:00", end: "06:00", timeZone: "Europe/Paris" };
  assert.equal(isOpen(w, utc("2026-11-22T18:30:00")), true); // 19:30 in Paris
  assert.equal(isOpen(w, utc("2026-11-22T17:30:00")), false); // 18:30 in Paris
});

Deno.test("time window: the next opening, to the minute; now when open", () => {
  const w = { start: "19:00", end: "06:00", timeZone: "UTC" };
  assert.equal(nextOpening(w, utc("2026-11-22T12:34:56")), utc("2026-11-22T19:00:00"));
  const open = utc("2026-11-22T20:00:00");
  assert.equal(nextOpening(w, open), open);
  // Across a daylight-saving change (Paris goes back one hour on 2026-10-25 at 03:00).
  const paris = { start: "02:30", end: "02:45", timeZone: "Europe/Paris" };
  const next = nextOpening(paris, utc("2026-10-24T12:00:00"));
  assert.equal(isOpen(paris, next), true);
  assert.equal(next, utc("2026-10-25T00:30:00")); // the first 02:30 of the night, still summer time
});

Deno.test("time window: a bad time or zone is refused with what is wrong", () => {
  assert.throws(() => checkWindow({ start: "7:00", end: "08:00" }), WindowError);
  assert.throws(() => checkWindow({ start: "07:00", end: "24:00" }), /end "24:00"/);
  assert.throws(() => checkWindow({ start: "07:00", end: "08:00", timeZone: "Mars/Olympus" }), /IANA/);
  checkWindow({ start: "07:00", end: "08:00", timeZone: "America/New_York" });
});

// 2026-12-04 is a Friday; Paris is UTC+1 in December.
const weekNights = {
  start: "19:00",
  end: "07:00",
  timeZone: "Europe/Paris",
  days: ["mon", "tue", "wed", "thu", "fri"] as const,
};
const weekends = { start: "00:00", end: "00:00", timeZone: "Europe/Paris", days: ["sat", "sun"] as const };

Deno.test("weekday windows: a night window named by the days it starts runs into the next morning", () => {
  const w = { ...weekNights, days: [...weekNights.days] };
  assert.equal(isOpen(w, utc("2026-12-04T18:00:00")), true); // Friday 19:00
  assert.equal(isOpen(w, utc("2026-12-05T05:59:00")), true); // Saturday 06:59, Friday's night
  assert.equal(isOpen(w, utc("2026-12-05T06:00:00")), false); // Saturday 07:00
  assert.equal(isOpen(w, utc("2026-12-05T19:00:00")), false); // Saturday 20:00: not a day named
  assert.equal(isOpen(w, utc("2026-12-07T05:00:00")), false); // Monday 06:00: Sunday's night, not named
  assert.equal(isOpen(w, utc("2026-12-07T18:00:00")), true); // Monday 19:00
  assert.equal(isOpen(w, utc("2026-12-07T12:00:00")), false); // Monday noon
  // Saturday morning: the next opening is Monday 19:00 in Paris.
  assert.equal(nextOpening(w, utc("2026-12-05T07:00:00")), utc("2026-12-07T18:00:00"));
  // Only Friday's night: Friday 19:00 to Saturday 07:00.
  const friday = { start: "19:00", end: "07:00", timeZone: "UTC", days: ["fri" as const] };
  assert.equal(isOpen(friday, utc("2026-12-05T06:59:00")), true);
  assert.equal(isOpen(friday, utc("2026-12-05T07:00:00")), false);
  assert.equal(isOpen(friday, utc("2026-12-03T20:00:00")), false); // Thursday
  assert.equal(nextOpening(friday, utc("2026-12-05T07:00:00")), utc("2026-12-11T19:00:00"));
});

Deno.test("weekday windows: several windows, open while any is; equal ends with days are whole days", () => {
  const both = [{ ...weekNights, days: [...weekNights.days] }, { ...weekends, days: [...weekends.days] }];
  assert.equal(isOpen(both, utc("2026-12-05T11:00:00")), true); // Saturday noon
  assert.equal(isOpen(both, utc("2026-12-06T22:59:00")), true); // Sunday 23:59
  assert.equal(isOpen(both, utc("2026-12-06T23:00:00")), false); // Monday 00:00
  assert.equal(isOpen(both, utc("2026-12-07T05:59:00")), false); // Monday 06:59: no Sunday night
  assert.equal(isOpen(both, utc("2026-12-08T05:59:00")), true); // Tuesday 06:59: Monday's night
  assert.equal(isOpen(both, utc("2026-12-08T11:00:00")), false); // Tuesday noon
  assert.equal(nextOpening(both, utc("2026-12-06T23:00:00")), utc("2026-12-07T18:00:00"));
  assert.equal(nextOpening(both, utc("2026-12-04T11:00:00")), utc("2026-12-04T18:00:00")); // Friday noon
  // Friday's night runs into Saturday, where the weekend window takes over: open from Friday 19:00 on.
  for (const at of ["2026-12-05T06:00:00", "2026-12-05T23:30:00"]) assert.equal(isOpen(both, utc(at)), true);
});

Deno.test("weekday windows: daylight-saving changes in Europe/Paris (2026-03-29, 2026-10-25)", () => {
  const night = { start: "19:00", end: "07:00", timeZone: "Europe/Paris", days: ["sat" as const] };
  // Saturday 19:00 CET (18:00Z) to Sunday 07:00 CEST (05:00Z): eleven hours.
  assert.equal(nextOpening(night, utc("2026-03-28T12:00:00")), utc("2026-03-28T18:00:00"));
  assert.equal(isOpen(night, utc("2026-03-29T04:59:00")), true);
  assert.equal(isOpen(night, utc("2026-03-29T05:00:00")), false);
  // A start in the skipped hour (02:00-03:00) opens when the clock reaches the window, at 03:00 CEST.
  const gap = { start: "02:30", end: "04:00", timeZone: "Europe/Paris" };
  assert.equal(nextOpening(gap, utc("2026-03-28T12:00:00")), utc("2026-03-29T01:00:00"));
  // A window wholly in the skipped hour does not open that day; it does the next.
  const lost = {
    start: "02:15",
    end: "02:45",
    timeZone: "Europe/Paris",
    days: ["sun" as const, "mon" as const],
  };
  assert.equal(nextOpening(lost, utc("2026-03-28T12:00:00")), utc("2026-03-30T00:15:00"));
  // In autumn Saturday's night lasts thirteen hours: 19:00 CEST (17:00Z) to 07:00 CET (06:00Z).
  assert.equal(nextOpening(night, utc("2026-10-24T12:00:00")), utc("2026-10-24T17:00:00"));
  assert.equal(isOpen(night, utc("2026-10-25T05:59:00")), true);
  assert.equal(isOpen(night, utc("2026-10-25T06:00:00")), false);
  // The following Saturday is back to UTC+1.
  assert.equal(nextOpening(night, utc("2026-10-25T06:00:00")), utc("2026-10-31T18:00:00"));
});

Deno.test("weekday windows: daylight-saving changes in America/New_York (2026-03-08, 2026-11-01)", () => {
  const early = { start: "01:00", end: "04:00", timeZone: "America/New_York", days: ["sun" as const] };
  // Sunday 01:00 EST (06:00Z) to 04:00 EDT (08:00Z): two hours that day.
  assert.equal(nextOpening(early, utc("2026-03-07T12:00:00")), utc("2026-03-08T06:00:00"));
  assert.equal(isOpen(early, utc("2026-03-08T07:30:00")), true); // 03:30 EDT
  assert.equal(isOpen(early, utc("2026-03-08T08:00:00")), false); // 04:00 EDT
  // 01:30 happens twice on 2026-11-01: the window opens at the first (EDT, 05:30Z)...
  const twice = { start: "01:30", end: "01:45", timeZone: "America/New_York" };
  assert.equal(nextOpening(twice, utc("2026-10-31T12:00:00")), utc("2026-11-01T05:30:00"));
  // ... and again at the second (EST, 06:30Z).
  assert.equal(nextOpening(twice, utc("2026-11-01T05:45:00")), utc("2026-11-01T06:30:00"));
  const night = { start: "22:00", end: "06:00", timeZone: "America/New_York", days: ["sat" as const] };
  assert.equal(isOpen(night, utc("2026-11-01T10:59:00")), true); // 05:59 EST
  assert.equal(isOpen(night, utc("2026-11-01T11:00:00")), false); // 06:00 EST
  assert.equal(isOpen(night, utc("2026-11-01T02:00:00")), true); // Saturday 22:00 EDT
  assert.equal(isOpen(night, utc("2026-11-01T01:59:00")), false);
});

Deno.test("weekday windows: bad days or too many windows are refused with what is wrong", () => {
  assert.throws(() => checkWindow({ start: "07:00", end: "08:00", days: ["xyz" as "mon"] }), /not a day/);
  assert.throws(() => checkWindow({ start: "07:00", end: "08:00", days: [] }), /at least one day/);
  assert.throws(() => checkWindow({ start: "07:00", end: "08:00", days: ["mon", "mon"] }), /twice/);
  assert.throws(() => checkWindow([]), /at least one window/);
  assert.throws(() => checkWindow(Array(15).fill({ start: "07:00", end: "08:00" })), /at most 14/);
  assert.throws(() => checkWindow([{ start: "07:00", end: "08:00" }, { start: "7", end: "08:00" }]), /HH:MM/);
  checkWindow([{ start: "07:00", end: "08:00", days: ["sat", "sun"] }, { start: "19:00", end: "07:00" }]);
});

Deno.test("weekday windows: a bad window in a list is named by its place in it", () => {
  const good = { start: "07:00", end: "08:00" };
  assert.throws(
    () => checkWindow([good, good, { start: "25:00", end: "08:00" }]),
    /^WindowError: window 3 of 3: the window's start "25:00" is not a time of day as HH:MM$/,
  );
  assert.throws(
    () => checkWindow([{ ...good, timeZone: "Mars/Olympus" }, good]),
    /^WindowError: window 1 of 2: "Mars\/Olympus" is not an IANA time zone/,
  );
  // One window alone, as a list or not, needs no place.
  assert.throws(
    () => checkWindow([{ ...good, days: ["monday" as "mon"] }]),
    /^WindowError: "monday" is not a day/,
  );
  // Fifteen windows, each of them good, are refused as too many.
  assert.throws(() => checkWindow(Array(15).fill(good)), /^WindowError: at most 14 windows$/);
});

Deno.test("time window: the opening found once holds until it comes, then the next one is found", () => {
  // A short weekly window (the search for it walks minute by minute: once per opening, not per object).
  const w = { start: "02:00", end: "02:30", timeZone: "Europe/Paris", days: ["sun" as const] };
  const sunday = utc("2026-12-13T01:00:00"); // 02:00 in Paris
  assert.equal(nextOpening(w, utc("2026-12-08T12:00:00")), sunday);
  assert.equal(nextOpening(w, utc("2026-12-10T03:17:00")), sunday, "later, before it: the same");
  assert.equal(nextOpening(w, utc("2026-12-07T12:00:00")), sunday, "earlier: found again, the same");
  assert.equal(nextOpening(w, sunday + 60_000), sunday + 60_000, "open: now");
  assert.equal(nextOpening(w, utc("2026-12-13T02:00:00")), utc("2026-12-20T01:00:00"), "after it: a week on");
  // An equal window written again (a reload) is its own object, found afresh.
  assert.equal(nextOpening({ ...w }, utc("2026-12-14T00:00:00")), utc("2026-12-20T01:00:00"));
});

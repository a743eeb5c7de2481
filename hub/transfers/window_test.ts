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

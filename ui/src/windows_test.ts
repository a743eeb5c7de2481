import assert from "node:assert/strict";
import type { Day } from "@conduit/shared/transfer-window";
import { MAX_WINDOWS, timeOfDay, type WindowRow, windowsOf } from "./windows.ts";

const row = (start: string, end: string, ...days: Day[]): WindowRow => ({ start, end, days: new Set(days) });

Deno.test("windowsOf() sends nothing for one empty row, one window for one row, a list for several", () => {
  assert.equal(windowsOf([row("", "")], ""), undefined);
  assert.deepEqual(windowsOf([row("19:00", "07:00")], ""), { start: "19:00", end: "07:00" });
  assert.deepEqual(
    windowsOf(
      [row("19:00", "07:00", "fri", "mon", "tue", "wed", "thu"), row("00:00", "00:00", "sun", "sat")],
      " UTC ",
    ),
    [
      { start: "19:00", end: "07:00", timeZone: "UTC", days: ["mon", "tue", "wed", "thu", "fri"] },
      { start: "00:00", end: "00:00", timeZone: "UTC", days: ["sat", "sun"] },
    ],
  );
});

Deno.test("windowsOf() names the window that is incomplete", () => {
  assert.throws(() => windowsOf([row("19:00", "")], ""), {
    message: "Give the window both a start and an end, or neither.",
  });
  assert.throws(() => windowsOf([row("", "", "sat")], ""), {
    message: "Give the window a start and an end for the days ticked.",
  });
  assert.throws(() => windowsOf([row("19:00", "07:00"), row("", "")], ""), {
    message: "Give window 2 a start and an end, or remove it.",
  });
  assert.throws(() => windowsOf([row("19:00", "07:00"), row("", "08:00")], ""), {
    message: "Give window 2 both a start and an end.",
  });
  assert.throws(() => windowsOf([row("", "")], "UTC"), /for its time zone, or clear the zone/);
});

Deno.test("windowsOf() refuses what the hub refuses, in the hub's words", () => {
  assert.throws(() => windowsOf([row("19:00", "07:00")], "Mars/Olympus"), {
    message:
      'The time zone: "Mars/Olympus" is not an IANA time zone (e.g. Europe/Paris) or an offset ±HH:MM (+05:00).',
  });
  assert.throws(() => windowsOf([row("19:00", "07:00"), row("7pm", "08:00")], ""), {
    message: 'Window 2: the window\'s start "7pm" is not a time of day as HH:MM.',
  });
  const many = Array.from({ length: MAX_WINDOWS + 1 }, () => row("01:00", "02:00"));
  assert.throws(() => windowsOf(many, ""), { message: `The windows: at most ${MAX_WINDOWS} windows.` });
});

Deno.test("timeOfDay() reads 24-hour times typed as 19:30, 7:30, 0730 or 19.30, and leaves the rest as typed", () => {
  const read: [string, string][] = [
    ["19:30", "19:30"],
    [" 7:30 ", "07:30"],
    ["0730", "07:30"],
    ["19.30", "19:30"],
    ["00:00", "00:00"],
    ["23:59", "23:59"],
    ["", ""],
    // Not a 24-hour HH:MM, nor one of the forms above: as typed, for the hub's rule to refuse.
    ["7pm", "7pm"],
    ["7:30 PM", "7:30 PM"],
    ["730", "730"],
    ["7", "7"],
    ["24:00", "24:00"],
    ["19:60", "19:60"],
    ["19:5", "19:5"],
  ];
  for (const [typed, time] of read) assert.equal(timeOfDay(typed), time, JSON.stringify(typed));
});

Deno.test("windowsOf() sends the times typed as the API's HH:MM, and refuses one it cannot read in the hub's words", () => {
  assert.deepEqual(windowsOf([row("1900", "7:00", "fri")], ""), {
    start: "19:00",
    end: "07:00",
    days: ["fri"],
  });
  assert.throws(() => windowsOf([row("19:00", "7pm")], ""), {
    message: 'The window: the window\'s end "7pm" is not a time of day as HH:MM.',
  });
  assert.throws(() => windowsOf([row("19:00", "07:00"), row("24:00", "08:00")], ""), {
    message: 'Window 2: the window\'s start "24:00" is not a time of day as HH:MM.',
  });
});

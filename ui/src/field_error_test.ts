import assert from "node:assert/strict";
import { fieldOf, windowErrorField } from "./field_error.ts";

Deno.test("windowErrorField() points a schedule error at the zone or at the window it names", () => {
  assert.deepEqual(
    windowErrorField('The time zone: "Mars/Olympus" is not an IANA time zone (e.g. Europe/Paris).'),
    { name: "windowZone", index: 0 },
  );
  assert.deepEqual(windowErrorField("Give window 2 a start and an end, or remove it."), {
    name: "windowStart",
    index: 1,
  });
  assert.deepEqual(windowErrorField("Window 3: the end is the start."), { name: "windowStart", index: 2 });
  assert.deepEqual(
    windowErrorField("Give the window a start and an end for its time zone, or clear the zone."),
    { name: "windowStart", index: 0 },
  );
  // A time typed wrong: the field it was typed in, the end too.
  assert.deepEqual(
    windowErrorField('Window 2: the window\'s end "7pm" is not a time of day as HH:MM.'),
    { name: "windowEnd", index: 1 },
  );
  assert.deepEqual(
    windowErrorField('The window: the window\'s start "730" is not a time of day as HH:MM.'),
    { name: "windowStart", index: 0 },
  );
});

Deno.test("fieldOf() names the first field the sentence speaks of, else the fallback", () => {
  const fields = { password: /password/i, role: /\brole\b/ };
  assert.equal(fieldOf("use a password of at least 10 characters", fields, "name"), "password");
  assert.equal(fieldOf("role must be one of viewer, operator, admin", fields, "name"), "role");
  assert.equal(fieldOf("user olga exists", fields, "name"), "name");
});

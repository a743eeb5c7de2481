import assert from "node:assert/strict";
import { dateOrder, isoDate, isoDateTime, localDate, localDateTime } from "./local_dates.ts";

Deno.test("dateOrder() follows the language: day first in Britain, France and Germany, month first in the US", () => {
  assert.equal(dateOrder("en-GB").hint, "dd/mm/yyyy");
  assert.equal(dateOrder("fr-FR").hint, "dd/mm/yyyy");
  assert.equal(dateOrder("de-DE").hint, "dd.mm.yyyy");
  assert.equal(dateOrder("en-US").hint, "mm/dd/yyyy");
});

Deno.test("localDate() writes an ISO date in the language's order, and isoDate() reads it back", () => {
  assert.equal(localDate("2020-02-03", "en-GB"), "03/02/2020");
  assert.equal(localDate("2020-02-03", "en-US"), "02/03/2020");
  assert.equal(localDate("", "en-GB"), "");
  for (const locale of ["en-GB", "en-US", "de-DE", "fr-FR"]) {
    assert.equal(isoDate(localDate("2020-02-03", locale), locale, "From"), "2020-02-03", locale);
  }
});

Deno.test("isoDate() takes the language's order, any separator, ISO dates and two-digit years", () => {
  assert.equal(isoDate("3/2/2020", "en-GB", "From"), "2020-02-03");
  assert.equal(isoDate("3.2.20", "de-DE", "From"), "2020-02-03");
  assert.equal(isoDate("03-02-2020", "en-US", "From"), "2020-03-02");
  assert.equal(isoDate("2020-02-03", "en-US", "From"), "2020-02-03");
  assert.equal(isoDate("  ", "en-GB", "From"), "");
});

Deno.test("isoDate() refuses what is no date, saying the order it expects", () => {
  assert.throws(
    () => isoDate("31/02/2020", "en-GB", "From"),
    /The From date "31\/02\/2020" is not a date: type it as dd\/mm\/yyyy/,
  );
  assert.throws(() => isoDate("02/31/2020", "en-GB", "To"), /type it as dd\/mm\/yyyy/);
  assert.throws(() => isoDate("yesterday", "en-US", "From"), /type it as mm\/dd\/yyyy/);
  assert.throws(() => isoDate("1/2", "en-GB", "From"), /not a date/);
});

Deno.test("isoDateTime() reads a date and a time typed in the language's order, or a datetime-local value", () => {
  assert.equal(isoDateTime("01/03/2026 08:00", "en-GB", "From"), "2026-03-01T08:00:00");
  assert.equal(isoDateTime("03/01/2026 8:05:09", "en-US", "From"), "2026-03-01T08:05:09");
  assert.equal(isoDateTime("1.3.2026", "de-DE", "From"), "2026-03-01T00:00:00");
  assert.equal(isoDateTime("2026-03-01T08:00", "en-GB", "From"), "2026-03-01T08:00:00");
  assert.equal(isoDateTime("", "en-GB", "From"), "");
  assert.equal(localDateTime("2026-03-01T08:00:05", "en-GB"), "01/03/2026 08:00:05");
  assert.equal(
    isoDateTime(localDateTime("2026-03-01T08:00", "en-US"), "en-US", "From"),
    "2026-03-01T08:00:00",
  );
  assert.throws(
    () => isoDateTime("01/03/2026 25:00", "en-GB", "Before"),
    /The Before time "01\/03\/2026 25:00" is not a date and time: type it as dd\/mm\/yyyy hh:mm/,
  );
  assert.throws(() => isoDateTime("last week", "en-GB", "From"), /not a date and time/);
});

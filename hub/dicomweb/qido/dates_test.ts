import assert from "node:assert/strict";
import { checkDateMatch } from "./dates.ts";
import { parseQido, QidoParameterError } from "./parse.ts";

Deno.test("checkDateMatch() takes dates, times and ranges as PS3.4 writes them", () => {
  for (
    const [vr, v] of [
      ["DA", "20240229"],
      ["DA", "20240101-20241231"],
      ["DA", "-20240101"],
      ["DA", "20240101-"],
      ["DA", ""],
      ["TM", "07"],
      ["TM", "0730"],
      ["TM", "073000.123456"],
      ["TM", "0700-1900"],
      ["DT", "2024"],
      ["DT", "20240101120000.5+0100"],
      ["DT", "20240101-20240102"],
      ["DT", "20240101120000-0500-20240102"],
      ["PN", "anything-goes*"],
    ]
  ) {
    assert.equal(checkDateMatch(vr, v), undefined, `${vr} ${v}`);
  }
});

Deno.test("checkDateMatch() refuses what is not a date, time or range, saying why", () => {
  for (
    const [vr, v, reason] of [
      ["DA", "notadate", /"notadate" is not a date \(YYYYMMDD\)/],
      ["DA", "2024-13-45", /is not a date or a range/],
      ["DA", "20241345", /20241345 has no month 13/],
      ["DA", "20230229", /has no day 29 in month 2/],
      ["DA", "2024010", /not a date/],
      ["DA", "-", /is not a date or a range/],
      ["DA", "20241231-20240101", /ends before it starts/],
      ["DA", "2024*", /not a date/],
      ["TM", "2500", /not a time of day/],
      ["TM", "12:30", /not a time/],
      ["DT", "2024-13", /not a/],
      ["DT", "20241301", /not a real date and time/],
    ] as const
  ) {
    const got = checkDateMatch(vr, v);
    assert.ok(got, `${vr} ${v} was accepted`);
    assert.match(got, reason, `${vr} ${v}: ${got}`);
  }
});

Deno.test("parseQido() refuses a bad StudyDate or PatientBirthDate with the attribute named", () => {
  for (
    const [k, v] of [["StudyDate", "notadate"], ["StudyDate", "2024-13-45"], ["PatientBirthDate", "19991332"]]
  ) {
    assert.throws(
      () => parseQido(new URLSearchParams({ [k]: v }), "STUDY", {}),
      (e: unknown) => e instanceof QidoParameterError && e.message.startsWith(`${k}: `),
    );
  }
  assert.equal(
    parseQido(new URLSearchParams({ StudyDate: "20040101-20040131" }), "STUDY", {}).query.keys.StudyDate,
    "20040101-20040131",
  );
});

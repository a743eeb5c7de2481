import assert from "node:assert/strict";
import {
  age,
  ageAt,
  auditAction,
  auditActor,
  auditDetail,
  auditExport,
  caps,
  count,
  dicomDate,
  dicomDateTime,
  dicomTime,
  instant,
  nameQuery,
  patientKey,
  personName,
  sex,
  status,
  studyTitle,
  timeZoneNote,
  windowText,
} from "./format.ts";

Deno.test("personName() writes Family, Given with every component and the other groups", () => {
  assert.equal(personName({ Alphabetic: "KOWALSKI^LENA" }), "KOWALSKI, LENA");
  assert.equal(
    personName("Adams^John Robert Quincy^^Rev.^B.A. M.Div."),
    "Adams, Rev. John Robert Quincy, B.A. M.Div.",
  );
  assert.equal(
    personName("Morrison-Jones^Susan^^^Ph.D., Chief Executive Officer"),
    "Morrison-Jones, Susan, Ph.D., Chief Executive Officer",
  );
  assert.equal(personName("Wang^XiaoDong=王^小東="), "Wang, XiaoDong (王 小東)");
  assert.equal(
    personName({ Alphabetic: "Yamada^Tarou", Ideographic: "山田^太郎", Phonetic: "やまだ^たろう" }),
    "Yamada, Tarou (山田 太郎, やまだ たろう)",
  );
  assert.equal(personName("=山田^太郎=やまだ^たろう"), "山田 太郎 (やまだ たろう)");
  assert.equal(personName("ANON"), "ANON");
  assert.equal(personName("^Given"), "Given");
  assert.equal(personName(undefined), "");
});

Deno.test("dicomDate() and dicomTime() follow the locale and keep what does not parse", () => {
  assert.equal(dicomDate("20200203", "en-GB"), "3 Feb 2020");
  assert.equal(dicomDate("20200203", "en-US"), "Feb 3, 2020");
  assert.equal(dicomDate("2020.02.03", "de-DE"), "03.02.2020");
  assert.equal(dicomDate("20201332", "en-GB"), "20201332");
  assert.equal(dicomDate("", "en-GB"), "");
  assert.equal(dicomTime("140512.123456", "en-GB"), "14:05");
  assert.equal(dicomTime("1405", "en-US"), "2:05 PM");
  assert.equal(dicomTime("14:05:12", "en-GB"), "14:05");
  assert.equal(dicomTime("2560", "en-GB"), "2560");
  assert.equal(dicomDateTime("20200203", "0930", "en-GB"), "3 Feb 2020, 09:30");
  assert.equal(dicomDateTime("20200203", "", "en-GB"), "3 Feb 2020");
});

Deno.test("age(), ageAt() and sex() spell values out", () => {
  assert.equal(age("045Y"), "45 years");
  assert.equal(age("001Y"), "1 year");
  assert.equal(age("003M"), "3 months");
  assert.equal(age("002W"), "2 weeks");
  assert.equal(age("010D"), "10 days");
  assert.equal(age("45"), "45");
  assert.equal(ageAt("19700615", "20200614"), "49 years");
  assert.equal(ageAt("19700615", "20200615"), "50 years");
  assert.equal(ageAt("20190101", "20200115"), "12 months");
  assert.equal(ageAt("20200101", "20200111"), "10 days");
  assert.equal(ageAt("20200101", "20190101"), "");
  assert.equal(ageAt("", "20200101"), "");
  assert.equal(sex("F"), "Female");
  assert.equal(sex("M"), "Male");
  assert.equal(sex("O"), "Other");
  assert.equal(sex(""), "");
});

Deno.test("status() and studyTitle() read as words", () => {
  assert.equal(status("in_progress"), "In progress");
  assert.equal(status("success"), "Done");
  assert.equal(status("canceling"), "Canceling: the source has yet to settle it");
  assert.equal(status("pending", "site"), "Waiting for its agent to enroll");
  assert.equal(status("in_flight", "object"), "On its way");
  assert.equal(status("committing", "object"), "Waiting for commitment");
  assert.equal(status("something_new"), "something new");
  assert.equal(
    studyTitle({ patientName: { Alphabetic: "KOWALSKI^LENA" }, date: "20200203", description: "CT chest" }),
    `KOWALSKI, LENA · ${dicomDate("20200203")} · CT chest`,
  );
  assert.equal(studyTitle({}), "Unnamed patient");
});

Deno.test("count() says one thing in the singular, other numbers in the plural", () => {
  assert.equal(count(1, "study", "studies"), "1 study");
  assert.equal(count(2, "study", "studies"), "2 studies");
  assert.equal(count(0, "object"), "0 objects");
  assert.equal(count(1, "series", "series"), "1 series");
});

Deno.test("patientKey() searches IDs with letters by ID, and names by name", () => {
  for (const id of ["12345", "PAT0001", "MRN-7*", "A1"]) assert.equal(patientKey(id), "PatientID", id);
  for (const name of ["KOWALSKI*", "Kowalski^Lena", "O'Brien"]) {
    assert.equal(patientKey(name), "PatientName", name);
  }
});

Deno.test("nameQuery() finds a name by its start, and as the console writes it", () => {
  assert.equal(nameQuery("kowalski"), "kowalski*");
  assert.equal(nameQuery(" Kowalski, Lena "), "Kowalski^Lena*");
  assert.equal(nameQuery("Kowalski, Lena Maria"), "Kowalski^Lena*Maria*");
  assert.equal(nameQuery("van der Berg"), "van*der*Berg*");
  assert.equal(nameQuery("Yamada, Tarou (山田 太郎, やまだ たろう)"), "Yamada^Tarou*");
  for (const dicom of ["KOWALSKI^LENA", "KOW*", "SM?TH"]) assert.equal(nameQuery(dicom), dicom);
});

Deno.test("auditAction() and auditActor() read the audit log as words", () => {
  assert.equal(auditAction("transfer.create"), "Started the transfer");
  assert.equal(auditAction("login"), "Logged in");
  assert.equal(auditAction("token.revoke"), "Revoked the API token");
  assert.equal(auditAction("user.role"), "Changed the role of the user");
  assert.equal(auditAction("user.password"), "Reset the password of the user");
  assert.equal(auditAction("batch.cancel"), "Cancelled the batch");
  assert.equal(auditAction("database.restore"), "Restored the hub's database from a backup");
  assert.equal(auditAction("something.new"), "something.new");
  assert.equal(auditAction("audit.export"), "Exported the audit log");
  assert.equal(auditActor("user:boss"), "boss");
  assert.equal(auditActor("token:nightly:export"), "API token nightly:export");
  assert.equal(auditActor("cli"), "admin CLI");
  assert.equal(auditActor("hub"), "the hub (scheduled)");
  assert.equal(auditAction("site.rotate"), "Rotated the credential of the site");
  assert.equal(auditAction("site.uplink"), "Set the uplink cap of the site");
  assert.equal(auditAction("site.downlink"), "Set the downlink cap of the site");
  assert.equal(auditActor("anonymous"), "not logged in");
  assert.equal(auditActor("site:north"), "site:north");
});

Deno.test("windowText: each window with its days and zone", () => {
  assert.equal(windowText({ start: "19:00", end: "06:00" }), "19:00–06:00");
  assert.equal(
    windowText([
      { start: "19:00", end: "07:00", timeZone: "Europe/Paris", days: ["mon", "fri"] },
      { start: "00:00", end: "00:00", days: ["sat", "sun"] },
    ]),
    "19:00–07:00 Mon, Fri Europe/Paris; all day Sat, Sun",
  );
  // Three days or more in a row as a range; several windows in one zone name it once.
  assert.equal(
    windowText([
      { start: "19:00", end: "07:00", timeZone: "Europe/Paris", days: ["fri", "mon", "tue", "wed", "thu"] },
      { start: "00:00", end: "00:00", timeZone: "Europe/Paris", days: ["sat", "sun"] },
    ]),
    "19:00–07:00 Mon–Fri; all day Sat, Sun (Europe/Paris)",
  );
  assert.equal(
    windowText({ start: "08:00", end: "12:00", days: ["mon", "tue", "wed", "fri", "sat", "sun"] }),
    "08:00–12:00 Mon–Wed, Fri–Sun",
  );
  assert.equal(windowText({ start: "08:00", end: "12:00", days: ["mon", "wed"] }), "08:00–12:00 Mon, Wed");
});

Deno.test("auditExport() says what an export of the audit log gave", () => {
  assert.equal(
    auditExport({
      format: "csv",
      filter: { actor: "user:bob", action: "login" },
      entries: 105,
      truncated: false,
    }),
    "105 entries as CSV, filtered by actor user:bob, action login",
  );
  assert.equal(auditExport({ format: "table", filter: {}, entries: 1, limit: 100 }), "1 entry as a table");
  assert.equal(
    auditExport({ format: "csv", filter: {}, entries: 50000, truncated: true }),
    "50000 entries (of more) as CSV",
  );
  assert.equal(auditExport({ format: "json", entries: 0 }), "0 entries as JSON");
  for (const odd of [null, "x", 3, {}, { format: "csv" }, { entries: "3", format: "csv" }]) {
    assert.equal(auditExport(odd), undefined);
  }
});

Deno.test("caps() reads a site's uplink and downlink caps, none when unset", () => {
  assert.equal(caps(null, null), "none");
  assert.equal(caps(4, 2.5), "up 4 Mbit/s, down 2.5 Mbit/s");
  assert.equal(caps(8, null), "up 8 Mbit/s, down none");
  assert.equal(caps(null, 0.1), "up none, down 0.1 Mbit/s");
});

Deno.test("auditDetail() reads an audit entry's detail in a line", () => {
  assert.equal(auditDetail("login", { address: "10.0.0.7" }), "from 10.0.0.7");
  assert.equal(
    auditDetail("transfer.cancel", { studies: 2, canceled: 1, canceling: 1, alreadyOver: 3 }),
    "studies 2, canceled 1, canceling 1, already over 3",
  );
  assert.equal(auditDetail("user.role", { from: "operator", to: "admin" }), "from operator, to admin");
  assert.equal(auditDetail("user.add", { role: "viewer" }), "role viewer");
  assert.equal(auditDetail("site.uplink", { uplinkMbps: 12.5 }), "uplink cap 12.5 Mbit/s");
  assert.equal(auditDetail("site.downlink", { downlinkMbps: null }), "downlink cap none");
  assert.equal(
    auditDetail("token.create", { name: "nightly", role: "viewer", sites: null }),
    "name nightly, role viewer, sites all",
  );
  assert.equal(
    auditDetail("token.create", { name: "n", role: "viewer", sites: ["north", "south"] }),
    "name n, role viewer, sites north south",
  );
  assert.equal(
    auditDetail("transfer.create", {
      source: { site: "north", node: "pacs" },
      destination: { site: "south" },
      studies: 2,
      bandwidthMbps: 50,
    }),
    "source north / pacs, destination south, studies 2, cap 50 Mbit/s",
  );
  assert.equal(
    auditDetail("site.rotate", { confirmed: false }),
    "confirmed no",
  );
  assert.equal(
    auditDetail("site.rotate", { confirmed: true, oldCredentialUntil: "2026-03-01T08:00:00.000Z" }),
    `confirmed yes, old credential accepted until ${instant("2026-03-01T08:00:00.000Z")}`,
  );
  // A request to a site, audited before it was sent, then its outcome naming it (or that it is unknown).
  assert.equal(
    auditDetail("study.erase", { study: "0123456789ab", requested: true }),
    "study 0123456789ab, asked of the site (the outcome follows)",
  );
  assert.equal(
    auditDetail("study.erase", { study: "0123456789ab", request: 41, unknown: "the connection was lost" }),
    "study 0123456789ab, for entry 41, outcome unknown (the answer was lost): the connection was lost",
  );
  assert.equal(auditAction("series.erase"), "Erased a series at the site");
  assert.equal(
    auditDetail("audit.export", { format: "csv", filter: { action: "site." }, entries: 4, truncated: false }),
    "4 entries as CSV, filtered by action site.",
  );
  assert.equal(
    auditDetail("transfer.schedule", { window: { start: "20:00", end: "06:00", timeZone: "Europe/London" } }),
    "window 20:00–06:00 Europe/London",
  );
  assert.equal(
    auditDetail("transfer.schedule", { window: null, bandwidthMbps: null }),
    "window none, cap none",
  );
  assert.equal(auditDetail("login", null), "");
  assert.equal(auditDetail("odd", "text"), "text");
  assert.equal(auditDetail("odd", { nested: { a: 1 } }), 'nested {"a":1}');
  const long = auditDetail("transfer.create", { deid: { options: ["x".repeat(500)] } });
  assert.equal(long.length, 200);
  assert.ok(long.endsWith("…"));
});

Deno.test("timeZoneNote() names the zone times are shown in, with its offset at the time", () => {
  assert.equal(
    timeZoneNote("en-GB", "Europe/Paris", new Date("2026-01-15T12:00:00Z")),
    "Times are in your browser's time zone, Europe/Paris (GMT+1).",
  );
  assert.equal(
    timeZoneNote("en-GB", "Europe/Paris", new Date("2026-07-15T12:00:00Z")),
    "Times are in your browser's time zone, Europe/Paris (GMT+2).",
  );
  assert.match(timeZoneNote("en-GB"), /^Times are in your browser's time zone, \S+/);
});

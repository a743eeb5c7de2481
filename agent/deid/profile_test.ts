import assert from "node:assert/strict";
import * as fs from "node:fs";
import { PROFILE_FILE, profileText } from "./ps3.15/generate.ts";
import { parseOptionNames, ProfileError, standardProfile } from "./profile.ts";
import { resolveCombined } from "./decide.ts";

Deno.test("profile_2026c.json is exactly what the generator makes from the standard's tables", () => {
  assert.equal(fs.readFileSync(PROFILE_FILE, "utf8"), profileText(), "run deno task deid:generate");
});

Deno.test("standardProfile() applies an option's K or C over the basic action, C over K between options", () => {
  const basic = standardProfile();
  assert.equal(basic.rule(0x0020000d)?.action, "U"); // Study Instance UID
  assert.equal(basic.rule(0x00080020)?.action, "Z"); // Study Date
  assert.equal(basic.rule(0x00080016), undefined); // SOP Class UID is not listed: kept
  assert.equal(standardProfile(["retain-uids"]).rule(0x0020000d)?.action, "K");
  assert.equal(standardProfile(["retain-long-full-dates"]).rule(0x00080020)?.action, "K");
  const both = standardProfile(["retain-device-identity", "retain-long-modified-dates"]);
  // Date of Last Calibration: K under Retain Device Identity, C under Modified Dates.
  assert.equal(both.rule(0x00181200)?.action, "C");
  assert.equal(both.rule(0x00181200)?.option, "retain-long-modified-dates");
  // Repeating groups: any overlay group's Overlay Data.
  assert.equal(basic.rule(0x60023000)?.action, "X");
  assert.equal(standardProfile(["clean-graphics"]).rule(0x60023000)?.action, "C");
  assert.deepEqual(standardProfile(["clean-descriptors", "retain-uids"]).codes.map((c) => c.value), [
    "113100",
    "113110",
    "113105",
  ]);
});

Deno.test("parseOptionNames() refuses unknown options and the two exclusive date options", () => {
  assert.throws(() => parseOptionNames(["retain-all"]), ProfileError);
  assert.throws(
    () => parseOptionNames(["retain-long-full-dates", "retain-long-modified-dates"]),
    /exclude each other/,
  );
  assert.deepEqual(parseOptionNames(["clean-graphics", "retain-uids", "clean-graphics"]), [
    "retain-uids",
    "clean-graphics",
  ]);
});

Deno.test("resolveCombined() picks the part of a combined action the attribute's Type needs", () => {
  assert.equal(resolveCombined("X/Z", 3), "X");
  assert.equal(resolveCombined("X/Z", 2), "Z");
  assert.equal(resolveCombined("X/Z", undefined), "Z");
  assert.equal(resolveCombined("X/D", 1), "D");
  assert.equal(resolveCombined("Z/D", 2), "Z");
  assert.equal(resolveCombined("Z/D", undefined), "D");
  assert.equal(resolveCombined("X/Z/D", 3), "X");
  assert.equal(resolveCombined("X/Z/D", 2), "Z");
  assert.equal(resolveCombined("X/Z/D", 1), "D");
  assert.equal(resolveCombined("X/Z/U*", 1), "U");
  assert.equal(resolveCombined("X/Z/U*", 3), "X");
});

Deno.test("standardProfile() names each option in De-identification Method whole, never cut to 64 characters", () => {
  const all = standardProfile(["retain-long-modified-dates", "clean-descriptors"]);
  assert.deepEqual(all.method, [
    "Conduit: PS3.15 2026c Basic Profile",
    // The title (67 characters) is longer than LO allows: its CID 7050 meaning instead.
    "Retain Longitudinal Temporal Information Modified Dates Option",
    "Clean Descriptors Option",
  ]);
  assert.equal(
    standardProfile(["retain-long-full-dates"]).method[1],
    "Retain Longitudinal Temporal Information with Full Dates Option",
  );
});

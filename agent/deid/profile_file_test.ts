import assert from "node:assert/strict";
import { parseProfileFile } from "./profile_file.ts";
import { ProfileError, standardProfile } from "./profile.ts";

const parse = (actions: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  parseProfileFile(JSON.stringify({ ...extra, actions }), "/some/dir/custom.json");

Deno.test("parseProfileFile() takes keywords, tags, ranges and private attributes by creator", () => {
  const { options, layer } = parse({
    StudyDescription: "K",
    "(0008,1010)": "X",
    "(50xx,xxxx)": "K",
    "(60xx,3000)": "K",
    "0008,10xX": "X",
    '(0009,"GEMS_IDEN_01",04)': "K",
    "(0019, GEMS_ACQU_01 ,xx)": "Z",
    '(0043,"GEMS_PARM_01",xx2B)': "D",
    '(0029,"A, B (C)",10)': "X",
  }, { options: ["retain-uids"] });
  assert.deepEqual(options, ["retain-uids"]);
  assert.equal(layer.name, "custom.json");
  assert.deepEqual([...layer.actions], [[0x00081030, "K"], [0x00081010, "X"]]);
  // The most specific range first: (60XX,3000) fixes 6 digits, (0008,10XX) 6, (50XX,XXXX) 2.
  assert.deepEqual(layer.ranges!.map((r) => [r.pattern, r.fixed, r.action]), [
    ["(60XX,3000)", 6, "K"],
    ["(0008,10XX)", 6, "X"],
    ["(50XX,XXXX)", 2, "K"],
  ]);
  assert.deepEqual(layer.privateActions!.map((p) => [p.pattern, p.group, p.creator, p.element, p.action]), [
    ['(0009,"GEMS_IDEN_01",04)', 0x0009, "GEMS_IDEN_01", 0x04, "K"],
    ['(0019,"GEMS_ACQU_01",xx)', 0x0019, "GEMS_ACQU_01", undefined, "Z"],
    ['(0043,"GEMS_PARM_01",2B)', 0x0043, "GEMS_PARM_01", 0x2b, "D"],
    ['(0029,"A, B (C)",10)', 0x0029, "A, B (C)", 0x10, "X"],
  ]);
});

Deno.test("parseProfileFile() refuses malformed entries when the file is read, naming the entry", () => {
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ "(00G8,0010)": "X" }, /actions: "\(00G8,0010\)": not a keyword, a tag \(gggg,eeee\), a range/],
    [{ "(0008,00100)": "X" }, /actions: "\(0008,00100\)": not a keyword/],
    [{ NoSuchKeyword: "X" }, /actions: "NoSuchKeyword": not a keyword/],
    [{ "(0009,1004)": "K" }, /"\(0009,1004\)": 0009 is a private \(odd\) group: .*\(0009,"CREATOR",04\)/],
    [{ "(0019,xx10)": "K" }, /"\(0019,xx10\)": 0019 is a private \(odd\) group/],
    [
      { "(0008,GEMS,04)": "K" },
      /"\(0008,GEMS,04\)": a private creator addresses an odd group; 0008 is a standard/,
    ],
    [{ "(0003,GEMS,04)": "K" }, /group 0003 cannot hold private attributes/],
    [{ "(009,GEMS,04)": "K" }, /the group must be four hex digits/],
    [{ "(0009,GEMS,4)": "K" }, /"\(0009,GEMS,4\)": the element must be two hex digits/],
    [{ "(0009,GEMS,1004)": "K" }, /the element must be two hex digits/],
    [{ "(0009,GEMS,0G)": "K" }, /the element must be two hex digits/],
    [{ '(0009,"",04)': "K" }, /the private creator is empty/],
    [{ [`(0009,${"C".repeat(65)},04)`]: "K" }, /longer than 64 characters/],
    [{ "(0009,A\\B,04)": "K" }, /backslash/],
    [{ PatientName: "KEEP" }, /actions: "PatientName": the action is one of D, Z, X, K, C, U, not "KEEP"/],
    [{ PatientName: 1 }, /not 1/],
    [{ "(60xx,3000)": "remove" }, /"\(60xx,3000\)": the action is one of/],
    [{ "(0009,GEMS,04)": "U" }, /a private attribute's action is one of K, X, Z, D, not "U"/],
    [{ PatientName: "U" }, /actions: "PatientName": U replaces UIDs, and this attribute's VR is PN/],
    [{ "(0008,0020)": "U" }, /"\(0008,0020\)": U replaces UIDs, and this attribute's VR is DA/],
    [{ "(0009,GEMS,04)": "C" }, /one of K, X, Z, D/],
    [{ StudyDescription: "K", "(0008,1030)": "X" }, /"\(0008,1030\)" and "StudyDescription" give the same/],
    // The other range quoted as the file writes it (it was quoted upper case, "(60XX,3000)", until 2026-12-07).
    [{ "(60xx,3000)": "K", "(600x,30x0)": "X" }, /"\(600x,30x0\)" and "\(60xx,3000\)" give the same/],
    // One parenthesis without its pair, or parentheses without the comma: malformed (taken until 2026-12-07).
    [{ "(0008,1030": "K" }, /actions: "\(0008,1030": not a keyword, a tag/],
    [{ "0008,1030)": "K" }, /actions: "0008,1030\)": not a keyword, a tag/],
    [{ "(00081030)": "K" }, /actions: "\(00081030\)": not a keyword, a tag/],
    [{ "(0009,GEMS,04)": "K", '(0009,"GEMS",xx04)': "X" }, /give the same attributes different actions/],
    // Replacement values: D only, one attribute or element, text that suits the VR.
    [
      { InstitutionName: { action: "K", value: "A" } },
      /an action with a value is \{ "action": "D", "value": "TEXT" \}/,
    ],
    [{ InstitutionName: { action: "D", value: "A", extra: 1 } }, /an action with a value is/],
    [{ InstitutionName: { action: "D", value: 3 } }, /"InstitutionName": the value must be a string, not 3/],
    [{ InstitutionName: { action: "D", value: "Zürich" } }, /the value must be printable ASCII/],
    [
      { "(0008,00xx)": { action: "D", value: "A" } },
      /"\(0008,00xx\)": a value replaces one attribute, not a range/,
    ],
    [
      { "(0009,GEMS,xx)": { action: "D", value: "A" } },
      /a value replaces one private element, not a whole block/,
    ],
    [{ "(0009,GEMS,04)": { action: "D", value: "A".repeat(65) } }, /at most 64 characters/],
    [{ Rows: { action: "D", value: "512" } }, /"Rows": a value cannot be written to an attribute of VR US/],
    [{ StudyDate: { action: "D", value: "2026-1-1" } }, /"2026-1-1" is not a valid DA value/],
    [{ StationName: { action: "D", value: "A".repeat(17) } }, /longer than SH allows \(16 characters\)/],
    [
      { InstitutionName: { action: "D", value: "A" }, "(0008,0080)": { action: "D", value: "B" } },
      /give the same/,
    ],
  ];
  for (const [actions, message] of refused) {
    assert.throws(() => parse(actions), (err: Error) => {
      assert.ok(err instanceof ProfileError, `${JSON.stringify(actions)}: ${err}`);
      assert.match(err.message, message);
      return true;
    });
  }
  const withValues = parse({
    InstitutionName: { action: "D", value: "TRIAL SITE 3" },
    StudyDate: { action: "D", value: "20260101" },
    "(0009,GEMS_IDEN_01,02)": { action: "D", value: "SCANNER-A" },
  });
  assert.deepEqual([...withValues.layer.values!], [[0x00080080, "TRIAL SITE 3"], [0x00080020, "20260101"]]);
  assert.equal(withValues.layer.privateActions![0].value, "SCANNER-A");
  const valued = standardProfile([], withValues.layer);
  assert.deepEqual(valued.rule(0x00080080), {
    action: "D",
    name: "custom (0008,0080)",
    custom: true,
    value: "TRIAL SITE 3",
  });
  assert.equal(valued.privateAction!(0x0009, "GEMS_IDEN_01", 0x02)?.value, "SCANNER-A");
  // Equally specific ranges with the same action, or nested ranges: nothing to choose, accepted.
  parse({ "(60xx,3000)": "X", "(600x,30x0)": "X", "(60xx,xxxx)": "K", "(6000,xxxx)": "D" });
  assert.throws(
    () => parseProfileFile('{\n  "actions": {\n    "PatientName" "K"\n  }\n}', "f.json"),
    /line 3/,
  );
  assert.throws(() => parseProfileFile("[]", "f.json"), /expected a JSON object/);
  assert.throws(() => parseProfileFile('{"action": {}}', "f.json"), /unknown key "action"/);
  // De-identification Method's first value: cut at 64, split at a backslash, or in UTF-8 in another character
  // set before; refused now.
  for (const method of ["M".repeat(65), "Conduit\\two", "M\u00fcller method", "", 7]) {
    assert.throws(() => parse({}, { method }), /method must be 1 to 64 printable ASCII characters/);
  }
  assert.equal(parse({}, { method: "Conduit: research-ct" }).layer.method, "Conduit: research-ct");
  assert.throws(
    () => parseProfileFile('{"actions": ["PatientName"]}', "f.json"),
    /actions must be an object/,
  );
  assert.throws(() => parse({}, { shiftDates: { minDays: 5, maxDays: 1 } }), /shiftDates/);
  assert.throws(() => parse({}, { options: "retain-uids" }), /options must be a list/);
});

Deno.test("a custom layer: exact tag, then the most specific range, then the table; private by creator", () => {
  const { options, layer } = parse({
    "(0008,1030)": "Z",
    "(0008,10xx)": "K",
    "(0008,xxxx)": "D",
    "(60xx,xxxx)": "K",
    '(0009,"GEMS_IDEN_01",04)': "K",
    '(0009,"GEMS_IDEN_01",xx)': "Z",
  });
  const profile = standardProfile([...options, "retain-safe-private"], layer);
  assert.deepEqual(profile.rule(0x00081030), { action: "Z", name: "custom (0008,1030)", custom: true });
  assert.deepEqual(profile.rule(0x00081010), { action: "K", name: "custom (0008,10XX)", custom: true });
  assert.deepEqual(profile.rule(0x00080020), { action: "D", name: "custom (0008,XXXX)", custom: true });
  assert.equal(profile.rule(0x60023000)?.action, "K"); // over the table's (60xx,3000) X
  assert.equal(profile.rule(0x00100010)?.action, "Z"); // not named: the table's
  assert.equal(profile.rule(0x00100010)?.custom, undefined);
  assert.equal(profile.privateAction!(0x0009, "GEMS_IDEN_01", 0x04)?.action, "K");
  assert.equal(profile.privateAction!(0x0009, "GEMS_IDEN_01", 0x05)?.action, "Z"); // the block
  assert.equal(profile.privateAction!(0x0009, "gems_iden_01", 0x04), undefined); // exact, case included
  assert.equal(profile.privateAction!(0x0011, "GEMS_IDEN_01", 0x04), undefined);
  assert.equal(standardProfile([]).privateAction, undefined);
  // A range's U takes the UIDs (and sequences of references) it covers; the rest falls through.
  const u = parse({
    "(0020,xxxx)": "U",
    "(00xx,xxxx)": "K",
    SOPInstanceUID: "U",
    ReferencedImageSequence: "U",
  });
  const withU = standardProfile([], u.layer);
  assert.equal(withU.rule(0x0020000d)?.name, "custom (0020,XXXX)"); // Study Instance UID
  assert.equal(withU.rule(0x00200010)?.name, "custom (00XX,XXXX)"); // Study ID (SH): the next range
  assert.equal(withU.rule(0x00080018)?.action, "U");
});

/**
 * A transfer's de-identification as the hub checks and keeps it: a custom profile is checked with the
 * parser the agents use (the same entries refused, with the same words), Clinical Trial attributes by the
 * shared table; what is kept is sent to the source and shown by the job.
 */
import assert from "node:assert/strict";
import type { TransferDeidRequest } from "@conduit/shared/deid";
import { parseProfileFile } from "@conduit/shared/deid/profile-file";
import { deidProblem, deidView, needsCustomFeature, sendDeid, storedDeid } from "./deid.ts";
import type { TransferRow } from "../db/schema.ts";

const custom = {
  name: "trial-42",
  actions: {
    '(0009,"GEMS_IDEN_01",04)': "K",
    InstitutionName: { action: "D", value: "TRIAL SITE 3" },
    "(60xx,3000)": "X",
  },
};
const clinicalTrial = { sponsorName: "ACME", protocolId: "P-42", siteId: "S3", timePointId: "BASELINE" };

Deno.test("deidProblem() takes a custom profile and Clinical Trial attributes that are well formed", () => {
  assert.equal(deidProblem({ profile: "basic", custom, clinicalTrial }), undefined);
  assert.equal(deidProblem({ profile: "basic", custom: { actions: {} } }), undefined);
  assert.equal(
    deidProblem({ profile: "basic", custom: { options: ["retain-uids"] }, options: ["clean-graphics"] }),
    undefined,
  );
});

Deno.test("deidProblem() refuses a bad custom entry with the agent's own words, naming it", () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ actions: { "(0009,0010)": "K" } }, /"\(0009,0010\)": 0009 is a private \(odd\) group/],
    [{ actions: { NoSuchKeyword: "X" } }, /"NoSuchKeyword": not a keyword/],
    [{ actions: { PatientName: "Q" } }, /"PatientName": the action is one of D, Z, X, K, C, U/],
    [
      { actions: { StudyDate: { action: "D", value: "20AB0101" } } },
      /"StudyDate": "20AB0101" is not a valid DA/,
    ],
    [{ actions: { PatientName: "K", "(0010,0010)": "X" } }, /give the same attributes different actions/],
    [{ actions: {}, colour: "blue" }, /unknown key "colour"/],
    [{ actions: [] }, /actions must be an object/],
  ];
  for (const [profile, why] of bad) {
    const problem = deidProblem({ profile: "basic", custom: profile });
    assert.match(problem ?? "", /^custom profile/, JSON.stringify(profile));
    assert.match(problem!, why);
    // The agent reading the same object from a profile file (the same parser) says the same.
    assert.throws(() => parseProfileFile(JSON.stringify(profile), "p.json"), (e: Error) => {
      assert.ok(problem!.endsWith(e.message), `${problem} / ${e.message}`);
      return true;
    });
  }
  // The custom profile's options are checked as the request's are, and together with them.
  assert.match(
    deidProblem({ profile: "basic", custom: { options: ["retain-everything"] } }) ?? "",
    /^custom profile and options: unknown de-identification option "retain-everything"/,
  );
  assert.match(
    deidProblem({
      profile: "basic",
      custom: { options: ["retain-long-full-dates"] },
      options: ["retain-long-modified-dates"],
    }) ?? "",
    /^custom profile and options: .*exclude each other/,
  );
  const huge = { actions: Object.fromEntries([...Array(3000)].map((_, i) => [`(0011,"C${i}",xx)`, "K"])) };
  assert.match(deidProblem({ profile: "basic", custom: huge }) ?? "", /characters of JSON; a transfer takes/);
  // Deeply nested values: refused (too large, or not an action), never thrown.
  for (const depth of [10_000, 1_000_000]) {
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < depth; i++) deep = { a: deep };
    assert.match(
      deidProblem({ profile: "basic", custom: { actions: deep } }) ?? "",
      /characters of JSON|actions: "a": an action with a value is/,
    );
  }
});

Deno.test("deidProblem() refuses Clinical Trial attributes that cannot be written", () => {
  const t = (trial: Record<string, unknown>) =>
    deidProblem({ profile: "basic", clinicalTrial: trial as TransferDeidRequest["clinicalTrial"] });
  assert.match(t({ sponsorName: "A", protocolId: "P" }) ?? "", /siteId is required/);
  assert.match(t({ ...clinicalTrial, siteName: "A\\B" }) ?? "", /siteName must be printable ASCII/);
  assert.match(t({ ...clinicalTrial, protocolName: "x".repeat(65) }) ?? "", /longer than LO allows \(64\)/);
  assert.match(t({ ...clinicalTrial, subjectIdd: "1" }) ?? "", /unknown attribute "subjectIdd"/);
  assert.equal(t({ ...clinicalTrial, timePointDescription: "x".repeat(1024) }), undefined);
});

Deno.test("a custom profile and trial attributes are kept, sent to the source and shown by the job", () => {
  const request: TransferDeidRequest = { profile: "basic", options: ["retain-uids"], custom, clinicalTrial };
  const row = { deid: storedDeid(request) } as TransferRow;
  assert.deepEqual(sendDeid(row), request);
  assert.deepEqual(deidView(row), {
    profile: "basic",
    options: ["retain-uids"],
    allowBurnedIn: false,
    custom,
    clinicalTrial,
  });
  assert.equal(needsCustomFeature(sendDeid(row)), true);
  assert.equal(needsCustomFeature({ profile: "basic", options: ["retain-uids"] }), false);
  assert.equal(needsCustomFeature({ profile: "basic", clinicalTrial }), true);
  assert.equal(needsCustomFeature(undefined), false);
});

Deno.test("deidProblem() refuses a pseudonym table that gives one pseudonym to two patients", () => {
  assert.equal(
    deidProblem({
      profile: "basic",
      pseudonyms: { "PAT-A": "TRIAL-1", "PAT-B": "TRIAL-1", "PAT-C": "TRIAL-2" },
    }),
    'the pseudonym table gives the pseudonym "TRIAL-1" to 2 patients: each patient needs their own (the ' +
      "destination would take them for one patient)",
  );
  assert.equal(
    deidProblem({ profile: "basic", pseudonyms: { "PAT-A": "TRIAL-1", "PAT-B": "TRIAL-2" } }),
    undefined,
  );
});

/** The option names the hub and console use (shared) are those of the profile generated from the table. */
import assert from "node:assert/strict";
import generated from "../../agent/deid/ps3.15/profile_2026c.json" with { type: "json" };
import { OPTION_NAMES, ProfileError, standardProfile } from "../../agent/deid/profile.ts";
import { DEID_OPTION_TITLES, DEID_OPTIONS, optionsProblem } from "@conduit/shared/deid";

Deno.test("DEID_OPTIONS and their titles are the generated profile's, in its order", () => {
  assert.deepEqual([...DEID_OPTIONS], [...OPTION_NAMES]);
  for (const o of generated.options) {
    assert.equal(DEID_OPTION_TITLES[o.name as keyof typeof DEID_OPTION_TITLES], o.title);
  }
});

Deno.test("optionsProblem() refuses what standardProfile() refuses, with the same sentence", () => {
  for (const options of [["retain-dates"], ["retain-long-full-dates", "retain-long-modified-dates"], []]) {
    let expected: string | undefined;
    try {
      standardProfile(options);
    } catch (err) {
      assert.ok(err instanceof ProfileError);
      expected = err.message;
    }
    assert.equal(optionsProblem(options), expected);
  }
});

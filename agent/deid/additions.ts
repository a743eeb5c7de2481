/** The attributes de-identification adds to every object it writes (PS3.15 E.1.1, PS3.3 C.7.1.3). */
import { TRIAL_ATTRIBUTES } from "@conduit/shared/deid";
import { type Addition, encodeSequence, encodeText } from "./rewrite.ts";
import type { DeidRequest } from "./engine.ts";
import type { DeidProfile } from "./profile.ts";

const T = {
  PatientIdentityRemoved: 0x00120062,
  DeidentificationMethod: 0x00120063,
  DeidentificationMethodCodeSequence: 0x00120064,
  LongitudinalTemporalInformationModified: 0x00280303,
} as const;

/**
 * The Clinical Trial attributes a request asks for (PS3.3 C.7.1.3 Subject, C.7.2.3 Study, C.7.3.2
 * Series), each replacing any value the object had; Subject ID is the pseudonymous Patient ID unless given.
 */
export function trialAdditions(req: DeidRequest, subject: string): Addition[] {
  const t = req.trial;
  if (!t) return [];
  const values: Partial<Record<string, string>> = { ...t, subjectId: t.subjectId ?? subject };
  const out: Addition[] = [];
  for (const a of TRIAL_ATTRIBUTES) {
    const v = values[a.key];
    if (v === undefined) continue;
    out.push({ tag: a.tag, vr: a.vr, value: encodeText(a.vr, v.slice(0, a.vr === "ST" ? 1024 : 64)) });
  }
  return out;
}

/**
 * What PS3.15 E.1.1 asks a de-identified object to say of itself: Patient Identity Removed, the
 * method (the profile's, and `changed` when the object was transcoded), its codes, and whether dates
 * were modified under a longitudinal option.
 */
export function methodAdditions(profile: DeidProfile, changed: string | undefined, o: {
  explicit: boolean;
  littleEndian: boolean;
}): readonly Addition[] {
  // The same for every object of a batch: encoded once per profile and form (the values are never written to).
  const form = `${o.explicit ? 1 : 0}${o.littleEndian ? 1 : 0}${changed ?? ""}`;
  let byForm = encoded.get(profile);
  if (!byForm) encoded.set(profile, byForm = new Map());
  let additions = byForm.get(form);
  if (!additions) byForm.set(form, additions = encodeMethod(profile, changed, o));
  return additions;
}

const encoded = new WeakMap<DeidProfile, Map<string, readonly Addition[]>>();

function encodeMethod(profile: DeidProfile, changed: string | undefined, o: {
  explicit: boolean;
  littleEndian: boolean;
}): Addition[] {
  const method = [...profile.method];
  if (changed) method.push(changed.slice(0, 64));
  const additions: Addition[] = [
    { tag: T.PatientIdentityRemoved, vr: "CS", value: encodeText("CS", "YES") },
    { tag: T.DeidentificationMethod, vr: "LO", value: encodeText("LO", method.join("\\")) },
    {
      tag: T.DeidentificationMethodCodeSequence,
      vr: "SQ",
      value: encodeSequence(
        profile.codes.map((c) => [
          { tag: 0x00080100, vr: "SH", value: encodeText("SH", c.value) },
          { tag: 0x00080102, vr: "SH", value: encodeText("SH", "DCM") },
          { tag: 0x00080104, vr: "LO", value: encodeText("LO", c.meaning) },
        ]),
        o,
      ),
    },
  ];
  if (
    profile.options.includes("retain-long-modified-dates") ||
    profile.options.includes("retain-long-full-dates")
  ) {
    additions.push({
      tag: T.LongitudinalTemporalInformationModified,
      vr: "CS",
      // Modified under the option, whatever one patient's shift (a custom range may start at 0 days).
      value: encodeText("CS", profile.shiftDates ? "MODIFIED" : "UNMODIFIED"),
    });
  }
  return additions;
}

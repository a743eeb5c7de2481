/** The attributes de-identification adds to every object it writes (PS3.15 E.1.1, PS3.3 C.7.1.3). */
import { type Addition, encodeSequence, encodeText } from "./rewrite.ts";
import type { DeidRequest } from "./engine.ts";
import type { DeidProfile } from "./profile.ts";

const T = {
  PatientIdentityRemoved: 0x00120062,
  DeidentificationMethod: 0x00120063,
  DeidentificationMethodCodeSequence: 0x00120064,
  LongitudinalTemporalInformationModified: 0x00280303,
} as const;

/** The Clinical Trial Subject module's attributes a request asks for (PS3.3 C.7.1.3). */
export function trialAdditions(req: DeidRequest, subject: string): Addition[] {
  const t = req.trial;
  if (!t) return [];
  const lo = (tag: number, v: string | undefined): Addition[] =>
    v === undefined ? [] : [{ tag, vr: "LO", value: encodeText("LO", v.slice(0, 64)) }];
  return [
    ...lo(0x00120010, t.sponsorName),
    ...lo(0x00120020, t.protocolId),
    ...lo(0x00120021, t.protocolName),
    ...lo(0x00120030, t.siteId),
    ...lo(0x00120031, t.siteName),
    ...lo(0x00120040, t.subjectId ?? subject),
  ];
}

/**
 * What PS3.15 E.1.1 asks a de-identified object to say of itself: Patient Identity Removed, the
 * method (the profile's, and `changed` when the object was transcoded), its codes, and whether dates
 * were shifted under a longitudinal option.
 */
export function methodAdditions(profile: DeidProfile, shift: number, changed: string | undefined, o: {
  explicit: boolean;
  littleEndian: boolean;
}): readonly Addition[] {
  // The same for every object of a batch: encoded once per profile and form (the values are never written to).
  const form = `${shift ? 1 : 0}${o.explicit ? 1 : 0}${o.littleEndian ? 1 : 0}${changed ?? ""}`;
  let byForm = encoded.get(profile);
  if (!byForm) encoded.set(profile, byForm = new Map());
  let additions = byForm.get(form);
  if (!additions) byForm.set(form, additions = encodeMethod(profile, shift, changed, o));
  return additions;
}

const encoded = new WeakMap<DeidProfile, Map<string, readonly Addition[]>>();

function encodeMethod(profile: DeidProfile, shift: number, changed: string | undefined, o: {
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
      value: encodeText("CS", shift ? "MODIFIED" : "UNMODIFIED"),
    });
  }
  return additions;
}

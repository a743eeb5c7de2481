/**
 * QIDO-RS matching values of numeric VRs (IS, DS, US, SS, UL, SL, FL, FD): single value matching only.
 * PS3.4 C.2.2.2.4 allows no wildcard on them and C.2.2.2.5 no range, so `SeriesNumber=1*`, `1-3` or `abc`
 * could only ever match nothing: they are refused with the reason instead of answering an empty list.
 */

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The form each numeric VR takes, and how it is named in a refusal. */
const FORMS: Record<string, { test: RegExp; name: string }> = {
  IS: { test: INTEGER, name: "an integer" },
  US: { test: INTEGER, name: "an integer" },
  SS: { test: INTEGER, name: "an integer" },
  UL: { test: INTEGER, name: "an integer" },
  SL: { test: INTEGER, name: "an integer" },
  DS: { test: DECIMAL, name: "a decimal number" },
  FL: { test: DECIMAL, name: "a number" },
  FD: { test: DECIMAL, name: "a number" },
};

/**
 * Checks a matching value of a numeric VR. Returns the reason it is refused, or undefined. Empty (the
 * attribute asked back) and a lone `*` (universal matching) are always fine; so is any other VR.
 */
export function checkNumberMatch(vr: string, value: string): string | undefined {
  const form = FORMS[vr];
  if (!form || value === "" || value === "*") return undefined;
  if (form.test.test(value.trim())) return undefined;
  return `${JSON.stringify(value)} is not ${form.name} (VR ${vr}: one value, no wildcards or ranges)`;
}

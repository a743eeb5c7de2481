/**
 * Date and time matching values of a QIDO-RS query (PS3.4 C.2.2.2.5 range matching on DA, TM and
 * DT), checked before anything is asked of a site: a value that is not one, or not a real calendar
 * date, is a 400 with the reason rather than a search that silently matches nothing.
 */

const FORMS: Record<string, string> = {
  DA: "YYYYMMDD",
  TM: "HH, HHMM, HHMMSS or HHMMSS.FFFFFF",
  DT: "YYYY[MM[DD[HH[MM[SS[.FFFFFF]]]]]][+-ZZZZ]",
};

function daysIn(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** Why `v` is not a date, time or date-time of `vr`, or undefined when it is one. */
function problemWith(vr: string, v: string): string | undefined {
  if (vr === "DA") {
    if (!/^\d{8}$/.test(v)) return `${JSON.stringify(v)} is not a date (${FORMS.DA})`;
    const [y, m, d] = [Number(v.slice(0, 4)), Number(v.slice(4, 6)), Number(v.slice(6, 8))];
    if (m < 1 || m > 12) return `${v} has no month ${m}`;
    if (d < 1 || d > daysIn(y, m)) return `${v} has no day ${d} in month ${m}`;
    return undefined;
  }
  if (vr === "TM") {
    const t = /^(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?$/.exec(v);
    if (!t || (t[4] && !t[3])) return `${JSON.stringify(v)} is not a time (${FORMS.TM})`;
    if (Number(t[1]) > 23 || Number(t[2] ?? 0) > 59 || Number(t[3] ?? 0) > 60) {
      return `${v} is not a time of day`;
    }
    return undefined;
  }
  const dt = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$/.exec(v);
  if (!dt) return `${JSON.stringify(v)} is not a date and time (${FORMS.DT})`;
  const date = dt[1] + (dt[2] ?? "01") + (dt[3] ?? "01");
  const time = (dt[4] ?? "00") + (dt[5] ?? "00") + (dt[6] ?? "00");
  return problemWith("DA", date) ?? problemWith("TM", time) ? `${v} is not a real date and time` : undefined;
}

/**
 * Checks a matching value of VR DA, TM or DT: one value, or a range `a-b`, `-b` or `a-`. Returns
 * the reason it is refused, or undefined. Empty asks for the attribute back and is always fine.
 */
export function checkDateMatch(vr: string, value: string): string | undefined {
  if (!(vr in FORMS) || value === "") return undefined;
  // A DT value may carry a "-ZZZZ" offset: split the range on the "-" that is not one.
  const m = vr === "DT"
    ? /^([^-]*(?:-\d{4}(?=-|$))?)?(?:(-)(.*))?$/.exec(value)
    : /^([^-]*)(?:(-)([^-]*))?$/.exec(value);
  const refusal = `is not a ${vr === "DA" ? "date" : vr === "TM" ? "time" : "date and time"} or a range ` +
    `(${FORMS[vr]}, a-b, -b or a-)`;
  if (!m || (m[2] && !m[1] && !m[3])) return `${JSON.stringify(value)} ${refusal}`;
  const [from, to] = [m[1] ?? "", m[3] ?? ""];
  for (const v of [from, to]) {
    if (!v) continue;
    const p = problemWith(vr, v);
    if (p) return p;
  }
  if (from && to && vr !== "DT" && from > to) return `the range ${value} ends before it starts`;
  return undefined;
}

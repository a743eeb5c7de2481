/**
 * Dates typed in the order of the user's language (`navigator.language`: en-GB and fr "03/02/2020", en-US
 * "02/03/2020", de "03.02.2020"), read as ISO dates (2020-02-03). Chromium draws an `<input type=date>` in
 * the order of its own display language, whatever the page's `lang` or the user's preferred languages, so
 * the console's date fields are text fields that use this instead.
 */

type Part = "day" | "month" | "year";

/** The order of day, month and year in `locale`'s numeric dates, its separator, and a hint ("dd/mm/yyyy"). */
export function dateOrder(locale: string): { order: Part[]; separator: string; hint: string } {
  const parts = new Intl.DateTimeFormat(locale, { year: "numeric", month: "2-digit", day: "2-digit" })
    .formatToParts(new Date(2020, 11, 31));
  const order = parts.map((p) => p.type).filter((t): t is Part =>
    t === "day" || t === "month" || t === "year"
  );
  const separator = parts.find((p) => p.type === "literal")?.value.trim() || "/";
  const letters = { day: "dd", month: "mm", year: "yyyy" };
  return { order, separator, hint: order.map((p) => letters[p]).join(separator) };
}

/** An ISO date (YYYY-MM-DD) as `locale` writes it, with numbers ("" stays ""; anything else as it is). */
export function localDate(iso: string, locale: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!m) return iso;
  const { order, separator } = dateOrder(locale);
  const value = { year: m[1], month: m[2], day: m[3] };
  return order.map((p) => value[p]).join(separator);
}

/**
 * A date typed in `locale`'s order (any of / . - or a space between its numbers; a two-digit year is
 * 20xx) or as an ISO date, as an ISO date; "" for ""; an Error naming the field (`what`) and the order
 * expected when it is no date.
 */
export function isoDate(typed: string, locale: string, what: string): string {
  const value = typed.trim();
  if (!value) return "";
  const { order, hint } = dateOrder(locale);
  const iso = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(value);
  const numbers = iso ? iso.slice(1) : value.split(/\s*[/.\-\s]\s*/).filter(Boolean);
  const at = (p: Part) => Number(numbers[iso ? ["year", "month", "day"].indexOf(p) : order.indexOf(p)]);
  let year = at("year");
  const month = at("month"), day = at("day");
  if (!iso && numbers[order.indexOf("year")]?.length === 2) year += 2000;
  const date = new Date(Date.UTC(year, month - 1, day));
  const valid = numbers.length === 3 && numbers.every((n) => /^\d+$/.test(n)) && year >= 1000 &&
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  if (!valid) {
    throw new Error(`The ${what} date "${value}" is not a date: type it as ${hint}, or leave it empty.`);
  }
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
}

/** A `datetime-local` value (2026-03-01T08:00, seconds optional) as `locale` writes it: "01/03/2026 08:00". */
export function localDateTime(local: string, locale: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)$/.exec(local);
  return m ? `${localDate(m[1], locale)} ${m[2]}` : local;
}

/**
 * A date and time typed as `isoDate` takes the date, then a time (hh:mm or hh:mm:ss, 24 hours; none is
 * midnight), or as a `datetime-local` value (2026-03-01T08:00), as a `datetime-local` value with seconds
 * (2026-03-01T08:00:00); "" for ""; an Error naming the field and the order expected when it is none.
 */
export function isoDateTime(typed: string, locale: string, what: string): string {
  const value = typed.trim();
  if (!value) return "";
  const m = /^(.+?)(?:[T\s]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(value);
  const [h, min, s] = [m?.[2] ?? "0", m?.[3] ?? "0", m?.[4] ?? "0"].map(Number);
  let date = "";
  try {
    date = isoDate(m?.[1] ?? "", locale, what);
  } catch { /* said below */ }
  if (!date || h > 23 || min > 59 || s > 59) {
    throw new Error(
      `The ${what} time "${value}" is not a date and time: type it as ${
        dateOrder(locale).hint
      } hh:mm (the time may be left out), or leave it empty.`,
    );
  }
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date}T${pad(h)}:${pad(min)}:${pad(s)}`;
}

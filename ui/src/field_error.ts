/**
 * Ties a form's error to the field it is about: that field marked invalid (`aria-invalid`), described by the
 * error's element (`aria-describedby`), its closed `<details>` opened, and the focus put on it, so the
 * keyboard and the screen reader land where the fix is. The mark goes once the field's value is changed;
 * `clearInvalid` takes every mark off again.
 */

/** The field named `name` in `form` (the `index`-th of several with that name), if any. */
function field(form: HTMLFormElement, name: string, index = 0): HTMLElement | undefined {
  return form.querySelectorAll<HTMLElement>(`[name="${name}"]`)[index];
}

/** Takes the mark off one field. */
function unmark(el: Element): void {
  el.removeAttribute("aria-invalid");
  el.removeAttribute("aria-describedby");
}

/**
 * Marks and focuses the field, described by the element of id `errorId` (drawn by then or soon); a change
 * of its value (typed, chosen, a file picked) takes the mark off.
 */
export function markInvalid(form: HTMLFormElement, name: string, errorId: string, index = 0): void {
  clearInvalid(form);
  const el = field(form, name, index);
  if (!el) return;
  el.setAttribute("aria-invalid", "true");
  el.setAttribute("aria-describedby", errorId);
  const changed = () => {
    el.removeEventListener("input", changed);
    el.removeEventListener("change", changed);
    unmark(el);
  };
  el.addEventListener("input", changed);
  el.addEventListener("change", changed);
  for (let d = el.closest("details"); d; d = d.parentElement?.closest("details") ?? null) d.open = true;
  el.focus();
}

/** Takes every mark `markInvalid` set in `form` off. */
export function clearInvalid(form: HTMLFormElement): void {
  form.querySelectorAll("[aria-invalid=true]").forEach(unmark);
}

/**
 * The field an error sentence is about: the first of `fields` (name → what the sentence says of it) whose
 * pattern it matches, else `fallback`.
 */
export function fieldOf(message: string, fields: Record<string, RegExp>, fallback: string): string {
  return Object.entries(fields).find(([, says]) => says.test(message))?.[0] ?? fallback;
}

/**
 * The field a schedule error from `windows.ts` is about: the time zone, or the end of the window it names
 * ("window 2": the second) when it is its end that is not a time, else that window's start, or the first
 * window's.
 */
export function windowErrorField(message: string): { name: string; index: number } {
  if (/time zone/i.test(message) && !/start and an end/.test(message)) {
    return { name: "windowZone", index: 0 };
  }
  const n = /\bwindow (\d+)\b/i.exec(message);
  const name = /window's end "/.test(message) ? "windowEnd" : "windowStart";
  return { name, index: n ? Number(n[1]) - 1 : 0 };
}

/**
 * Ties a form's error to the field it is about: that field marked invalid (`aria-invalid`), described by the
 * error's element (`aria-describedby`), its closed `<details>` opened, and the focus put on it, so the
 * keyboard and the screen reader land where the fix is. `clearInvalid` takes the marks off again.
 */

/** The field named `name` in `form` (the `index`-th of several with that name), if any. */
function field(form: HTMLFormElement, name: string, index = 0): HTMLElement | undefined {
  return form.querySelectorAll<HTMLElement>(`[name="${name}"]`)[index];
}

/** Marks and focuses the field, described by the element of id `errorId` (drawn by then or soon). */
export function markInvalid(form: HTMLFormElement, name: string, errorId: string, index = 0): void {
  clearInvalid(form);
  const el = field(form, name, index);
  if (!el) return;
  el.setAttribute("aria-invalid", "true");
  el.setAttribute("aria-describedby", errorId);
  for (let d = el.closest("details"); d; d = d.parentElement?.closest("details") ?? null) d.open = true;
  el.focus();
}

/** Takes every mark `markInvalid` set in `form` off. */
export function clearInvalid(form: HTMLFormElement): void {
  form.querySelectorAll("[aria-invalid=true]").forEach((el) => {
    el.removeAttribute("aria-invalid");
    el.removeAttribute("aria-describedby");
  });
}

/**
 * The field a schedule error from `windows.ts` is about: the time zone, or the start of the window it
 * names ("window 2": the second), or the first window's start.
 */
export function windowErrorField(message: string): { name: string; index: number } {
  if (/time zone/i.test(message) && !/start and an end/.test(message)) {
    return { name: "windowZone", index: 0 };
  }
  const n = /\bwindow (\d+)\b/i.exec(message);
  return { name: "windowStart", index: n ? Number(n[1]) - 1 : 0 };
}

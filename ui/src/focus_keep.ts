/**
 * The keyboard's focus kept in place when the answer to a dialog removes the control that opened it (a
 * token's Revoke button, gone once the token is revoked, after the hub answers): the browser gives the focus
 * back to the opener as the dialog closes, and then drops it to the top of the page when the opener goes,
 * so a keyboard or screen reader user starts again from the top. Here it lands on the opener's row instead
 * (its first link or button left, else the row itself), else on the screen.
 */

/** Focusable controls, in the order Tab reaches them. */
const CONTROLS = "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea";

/** Watches `opener` for `ms` after its dialog closed; if it goes while nothing else took the focus, moves it. */
export function keepFocusNear(opener: Element | null, ms = 15_000): void {
  if (!(opener instanceof HTMLElement)) return;
  const row = opener.closest("tr");
  const stop = () => (observer.disconnect(), clearTimeout(timer));
  const observer = new MutationObserver(() => {
    if (opener.isConnected) return;
    stop();
    const active = document.activeElement;
    if (active && active !== document.body) return; // the user went on elsewhere
    const target = row?.isConnected ? row.querySelector<HTMLElement>(CONTROLS) ?? row : undefined;
    if (target === row) row!.tabIndex = -1;
    (target ?? document.getElementById("main"))?.focus({ preventScroll: true });
  });
  const timer = setTimeout(stop, ms);
  observer.observe(document.body, { childList: true, subtree: true });
}

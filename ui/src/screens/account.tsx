/**
 * The user's own account, from the Account button beside their name: a password change (the current
 * password, then the new one twice). The hub checks the current one and the rule, ends the user's other
 * sessions and keeps this one (`account.changePassword`).
 */
import { createSignal, Show } from "solid-js";
import { api } from "../api.ts";
import { Dialog } from "../widgets.tsx";
import { clearInvalid, markInvalid } from "../field_error.ts";

/** The field a refusal of the hub is about: the current password when it is wrong, else the new one. */
const refusedField = (message: string) =>
  /current password is wrong|wrong current/.test(message) ? "current" : "password";

export function AccountDialog(props: { user: string; onClose: () => void }) {
  const [error, setError] = createSignal("");
  const [done, setDone] = createSignal("");
  const [busy, setBusy] = createSignal(false);
  let form!: HTMLFormElement, current!: HTMLInputElement, next!: HTMLInputElement, again!: HTMLInputElement;
  // An error is said, and the field it is about marked, described by it and focused.
  const refuse = (message: string, field: string) => {
    setError(message);
    markInvalid(form, field, "account-error");
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    setError("");
    setDone("");
    clearInvalid(form);
    if (next.value !== again.value) {
      return refuse("The two new passwords differ: type the same one twice.", "again");
    }
    setBusy(true);
    try {
      const r = await api.account.changePassword.mutate({ current: current.value, password: next.value });
      const others = r.sessionsEnded === 1 ? "1 other session" : `${r.sessionsEnded} other sessions`;
      setDone(`Password changed; ${others} of yours ended (this one goes on).`);
      current.value = next.value = again.value = "";
    } catch (err) {
      refuse((err as Error).message, refusedField((err as Error).message));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Account: ${props.user}`} onClose={props.onClose}>
      <form ref={form} class="account" aria-label="Change your password" onSubmit={submit}>
        <h3>Change your password</h3>
        <label>
          Current password
          <input name="current" type="password" autocomplete="current-password" ref={current} required />
        </label>
        <label>
          New password (at least 10 characters)
          <input
            name="password"
            type="password"
            autocomplete="new-password"
            minLength={10}
            ref={next}
            required
          />
        </label>
        <label>
          New password again
          <input name="again" type="password" autocomplete="new-password" ref={again} required />
        </label>
        <p class="hint">Your other sessions end; this one goes on.</p>
        <button type="submit" class="primary" disabled={busy()}>Change password</button>
        <Show when={done()}>
          <p role="status">{done()}</p>
        </Show>
        <p class="error" role="alert" id="account-error">{error()}</p>
      </form>
    </Dialog>
  );
}

import { createSignal, Show } from "solid-js";
import { login, type Me } from "../api.ts";

export function Login(props: { onLogin: (me: Me) => void; notice?: string }) {
  const [error, setError] = createSignal("");
  const [busy, setBusy] = createSignal(false);
  let user!: HTMLInputElement;
  let password!: HTMLInputElement;
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError("");
    try {
      props.onLogin(await login(user.value, password.value));
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main>
      <form class="login card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Log in to Conduit</h1>
        <Show when={props.notice}>
          <p class="warning" role="status">{props.notice}</p>
        </Show>
        <label>
          User
          <input name="user" autocomplete="username" ref={user} required />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" ref={password} required />
        </label>
        <button class="primary" type="submit" disabled={busy()}>Log in</button>
        <p class="error" role="alert">{error()}</p>
      </form>
    </main>
  );
}

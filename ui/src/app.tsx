/**
 * The console: a login, then one screen per URL (`/`, `/explorer`, `/studies/{site}/{uid}`,
 * `/transfers[/{id}]`, `/sites[/{name}]`, `/batch`, `/admin`). A logged-out visit to any of them shows
 * the login there and, once logged in, that screen; `?next=/viewer/...` goes back to the viewer.
 */
import {
  createEffect,
  createMemo,
  createSignal,
  ErrorBoundary,
  type JSX,
  Match,
  on,
  onMount,
  Show,
  Switch,
} from "solid-js";
import { type Action, logout, type Me, me, onSessionEnded, sessionExpired } from "./api.ts";
import { Link, location, match, navigate, takeReturningPlace } from "./router.tsx";
import { restore } from "./history_place.ts";
import { Login } from "./screens/login.tsx";
import { Dashboard } from "./screens/dashboard.tsx";
import { Explorer } from "./screens/explorer.tsx";
import { Transfers } from "./screens/transfers.tsx";
import { Sites } from "./screens/sites.tsx";
import { Batch } from "./screens/batch.tsx";
import { Admin } from "./screens/admin.tsx";
import { StudyPage } from "./screens/study.tsx";
import { AccountDialog } from "./screens/account.tsx";
import { pageTitle, screenName } from "./screen_name.ts";
import { timeZoneNote } from "./format.ts";

/** The login's notice for a session the hub ended for disuse (or age). */
const EXPIRED = "Your session expired: it went unused for too long. Log in again to go on.";
/** How often a session the hub could not check is asked about again. */
const RECHECK_MS = 3000;

const openTransfer = (id: string) => navigate(`/transfers/${encodeURIComponent(id)}`);

/** Where a `next` parameter may send the browser after login: the hub's viewer only. */
function nextAfterLogin(): string | undefined {
  const next = location().search.get("next");
  return next && /^\/viewer\/[^/]/.test(next) && !next.includes("//") ? next : undefined;
}

export function App() {
  const [user, setUser] = createSignal<Me | undefined>();
  const [ready, setReady] = createSignal(false);
  /** Why the login shows (a session that ended while the console was open), or "". */
  const [notice, setNotice] = createSignal("");
  /** Whether the Account dialog (the user's own password) is open. */
  const [account, setAccount] = createSignal(false);
  // A call refused for want of a session shows the login (then this same screen), not the hub's error.
  onSessionEnded((expired) => {
    if (!user()) return;
    setNotice(expired ? EXPIRED : "Your session has ended: log in again to go on.");
    setUser(undefined);
  });
  let recheck: ReturnType<typeof setTimeout> | undefined;
  /**
   * Asks the hub whose session this is. When it cannot say (its database away, the hub unreachable), the login
   * says why and the question is asked again every few seconds until it can: the console then goes on by
   * itself, logged in if the session still holds. (Until 2026-12-07 it asked once, and a console opened while
   * the database was away stayed at that login until reloaded.) A login through the form ends the asking.
   */
  const checkSession = async (): Promise<void> => {
    try {
      const m = await me();
      if (user()) return;
      setUser(m);
      setNotice(!m && sessionExpired() ? EXPIRED : "");
      const next = nextAfterLogin();
      if (m && next) globalThis.location.assign(next);
    } catch (err) {
      if (user()) return;
      setNotice(
        `Cannot check your session now: ${(err as Error).message}. The console asks again every few seconds.`,
      );
      recheck = setTimeout(() => void checkSession(), RECHECK_MS);
    }
  };
  onMount(async () => {
    await checkSession();
    setReady(true);
  });
  const loggedIn = (m: Me) => {
    clearTimeout(recheck);
    const next = nextAfterLogin();
    if (next) return globalThis.location.assign(next);
    setNotice("");
    setUser(m);
  };
  const may = (a: Action) => Boolean(user()?.actions.includes(a));
  const p = () => location().pathname;
  const section = createMemo(() => "/" + (p().split("/")[1] ?? ""));
  const tab = (href: string, label: string) => (
    <Link href={href} class="tab" aria-current={section() === href ? "page" : undefined}>{label}</Link>
  );
  const at = (pattern: string) => match(pattern, p());
  const name = createMemo(() => screenName(p()));
  // The tab's title names the screen (the login while logged out), so the history's entries differ.
  createEffect(() => (document.title = pageTitle(user() ? name() : "Log in")));
  let main: HTMLElement | undefined;
  const toMain = () => main?.focus({ preventScroll: true });
  // Another screen (a link, Back, Forward): the focus goes to it, and a screen reader reads its name, rather
  // than staying on a link that is gone. A change of the query alone (a search, a page) leaves it where it is.
  // Back (or Forward) to a screen left by a link then puts the focus on that link, and the scroll where it
  // was, once the screen has drawn it again (history_place.ts).
  let stopRestoring = () => {};
  const screenPath = createMemo(p); // the path alone: a change of the query is no other screen
  createEffect(on(screenPath, () => {
    stopRestoring();
    const place = takeReturningPlace();
    queueMicrotask(() => {
      toMain();
      if (place && main) stopRestoring = restore(place, main);
    });
  }, { defer: true }));
  const notFound = (): JSX.Element => (
    <section class="card">
      <h2>Nothing here</h2>
      <p class="empty">
        The console has no page at {p()}. Go to the <Link href="/">dashboard</Link>.
      </p>
    </section>
  );
  return (
    <Show when={ready()}>
      <Show when={user()} fallback={<Login onLogin={loggedIn} notice={notice()} />}>
        <header>
          <a
            href="#main"
            class="skip"
            onClick={(e) => {
              e.preventDefault();
              toMain();
            }}
          >
            Skip to the screen
          </a>
          <Link href="/" class="brand">Conduit</Link>
          <nav aria-label="Screens">
            {tab("/", "Dashboard")}
            {tab("/explorer", "Explorer")}
            {tab("/transfers", "Transfers")}
            {tab("/sites", "Sites")}
            {may("transfer") && tab("/batch", "Batch")}
            {may("manage") && tab("/admin", "Admin")}
          </nav>
          <span class="who">{user()!.user} ({user()!.role})</span>
          <Show when={may("account")}>
            <button type="button" onClick={() => setAccount(true)}>Account</button>
          </Show>
          <Show when={account()}>
            <AccountDialog user={user()!.user} onClose={() => setAccount(false)} />
          </Show>
          <button
            type="button"
            onClick={async () => (await logout(), setUser(undefined))}
          >
            Log out
          </button>
        </header>
        <main id="main" ref={main} tabindex="-1" aria-labelledby="screen-name">
          <h1 id="screen-name" class="sr-only">{name()}</h1>
          {/* A screen that fails as it draws (an answer it did not expect) says so, instead of going blank. */}
          <ErrorBoundary fallback={(err, reset) => <Failed error={err} reset={reset} />}>
            <Switch fallback={notFound()}>
              <Match when={at("/")}>
                <Dashboard />
              </Match>
              <Match when={at("/explorer")}>
                <Explorer may={may} onTransfer={openTransfer} />
              </Match>
              <Match when={at("/studies/:site/:uid")}>
                {(params) => (
                  <StudyPage
                    site={params().site}
                    uid={params().uid}
                    node={location().search.get("node") ?? undefined}
                    may={may}
                    onTransfer={openTransfer}
                  />
                )}
              </Match>
              <Match when={at("/transfers")}>
                <Transfers may={may} />
              </Match>
              <Match when={at("/transfers/:id")}>
                {(params) => <Transfers open={params().id} may={may} />}
              </Match>
              <Match when={at("/sites")}>
                <Sites may={may} />
              </Match>
              <Match when={at("/sites/:name")}>
                {(params) => <Sites current={params().name} may={may} />}
              </Match>
              <Match when={at("/batch") && may("transfer")}>
                <Batch onTransfer={openTransfer} />
              </Match>
              <Match when={at("/admin") && may("manage")}>
                <Admin user={user()!.user} />
              </Match>
              <Match when={at("/batch") || at("/admin")}>
                <section class="card">
                  <h2>Not for your role</h2>
                  <p class="empty">
                    {user()!.user} is {/^[aeiou]/.test(user()!.role) ? "an" : "a"}{" "}
                    {user()!.role}; this screen needs
                    {at("/batch") ? " the operator" : " the admin"} role.
                  </p>
                </section>
              </Match>
            </Switch>
          </ErrorBoundary>
        </main>
        <footer class="hint">{timeZoneNote()}</footer>
      </Show>
    </Show>
  );
}

/** What a screen that failed shows: the reason, and a way to try again (or to go elsewhere: the tabs). */
function Failed(props: { error: unknown; reset: () => void }) {
  // Another screen (a tab, Back) is a fresh start.
  createEffect(on(() => location().pathname + location().search, () => props.reset(), { defer: true }));
  return (
    <section class="card">
      <h2>This screen failed</h2>
      <p class="error" role="alert">
        {props.error instanceof Error ? props.error.message : String(props.error)}
      </p>
      <button type="button" onClick={() => props.reset()}>Try again</button>
    </section>
  );
}

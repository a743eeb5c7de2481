/** The console: a login, then one screen at a time chosen in the header. */
import { createSignal, Match, onMount, Show, Switch } from "solid-js";
import { type Action, logout, type Me, me } from "./api.ts";
import { Login } from "./screens/login.tsx";
import { Dashboard } from "./screens/dashboard.tsx";
import { Explorer } from "./screens/explorer.tsx";
import { Transfers } from "./screens/transfers.tsx";
import { Sites } from "./screens/sites.tsx";
import { Batch } from "./screens/batch.tsx";
import { Admin } from "./screens/admin.tsx";

type Screen = "dashboard" | "explorer" | "transfers" | "sites" | "batch" | "admin";

export function App() {
  const [user, setUser] = createSignal<Me | undefined>();
  const [ready, setReady] = createSignal(false);
  const [screen, setScreen] = createSignal<Screen>("dashboard");
  const [openTransfer, setOpenTransfer] = createSignal<string | undefined>();
  onMount(async () => {
    setUser(await me());
    setReady(true);
  });
  const may = (a: Action) => Boolean(user()?.actions.includes(a));
  const tab = (s: Screen, label: string) => (
    <button
      type="button"
      aria-current={screen() === s ? "page" : undefined}
      onClick={() => setScreen(s)}
    >
      {label}
    </button>
  );
  return (
    <Show when={ready()}>
      <Show when={user()} fallback={<Login onLogin={setUser} />}>
        <header>
          <strong>Conduit</strong>
          <nav aria-label="Screens">
            {tab("dashboard", "Dashboard")}
            {tab("explorer", "Explorer")}
            {tab("transfers", "Transfers")}
            {tab("sites", "Sites")}
            {may("transfer") && tab("batch", "Batch")}
            {may("manage") && tab("admin", "Admin")}
          </nav>
          <span class="who">{user()!.user} ({user()!.role})</span>
          <button type="button" onClick={async () => (await logout(), setUser(undefined))}>Log out</button>
        </header>
        <main>
          <Switch>
            <Match when={screen() === "dashboard"}>
              <Dashboard onOpenTransfer={(id) => (setOpenTransfer(id), setScreen("transfers"))} />
            </Match>
            <Match when={screen() === "explorer"}>
              <Explorer
                may={may}
                onTransfer={(id) => (setOpenTransfer(id), setScreen("transfers"))}
              />
            </Match>
            <Match when={screen() === "transfers"}>
              <Transfers open={openTransfer()} may={may} />
            </Match>
            <Match when={screen() === "sites"}>
              <Sites may={may} />
            </Match>
            <Match when={screen() === "batch"}>
              <Batch onTransfer={(id) => (setOpenTransfer(id), setScreen("transfers"))} />
            </Match>
            <Match when={screen() === "admin"}>
              <Admin user={user()!.user} />
            </Match>
          </Switch>
        </main>
      </Show>
    </Show>
  );
}
